#!/usr/bin/env bash
# One benchmark round, as the README's "Latest measurements" tables are
# made: 1 M households from files, 10 M, 1 M again (the two 1 M runs
# bracket the 10 M run, so that its growth is judged against runs of the
# same hour), then 1 M with Q-1 from the saved state (CSV, then Parquet
# inputs). With `china`, the national world's round instead: 1 M, 10 M,
# 1 M, CSV. Every size is run twice and the faster run reported
# (`bench.py`'s default; until 2026-12-07's evening the 10 M run was
# timed once against the faster of two 1 M runs). Each table line is
# `benches/bench.py`'s own row; the round ends with the growth, the 10 M
# time over each 1 M time. Data are generated on first use (see the
# README's Performance section).
#
#     bash benches/round.sh           # Luoyang's world
#     bash benches/round.sh china     # families in every county of China
set -euo pipefail
cd "$(dirname "$0")/.."
bench=(python3 benches/bench.py --formats csv)
case "${1:-luoyang}" in
  luoyang) world=() ;;
  china) world=(--geography china) ;;
  *)
    echo "usage: bash benches/round.sh [luoyang|china]" >&2
    exit 2
    ;;
esac
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for size in 1000000 10000000 1000000; do
  "${bench[@]}" "${world[@]}" --sizes "$size" | tee -a "$rows"
done
# The growth: the 10 M run's wall time over each 1 M run's (the table's
# fifth column, awk's sixth field: each row starts with a `|`).
awk -F'|' '$2 ~ /^ 1,000,000 / { one[++n] = $6 } $2 ~ /^ 10,000,000 / { ten = $6 }
  END { if (n == 2 && ten > 0) printf "# growth: 10 M / 1 M before %.2f x, / 1 M after %.2f x\n", ten / one[1], ten / one[2] }' "$rows"
if [ "${1:-luoyang}" = luoyang ]; then
  python3 benches/bench.py --sizes 1000000 --from-state
fi
