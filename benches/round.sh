#!/usr/bin/env bash
# One benchmark round, as the README's "Latest measurements" tables are
# made: 1 M households from files, 10 M once, 1 M again (the two 1 M runs
# bracket the 10 M run, so that its growth is judged against runs of the
# same hour), then 1 M with Q-1 from the saved state (CSV, then Parquet
# inputs). With `china`, the national world's round instead: 1 M, 10 M,
# 1 M, CSV. Each line is `benches/bench.py`'s own table row; data are
# generated on first use (see the README's Performance section).
#
#     bash benches/round.sh           # Luoyang's world
#     bash benches/round.sh china     # families in every county of China
set -euo pipefail
cd "$(dirname "$0")/.."
bench=(python3 benches/bench.py --formats csv)
case "${1:-luoyang}" in
  luoyang)
    "${bench[@]}" --sizes 1000000
    "${bench[@]}" --sizes 10000000 --repeat 1
    "${bench[@]}" --sizes 1000000
    python3 benches/bench.py --sizes 1000000 --from-state
    ;;
  china)
    "${bench[@]}" --geography china --sizes 1000000
    "${bench[@]}" --geography china --sizes 10000000 --repeat 1
    "${bench[@]}" --geography china --sizes 1000000
    ;;
  *)
    echo "usage: bash benches/round.sh [luoyang|china]" >&2
    exit 2
    ;;
esac
