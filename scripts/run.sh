#!/usr/bin/env bash
# Set up everything (idempotent) and run the main job on its embedded default: the daemon watching the
# sample video as a camera, publishing to a private Mosquitto on 127.0.0.1:1883 (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-/opt/onnxruntime/onnxruntime/capi/libonnxruntime.so.1.31.1}"
scripts/quantize-models.sh || echo "[run] the int8 age/gender graph was not made: the float model runs" >&2
cargo run --release -- run "$@"
