#!/usr/bin/env bash
# Test video: vtest.avi from Debian's opencv-doc (extracted from the .deb: minimal images
# often exclude /usr/share/doc), into var/data/. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p var/data
if [[ -s var/data/vtest.avi ]]; then echo "  vtest.avi present"; exit 0; fi
if [[ -s /usr/share/doc/opencv-doc/examples/data/vtest.avi ]]; then
  cp /usr/share/doc/opencv-doc/examples/data/vtest.avi var/data/vtest.avi
else
  tmp=$(mktemp -d)
  echo "  fetching Debian package opencv-doc to extract vtest.avi"
  (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1) || { apt-get update -qq && (cd "$tmp" && apt-get download opencv-doc >/dev/null); }
  dpkg-deb -x "$tmp"/opencv-doc_*.deb "$tmp/x"
  found=$(find "$tmp/x" -name vtest.avi | head -1)
  [[ -n "$found" ]] || { echo "vtest.avi not in opencv-doc" >&2; exit 1; }
  cp "$found" var/data/vtest.avi
  rm -rf "$tmp"
fi
echo "  vtest.avi: $(stat -c %s var/data/vtest.avi) bytes"
