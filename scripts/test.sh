#!/usr/bin/env bash
# Set up everything (idempotent) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-test-tools
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-/opt/onnxruntime/onnxruntime/capi/libonnxruntime.so.1.31.1}"
scripts/quantize-models.sh
# Style first (fast): formatting, and clippy with warnings as errors.
if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then
  cargo fmt --check
  cargo clippy --all-targets -- -D warnings
else
  echo "test.sh: cargo fmt / cargo clippy not installed: style checks SKIPPED" >&2
fi
# The suite runs in a temp dir of its own (world-writable like /tmp: PostgreSQL and Mosquitto may
# run as their own users) and must leave nothing in it: every test removes what it made unless
# it fails (tests/common `Scratch`). Chromium's own profile folders are not the suite's to clean.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/facestream-tests.XXXXXX")"
chmod 1777 "$scratch"
# The test binaries load ONNX Runtime in-process, without the binary's start-up (main.rs) that turns
# its telemetry client off; tests/cli.rs checks the binary with this variable removed.
export ORT_DISABLE_TELEMETRY=1
TMPDIR="$scratch" cargo test --release --all-targets -- --nocapture
# (A test binary's shared PostgreSQL server is removed by a watcher within a second or two of its exit.)
for _ in $(seq 15); do
  left="$(find "$scratch" -mindepth 1 -maxdepth 1 ! -name '*chromium*' ! -name '.com.google.Chrome*' -printf '%f\n' | sort)"
  [ -z "$left" ] && break
  sleep 1
done
if [ -n "$left" ]; then
  echo "test.sh: the tests passed but left these in $scratch (kept for a look):" >&2
  echo "$left" >&2
  exit 1
fi
rm -rf "$scratch"
