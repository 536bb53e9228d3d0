#!/usr/bin/env bash
# Rebuilds docs/analyst-guide.zh.md: the hand-written head plus the flag
# section printed from the program's own catalog. A test fails when the
# committed guide differs from what this script would write.
set -euo pipefail
cd "$(dirname "$0")/.."
{ cat docs/analyst-guide.head.zh.md; cargo run --quiet --locked -- flags --markdown; } > docs/analyst-guide.zh.md
