#!/usr/bin/env bash
# The test camera's video: var/data/vtest.avi (see 10-vtest.sh) transcoded once to H.264 in
# MP4 (baseline profile, no B-frames, an IDR every second), which the GStreamer RTSP test
# server streams without re-encoding. Idempotent: skipped when the output is newer.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=var/data/vtest.avi
out=var/data/vtest-h264.mp4
[[ -s $src ]] || { echo "  $src missing: run scripts/setup.d/10-vtest.sh first" >&2; exit 1; }
if [[ -s $out && $out -nt $src ]]; then echo "  vtest-h264.mp4 present"; exit 0; fi
command -v ffmpeg >/dev/null || { echo "  ffmpeg missing (apt package ffmpeg)" >&2; exit 1; }
tmp=$out.tmp.mp4
ffmpeg -nostdin -hide_banner -loglevel error -y -i "$src" -an \
  -c:v libx264 -profile:v baseline -preset veryfast -crf 23 -pix_fmt yuv420p \
  -g 10 -keyint_min 10 -sc_threshold 0 -bf 0 -movflags +faststart "$tmp"
mv "$tmp" "$out"
echo "  vtest-h264.mp4: $(stat -c %s "$out") bytes"
