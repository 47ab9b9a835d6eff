#!/usr/bin/env bash
# The int8 graphs of the age/gender and mask models (`models.int8_age_gender`,
# `models.int8_mask`, docs/models.md): the faces they are calibrated on are found by facestream
# itself in the sample media (group photos and one frame every two seconds of the clips in
# video/), written as the models read them, and quantized by ONNX Runtime's tool (scripts/quantize-models.py, in the Python environment
# scripts/setup.sh installs). Skipped while the graph was made from the same model and
# scripts (by content). Needs a built facestream (cargo) and ORT_DYLIB_PATH.
# usage: scripts/quantize-models.sh [MODELS_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS="${1:-$ROOT/models}"
MEDIA="${FACESTREAM_MEDIA:-$ROOT/../shared/media}"
PY="${FACESTREAM_QUANTIZE_PY:-/opt/facestream-quantize/bin/python}"
log() { printf '[quantize-models] %s\n' "$*"; }

# What the graph was made from, by content (the set-up script writes the rewritten graphs
# again on every run, with the same bytes).
QUANTIZED=(age_gender_hse_mobilenet face_mask_mobilenetv2)
stamp="$( { for m in "${QUANTIZED[@]}"; do for f in "$MODELS/$m.onnx" "$MODELS/$m.fast.onnx"; do
    [ ! -e "$f" ] || sha256sum < "$f"; done; done
  for f in "$ROOT/scripts/quantize-models.py" "$0"; do sha256sum < "$f"; done; } \
  | sha256sum | cut -d' ' -f1)"
# The daemon runs a graph only when it is newer than the model (a model copied again since).
current=yes
for m in "${QUANTIZED[@]}"; do
  [ "$MODELS/$m.int8.onnx" -nt "$MODELS/$m.onnx" ] || current=no
done
if [ "$current" = yes ] && [ "$(cat "$MODELS/int8.stamp" 2>/dev/null)" = "$stamp" ]; then
  log "int8 graphs up to date"
  exit 0
fi
if [ ! -x "$PY" ]; then
  log "no quantization Python at $PY (scripts/setup.sh installs it): the float models run"
  exit 0
fi
if [ ! -d "$MEDIA/video" ] || [ ! -d "$MEDIA/group" ]; then
  log "no sample media at $MEDIA (set FACESTREAM_MEDIA) to calibrate on: the float models run"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/frames"
for clip in "$MEDIA"/video/*; do
  name="$(basename "$clip")"
  ffmpeg -y -loglevel error -i "$clip" -vf fps=0.5 -frames:v 5 "$tmp/frames/${name%.*}_%02d.jpg"
done
(cd "$ROOT" && cargo run --release --quiet -- model-calibration --out "$tmp/in" \
  "$MEDIA/group" "$tmp/frames")
"$PY" "$ROOT/scripts/quantize-models.py" "$MODELS" "$tmp/in"
echo "$stamp" > "$MODELS/int8.stamp"
