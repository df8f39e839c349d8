#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium (Debian's `chromium` package) and saves a
# screenshot, to check by eye that it opens offline and draws its charts.
#
#   scripts/check-report.sh RUN_DIR [OUT.png] [HEIGHT]
set -euo pipefail
run_dir="$(cd "$1" && pwd)"
out="${2:-$run_dir/report.png}"
height="${3:-5000}"
command -v chromium >/dev/null || { echo "install Chromium first: apt-get install chromium" >&2; exit 1; }
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
# The network flags keep Chromium from reaching out; the report must not need it anyway.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size="1200,$height" \
    --screenshot="$out" "file://$run_dir/report.html" 2>/dev/null
echo "screenshot: $out"
