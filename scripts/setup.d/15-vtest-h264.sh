#!/usr/bin/env bash
# The test camera's videos: var/data/vtest.avi (see 10-vtest.sh) transcoded once to H.264 in
# MP4 (baseline profile, no B-frames, an IDR every second), which the GStreamer RTSP test
# server streams without re-encoding: a main stream (768x576, 10 fps) and a sub-stream
# (384x288 at the analysis rate, 5 fps) as a real camera offers. Idempotent: each output is made only when missing or older.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=var/data/vtest.avi
[[ -s $src ]] || { echo "  $src missing: run scripts/setup.d/10-vtest.sh first" >&2; exit 1; }
command -v ffmpeg >/dev/null || { echo "  ffmpeg missing (apt package ffmpeg)" >&2; exit 1; }
encode() {  # encode OUT CRF [filter] [GOP]
  local out=$1 crf=$2 vf=${3:-} gop=${4:-10}
  if [[ -s $out && $out -nt $src ]]; then echo "  $(basename "$out") present"; return; fi
  local tmp=$out.tmp.mp4
  ffmpeg -nostdin -hide_banner -loglevel error -y -i "$src" -an ${vf:+-vf "$vf"} \
    -c:v libx264 -profile:v baseline -preset veryfast -crf "$crf" -pix_fmt yuv420p \
    -g "$gop" -keyint_min "$gop" -sc_threshold 0 -bf 0 -movflags +faststart "$tmp"
  mv "$tmp" "$out"
  echo "  $(basename "$out"): $(stat -c %s "$out") bytes"
}
encode var/data/vtest-h264.mp4 23
encode var/data/vtest-h264-sub5.mp4 25 scale=384:288,fps=5 5
