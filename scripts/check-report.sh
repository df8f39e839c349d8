#!/usr/bin/env bash
# Checks report.html files in headless Chromium (Debian's `chromium` package) with Node 18 or
# later: fails on a script error, anything loaded from outside, a page that scrolls sideways at
# 1280 px, a chart wider than its box, chart text cut at the edge or on top of other text, a
# missing anchor, an empty sample browser, or a heatmap link or sort that does not work. Saves
# one screenshot per section next to each report (REPORT_DIR/screens/SECTION.png).
#
#   scripts/check-report.sh RUN_OR_REPORT_DIR...
#   scripts/check-report.sh --examples DIR   # makes a 1-model and a 12-model run in DIR, checks both
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v chromium >/dev/null || { echo "install Chromium first: apt-get install chromium" >&2; exit 1; }
command -v node >/dev/null || { echo "install Node.js 20 or later first: apt-get install nodejs" >&2; exit 1; }
[ $# -gt 0 ] || { echo "usage: scripts/check-report.sh RUN_OR_REPORT_DIR... | --examples DIR" >&2; exit 2; }
if [ "$1" = "--examples" ]; then
    out="${2:?--examples needs a folder}"
    rm -rf "$out/one" "$out/twelve"
    # One model on every task; twelve rows (four baselines, plain and under two mitigations)
    # on a task of each aspect, a utility task and cross-modal variants.
    # The binary `cargo test` built (a separate `cargo build` would compile the dependencies
    # again with other features); built here when it is not there.
    bin="${MULTITRUST:-${CARGO_TARGET_DIR:-target}/debug/multitrust}"
    [ -x "$bin" ] || { cargo build --locked --quiet; bin="${CARGO_TARGET_DIR:-target}/debug/multitrust"; }
    "$bin" run -q --model baseline:oracle --out "$out/one" >/dev/null
    "$bin" run -q --tasks T4,S1,R3,F4,P4,U1 \
        --mitigation safety-prompt --mitigation jpeg --out "$out/twelve" >/dev/null
    set -- "$out/one" "$out/twelve"
fi
status=0
for dir in "$@"; do
    report="$dir/report.html"
    [ -f "$report" ] || { echo "$report: no such file" >&2; status=1; continue; }
    node "$here/check-report.mjs" "$report" "$dir/screens" || status=1
done
exit $status
