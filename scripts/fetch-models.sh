#!/usr/bin/env bash
# Copy the models listed in models/manifest.toml from a local source folder into models/,
# verifying each sha256. Idempotent: a file already present with the right hash is kept.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${1:-${FACESTREAM_SHARED_MODELS:-$ROOT/../shared/models}}"
MANIFEST="$ROOT/models/manifest.toml"
status=0
while read -r file sha; do
  dest="$ROOT/models/$file"
  if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$sha" ]; then
    continue
  fi
  if [ -f "$SRC/$file" ]; then
    cp "$SRC/$file" "$dest.part"
    got="$(sha256sum "$dest.part" | cut -d' ' -f1)"
    if [ "$got" != "$sha" ]; then
      rm -f "$dest.part"
      echo "[models] $file: sha256 mismatch in $SRC (got $got, want $sha)" >&2
      status=1; continue
    fi
    mv "$dest.part" "$dest"
    echo "[models] $file copied from $SRC"
  else
    echo "[models] $file missing: not in $SRC. Get it from the origin in models/manifest.toml (details in docs/models.md) and put it in models/, or set FACESTREAM_SHARED_MODELS" >&2
    status=1
  fi
done < <(awk -F'"' '/^file = /{f=$2} /^sha256 = /{print f, $2}' "$MANIFEST")
[ $status -eq 0 ] && echo "[models] all models present and verified"
exit $status
