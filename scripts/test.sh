#!/usr/bin/env bash
# Set up everything (idempotent) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-test-tools
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-/opt/onnxruntime/onnxruntime/capi/libonnxruntime.so.1.31.1}"
cargo test --release --all-targets -- --nocapture
