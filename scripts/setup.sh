#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: system packages, the ONNX Runtime
# shared library (from the PyPI wheel, no system pip install) and the models.
# Every step is skipped when its result is already present.
# `--with-test-tools` also installs what only the tests use, from PyPI into one virtualenv under
# /opt/facestream-tools: schemathesis (run against the API's /openapi.json) and the clouds' official
# SDKs (huaweicloudsdkfrs, baidu-aip, tencentcloud-sdk-python-iai) that tests/api/sdks.rs drives,
# Debian's postgresql (the tests run their own server for the PostgreSQL store), and chromium with
# chromium-driver (the console's browser tests drive it over WebDriver).
# `--with-peer` installs the peer of ../shared/peer (opencv-python-headless, onnxruntime, numpy) into
# /opt/facestream-peer, for scripts/bench-peer.sh (not needed by the tests).
set -euo pipefail
WITH_TEST_TOOLS=0
WITH_PEER=0
for arg in "$@"; do
  case "$arg" in
    --with-test-tools) WITH_TEST_TOOLS=1 ;;
    --with-peer) WITH_PEER=1 ;;
    *) echo "unknown option $arg (use --with-test-tools, --with-peer)" >&2; exit 2 ;;
  esac
done
PEER_HOME="${FACESTREAM_PEER_HOME:-/opt/facestream-peer}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ORT_VERSION="${ORT_VERSION:-1.31.1}"
ORT_HOME="${FACESTREAM_ORT_HOME:-/opt/onnxruntime}"
ORT_LIB="$ORT_HOME/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"
SHARED_MODELS="${FACESTREAM_SHARED_MODELS:-$ROOT/../shared/models}"
TOOLS_HOME="${FACESTREAM_TOOLS_HOME:-/opt/facestream-tools}"
QUANTIZE_HOME="${FACESTREAM_QUANTIZE_HOME:-/opt/facestream-quantize}"
QUANTIZE_PACKAGES=(onnx==1.23.2 "onnxruntime==$ORT_VERSION" numpy==2.4.6 ml_dtypes==0.7.0 protobuf==7.36.2)
SCHEMATHESIS_VERSION="4.32.5"
# The clouds' official Python SDKs, for tests/api/sdks.rs (pinned: what was tested).
SDK_PACKAGES=(huaweicloudsdkcore==3.1.219 huaweicloudsdkfrs==3.1.219 baidu-aip==4.16.13 chardet==7.7.0
  tencentcloud-sdk-python-common==3.1.195 tencentcloud-sdk-python-iai==3.1.191)

log() { printf '[setup] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(build-essential ca-certificates pkg-config libclang-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev
  mosquitto mosquitto-clients python3-pip python3-venv python3-onnx curl ffmpeg)

# The tests start their own PostgreSQL server (initdb + pg_ctl in a temporary folder).
[ "$WITH_TEST_TOOLS" = 1 ] && APT_PACKAGES+=(postgresql chromium chromium-driver)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${#missing[@]} Debian packages: ${missing[*]}"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
else
  log "Debian packages present"
fi
# The broker and the database are started by the tests themselves, never as system services.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
if [ "$WITH_TEST_TOOLS" = 1 ] && command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet postgresql 2>/dev/null; then
  $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
fi

if [ ! -f "$ORT_LIB" ]; then
  log "fetching ONNX Runtime $ORT_VERSION from the PyPI wheel into $ORT_HOME"
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary :all: -d "$tmp" "onnxruntime==$ORT_VERSION"
  $SUDO mkdir -p "$ORT_HOME"
  $SUDO python3 -m zipfile -e "$tmp"/onnxruntime-"$ORT_VERSION"-*.whl "$ORT_HOME"
  rm -rf "$tmp"
  [ -f "$ORT_LIB" ] || { echo "ONNX Runtime library not found at $ORT_LIB after unpacking" >&2; exit 1; }
else
  log "ONNX Runtime present at $ORT_LIB"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (https://rustup.rs) and re-run" >&2
  exit 1
fi

if [ "$WITH_TEST_TOOLS" = 1 ]; then
  # The style checks of scripts/test.sh; rustup fetches them if this Rust install lacks them.
  if ! { cargo clippy --version && cargo fmt --version; } >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
    log "adding the clippy and rustfmt components"
    rustup component add clippy rustfmt || log "could not add clippy/rustfmt: scripts/test.sh will say it skips them"
  fi
  if ! "$TOOLS_HOME/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $TOOLS_HOME (a virtualenv)"
    $SUDO python3 -m venv "$TOOLS_HOME"
    $SUDO "$TOOLS_HOME/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
  else
    log "schemathesis $SCHEMATHESIS_VERSION present"
  fi
  if ! "$TOOLS_HOME/bin/python" -c "import aip, huaweicloudsdkfrs.v2, tencentcloud.iai.v20200303" 2>/dev/null; then
    log "installing the official cloud SDKs into $TOOLS_HOME: ${SDK_PACKAGES[*]}"
    $SUDO "$TOOLS_HOME/bin/pip" install --quiet "${SDK_PACKAGES[@]}"
  else
    log "official cloud SDKs present"
  fi
fi

if [ "$WITH_PEER" = 1 ]; then
  # scripts/bench-peer.sh computes its ratios with bc.
  command -v bc >/dev/null 2>&1 || $SUDO apt-get install -y -q bc
  if ! "$PEER_HOME/bin/python" -c "import cv2, onnxruntime, numpy" 2>/dev/null; then
    log "installing the peer's Python (opencv, onnxruntime $ORT_VERSION, numpy) into $PEER_HOME"
    $SUDO python3 -m venv "$PEER_HOME"
    $SUDO "$PEER_HOME/bin/pip" install --quiet opencv-python-headless "onnxruntime==$ORT_VERSION" numpy
  else
    log "the peer's Python present"
  fi
fi

# ONNX Runtime's quantization tool, for the int8 age/gender graph that
# scripts/quantize-models.sh makes (it needs a built facestream, so the run and test scripts call it).
if ! "$QUANTIZE_HOME/bin/python" -c "import onnx, onnxruntime.quantization" 2>/dev/null; then
  log "installing ONNX Runtime's quantization tool (onnx, onnxruntime $ORT_VERSION) into $QUANTIZE_HOME"
  $SUDO python3 -m venv "$QUANTIZE_HOME"
  $SUDO "$QUANTIZE_HOME/bin/pip" install --quiet "${QUANTIZE_PACKAGES[@]}"
else
  log "the quantization tool present"
fi

"$ROOT/scripts/fetch-models.sh" "$SHARED_MODELS"
# Three models' activations rewritten into graphs ONNX Runtime runs 20-45 % faster, same
# arithmetic (docs/models.md); Debian's python3 with python3-onnx, whatever python3 is on PATH.
log "rewriting three models' activations (scripts/optimize-models.py)"
/usr/bin/python3 "$ROOT/scripts/optimize-models.py" "$ROOT/models"
log "done (ORT_DYLIB_PATH=$ORT_LIB)"
