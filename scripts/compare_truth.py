#!/usr/bin/env python3
"""Compare a run's flags.csv (run with --no-mask) with gen's truth.csv, per flag,
by each flag's contract key. Usage: compare_truth.py flags.csv truth.csv QUARTER"""
import csv, sys, collections

KEYS = {
    "member_mismatch": ("dibao_household_id", "poor_household_id"),
    "id_conflict": ("dibao_household_id", "poor_household_id"),
    "invalid_id": ("dibao_household_id", "poor_household_id", "person_id"),
    "household_changed": ("dibao_household_id", "poor_household_id"),
    "standard_below_line": ("county_code",),
}
DIBAO = {"should_support", "dibao_entry", "dibao_exit", "benefit_changed", "exit_while_eligible", "edge_poverty"}
PERSON = {"name_conflict", "region_mismatch", "duplicate_enrollment", "public_employee"}

def key(r):
    f = r["flag"]
    if f in KEYS:
        return tuple(r[k] for k in KEYS[f])
    if f == "deceased_enrolled":
        return (r["person_id"], "d" if r["dibao_household_id"] else "p")
    if f in DIBAO:
        return (r["dibao_household_id"],)
    if f in PERSON:
        return (r["person_id"],)
    return (r["poor_household_id"],)

def load(path, quarter):
    out = collections.defaultdict(set)
    with open(path, encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            if r["quarter"] == quarter:
                out[r["flag"]].add(key(r))
    return out

got, want = load(sys.argv[1], sys.argv[3]), load(sys.argv[2], sys.argv[3])
bad = 0
print(f"{'flag':24} {'truth':>6} {'found':>6} {'prec':>6} {'recall':>6}")
for f in sorted(set(got) | set(want)):
    g, w = got[f], want[f]
    tp = len(g & w)
    p = tp / len(g) if g else 1.0
    r = tp / len(w) if w else 1.0
    print(f"{f:24} {len(w):6} {len(g):6} {p:6.3f} {r:6.3f}")
    if p < 1 or r < 1:
        bad += 1
        for x in sorted(g - w)[:3]: print("   extra  ", x)
        for x in sorted(w - g)[:3]: print("   missing", x)
sys.exit(1 if bad else 0)
