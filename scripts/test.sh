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
cargo test --release --all-targets -- --nocapture
