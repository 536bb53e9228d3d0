#!/usr/bin/env bash
# Opens report.html of the fixtures' run in headless Chromium and takes a
# screenshot, to check that the page renders offline in a real browser.
# Skipped, with a note, where Chromium is not installed
# (`apt-get install chromium` brings it).
set -euo pipefail
cd "$(dirname "$0")/.."

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "NOTE: chromium not found; skipping the report.html screenshot check"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The debug binary as `cargo test` builds it (a no-op after the tests have
# run): `cargo run` resolves features without the dev-dependencies, and so
# rebuilt polars (about 3 minutes of CI) for this one run.
cargo test --quiet --locked --no-run
target/debug/rollmatch run jobs/luoyang.toml --quiet --out "$work/report"
png="${1:-$work/report.png}"
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --window-size=1200,2400 \
  --screenshot="$png" "file://$work/report/report.html" >/dev/null 2>&1
size=$(stat -c %s "$png")
# A blank page compresses to a few kilobytes; a rendered report is far larger.
if [ "$size" -lt 30000 ]; then
  echo "report.html screenshot is only $size bytes: the page did not render" >&2
  exit 1
fi
echo "report.html rendered in $($browser --version 2>/dev/null | head -1): $png ($size bytes)"
