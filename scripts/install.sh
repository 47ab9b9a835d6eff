#!/usr/bin/env bash
# Lays out what systemd/facestream.service expects, after scripts/setup.sh and a release build:
#   /usr/local/bin/facestream                  the binary
#   /usr/local/sbin/facestream-admin           runs a facestream command as the daemon's user (enrol, face sets)
#   /usr/share/facestream/models/              the models and their manifest (FACESTREAM_MODELS)
#   /etc/facestream/facestream.toml            the config (an example; never overwritten)
#   /etc/systemd/system/facestream.service     the unit (DynamicUser, StateDirectory=facestream)
# ONNX Runtime stays where scripts/setup.sh put it (/opt/onnxruntime, ORT_DYLIB_PATH in the unit).
#
#   scripts/install.sh [--root DIR] [--binary PATH]
# --root installs under DIR instead of / (for packaging and the tests); systemd is told only for /.
set -euo pipefail
ROOT_DIR=/
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$SRC/target/release/facestream"
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT_DIR="$2"; shift 2 ;;
    --binary) BIN="$2"; shift 2 ;;
    *) echo "usage: scripts/install.sh [--root DIR] [--binary PATH]" >&2; exit 2 ;;
  esac
done
log() { printf '[install] %s\n' "$*"; }
[ -x "$BIN" ] || { echo "no binary at $BIN: run 'cargo build --release' first (or pass --binary)" >&2; exit 1; }
for m in $(awk -F'"' '/^file = /{print $2}' "$SRC/models/manifest.toml"); do
  [ -f "$SRC/models/$m" ] || { echo "model $m missing in $SRC/models: run scripts/setup.sh first" >&2; exit 1; }
done
R="${ROOT_DIR%/}"
install -d -m 0755 "$R/usr/local/bin" "$R/usr/local/sbin" "$R/usr/share/facestream/models" \
  "$R/etc/facestream" "$R/etc/systemd/system"
install -m 0755 "$BIN" "$R/usr/local/bin/facestream"
# -p: the rewritten and int8 graphs must stay newer than their models, or they are not run.
install -p -m 0644 "$SRC"/models/*.onnx "$SRC/models/manifest.toml" "$R/usr/share/facestream/models/"
if [ -f "$R/etc/facestream/facestream.toml" ]; then
  log "keeping the existing /etc/facestream/facestream.toml"
else
  install -m 0644 "$SRC/config/facestream-daemon.toml" "$R/etc/facestream/facestream.toml"
  log "example config written to /etc/facestream/facestream.toml: edit its cameras"
fi
install -m 0644 "$SRC/systemd/facestream.service" "$R/etc/systemd/system/facestream.service"
ORT_LINE="$(grep '^Environment=ORT_DYLIB_PATH=' "$SRC/systemd/facestream.service" | cut -d= -f2-)"
cat > "$R/usr/local/sbin/facestream-admin" <<ADMIN
#!/bin/sh
# Runs 'facestream <command>' as the daemon's dynamic user, with its state directory and config, so
# face sets written here stay writable by the daemon (files written as root would not be).
# Example: facestream-admin enroll /srv/photos --set staff
# The photos must be readable by an unprivileged user (e.g. under /srv, mode 0644).
exec systemd-run --quiet --pipe --wait --collect --service-type=exec \\
  -p DynamicUser=yes -p User=facestream -p StateDirectory=facestream -p ConfigurationDirectory=facestream \\
  -p ProtectHome=read-only -p Environment=$ORT_LINE \\
  -p Environment=FACESTREAM_MODELS=/usr/share/facestream/models \\
  /usr/local/bin/facestream --config /etc/facestream/facestream.toml "\$@"
ADMIN
chmod 0755 "$R/usr/local/sbin/facestream-admin"
log "installed under ${ROOT_DIR}"
if [ "$ROOT_DIR" = / ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  log "systemctl enable --now facestream   # to start it"
fi
