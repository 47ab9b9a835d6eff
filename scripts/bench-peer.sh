#!/usr/bin/env bash
# facestream beside the peer (../shared/peer: Python OpenCV + onnxruntime, same models) on the same
# files in the same run, interleaved, and the ratios. Speed figures on this shared machine are only
# meaningful as ratios measured side by side.
#
#   usage: scripts/bench-peer.sh [VIDEO...]     (default: every clip in ../shared/media/video and a
#                                               176x144 cut of Foreman made here)
#   env:   PY       the peer's Python (default /opt/facestream-peer/bin/python, else /tmp/peervenv)
#          FS       facestream binary (default target/release/facestream)
#          PREV     a second facestream binary to print beside it (an A/B of a change)
#          RUNS     repetitions per program and clip; the median is used (default 1)
#
# Prints one row per clip: frames; facestream's whole `analyze` process time (start-up and model
# loading included) and its processing fps (from the end of start-up, as the peer counts its own
# `fps_processed`: after loading its models); the peer's fps (full job: detect + embed every face
# of every frame; detect-only); and facestream's processing speed as a multiple of each, then its
# whole-process speed as a multiple of the peer's detect-only (the stricter figure).
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${FACESTREAM_SHARED:-$HERE/../shared}"
PEER="$SHARED/peer/peer_pipeline.py"
PY="${PY:-}"
if [ -z "$PY" ]; then
  for p in /opt/facestream-peer/bin/python /tmp/peervenv/bin/python; do
    if [ -x "$p" ]; then PY="$p"; break; fi
  done
fi
[ -n "$PY" ] || { echo "no peer Python: run scripts/setup.sh --with-peer (or set PY)" >&2; exit 1; }
FS="${FS:-$HERE/target/release/facestream}"
RUNS="${RUNS:-1}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-/opt/onnxruntime/onnxruntime/capi/libonnxruntime.so.1.31.1}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

videos=("$@")
if [ ${#videos[@]} -eq 0 ]; then
  for f in "$SHARED"/media/video/*; do videos+=("$f"); done
  ffmpeg -loglevel error -y -i "$SHARED/media/video/openh264_foreman_cif.mp4" -vf scale=176:144 \
    -c:v libx264 -preset veryfast -an "$tmp/foreman_176x144.mp4"
  videos+=("$tmp/foreman_176x144.mp4")
fi

med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# Seconds of one facestream analyze run (whole process) and the frames it analysed.
fs_run() {
  local bin="$1" video="$2" t0 t1 frames
  t0=$(date +%s.%N)
  "$bin" analyze "$video" --out /dev/null 2>"$tmp/fs.err"
  t1=$(date +%s.%N)
  frames=$(sed -n 's/.*analysed \([0-9]*\) frames.*/\1/p' "$tmp/fs.err" | tail -1)
  fps=$(sed -n 's/.*analysed [0-9]* frames in [0-9.]* s (\([0-9.]*\) fps).*/\1/p' "$tmp/fs.err" | tail -1)
  echo "$(echo "$t1 - $t0" | bc -l) ${frames:-0} ${fps:-0}"
}

peer_fps() {
  "$PY" "$PEER" "$1" --no-spin ${2:-} 2>/dev/null | tail -1 | sed -n 's/.*"fps_processed": *\([0-9.]*\).*/\1/p'
}

printf '| clip | frames | facestream process s | facestream fps |'
[ -n "${PREV:-}" ] && printf ' prev fps |'
printf ' peer full fps | peer detect fps | × peer full | × peer detect-only | whole process × peer detect |'
[ -n "${PREV:-}" ] && printf ' prev × full | prev × detect |'
printf '\n'
for v in "${videos[@]}"; do
  fs_s=(); fs_f=(); pv_f=(); full=(); det=(); frames=0
  for _ in $(seq "$RUNS"); do
    read -r s n f < <(fs_run "$FS" "$v"); fs_s+=("$s"); fs_f+=("$f"); frames=$n
    if [ -n "${PREV:-}" ]; then read -r _ _ f < <(fs_run "$PREV" "$v"); pv_f+=("$f"); fi
    full+=("$(peer_fps "$v")")
    det+=("$(peer_fps "$v" --detect-only)")
  done
  s=$(med "${fs_s[@]}"); fps=$(med "${fs_f[@]}"); f=$(med "${full[@]}"); d=$(med "${det[@]}")
  r() { printf %.2f "$(echo "$1 / $2" | bc -l)"; }
  row="| $(basename "$v") | $frames | $(printf %.2f "$s") | $fps |"
  if [ -n "${PREV:-}" ]; then p=$(med "${pv_f[@]}"); row="$row $p |"; fi
  row="$row $f | $d | $(r "$fps" "$f") | $(r "$fps" "$d") | $(r "$(echo "$frames / $s" | bc -l)" "$d") |"
  if [ -n "${PREV:-}" ]; then row="$row $(r "$p" "$f") | $(r "$p" "$d") |"; fi
  echo "$row"
done
