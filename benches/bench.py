#!/usr/bin/env python3
"""rollmatch benchmark: prints wall, CPU, peak RSS, rows/s, stage times and
the read-once floor for generated quarters.

    python3 benches/bench.py                 # 100k and 1M households, CSV and Parquet
    python3 benches/bench.py --sizes 10000000 --formats csv
    python3 benches/bench.py --from-state    # Q-1 from saved state instead of files
    python3 benches/bench.py --geography china   # families in every county of China

Data is generated once with `rollmatch gen` into bench-data/ (git-ignored)
and reused. Needs a release build (`cargo build --release`). Figures are
for the machine it runs on; nothing here asserts a time.
"""
import argparse, json, os, resource, shutil, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "rollmatch")
DATA = os.path.join(ROOT, "bench-data")


def run(cmd, quiet=True):
    """Run a command; return (wall s, user+sys s, peak RSS MiB, system s,
    minor page faults) of that child alone."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # A fresh intermediate process so that ru_maxrss is this command's own.
    wrapper = [sys.executable, "-c",
               "import resource,subprocess,sys,json;"
               "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL);"
               "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
               "print(json.dumps([r.returncode,u.ru_utime+u.ru_stime,u.ru_maxrss,u.ru_stime,u.ru_minflt]))"] + cmd
    out = subprocess.run(wrapper, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - t0
    code, cpu, rss_kib, system, faults = json.loads(out)
    if code != 0:
        sys.exit(f"command failed ({code}): {' '.join(cmd)}")
    return wall, cpu, rss_kib / 1024, system, faults


def steal_seconds():
    """CPU time the host has taken from this machine so far, all CPUs
    together (the `steal` column of /proc/stat), or None where there is no
    such count. On a shared VM a run that finds the host busy runs slower
    with no change of its own (see docs/performance-log.md, "Midday of
    2026-12-06")."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def ensure_data(households, fmt, geography):
    # Each world has its own cache: Luoyang's keeps its old name.
    suffix = "" if geography == "luoyang" else f"-{geography}"
    d = os.path.join(DATA, f"h{households}{suffix}")
    job = os.path.join(d, "job.toml" if fmt == "csv" else "job-parquet.toml")
    if not os.path.exists(job):
        shutil.rmtree(d, ignore_errors=True)
        print(f"generating {households} households (csv + parquet) …", file=sys.stderr)
        wall, cpu, rss, _, _ = run([BIN, "gen", "--out", d, "--households", str(households),
                              "--start", "2018Q2", "--quarters", "2", "--seed", "7", "--parquet",
                              # The benchmark reads no truth.csv; without it gen
                              # streams each quarter and fits 10 M households.
                              "--no-truth", "--geography", geography])
        print(f"  gen: {wall:.1f} s wall, {cpu:.1f} s CPU, {rss:.0f} MiB peak", file=sys.stderr)
    return d, job


def warm(d, fmt):
    """Read every input of both quarters (the rolls in `fmt`, the
    registers) once, so that the timed command
    finds them in the page cache. On this machine (a VM whose kernel pages
    out memory left untouched for a while, DAMON's `pageout`) the 10 M
    households' 11 GB of inputs were found partly or wholly out of the
    cache between runs, while the 1 M inputs, read every few minutes,
    stayed in it: a first read of the 4 GB poor roll took 9.6 s against
    0.45 s for the next (2026-12-03), so the 10 M figures measured the
    page cache as much as rollmatch. Warm inputs make the sizes comparable;
    `--cold` leaves them as they are."""
    for q in ("2018Q2", "2018Q3"):
        qd = os.path.join(d, q)
        for name in sorted(os.listdir(qd)):
            if name.endswith((".csv", ".parquet")) and name.split(".")[0] in ("dibao", "poor") \
                    and not name.endswith(fmt):
                continue
            with open(os.path.join(qd, name), "rb", buffering=0) as fh:
                while fh.read(8 << 20):
                    pass


def rows_of(d):
    n = 0
    for q in ("2018Q2", "2018Q3"):
        for f in ("dibao.csv", "poor.csv", "deaths.csv", "public_employees.csv"):
            with open(os.path.join(d, q, f), "rb") as fh:
                n += sum(1 for _ in fh) - 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--formats", default="csv,parquet")
    ap.add_argument("--from-state", action="store_true")
    ap.add_argument("--threads", default=None)
    ap.add_argument("--geography", default="luoyang", choices=["luoyang", "china"],
                    help="where the generated families live (rollmatch gen --geography)")
    ap.add_argument("--cold", action="store_true",
                    help="time each run with its inputs wherever the page cache left them, not read once before")
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs per case; the fastest is reported (the machine is shared and noisy)")
    a = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    print(f"# rollmatch benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {a.geography} geography, "
          f"inputs {'as the page cache left them' if a.cold else 'read once before each timed command'}")
    # System time and page faults: on this VM a page the process touches
    # first costs from about 1 to 10 µs of system time, depending on how
    # much fresh memory the run needs and on what the machine did in the
    # seconds before (docs/performance-log.md, "Night of 2026-12-04/05"),
    # so they show how much of a run's time was the host's.
    print("| households | format | Q-1 from | rows | wall s | CPU s | sys s | stolen s | minor faults | µs sys/fault | peak RSS MiB | rows/s | bytes/row | floor s | run/floor | stages |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in [int(s) for s in a.sizes.split(",")]:
        for fmt in a.formats.split(","):
            d, job = ensure_data(size, fmt, a.geography)
            rows = rows_of(d)
            out = os.path.join(d, f"out-bench-{fmt}")
            state = os.path.join(d, f"state-{fmt}")
            shutil.rmtree(state, ignore_errors=True)
            extra = ["--threads", a.threads] if a.threads else []
            source = "state" if a.from_state else "files"
            best = None
            walls = []
            for _ in range(max(1, a.repeat)):
                shutil.rmtree(state, ignore_errors=True)
                if a.from_state:
                    run([BIN, "run", job, "--quarter", "2018Q2", "--out", out + "-q2", "--quiet"] + extra)
                if not a.cold:
                    warm(d, fmt)
                stolen_before = steal_seconds()
                wall, cpu, rss, system, faults = run([BIN, "run", job, "--out", out, "--quiet"] + extra)
                stolen_after = steal_seconds()
                stolen = (None if stolen_before is None or stolen_after is None
                          else stolen_after - stolen_before)
                walls.append(wall)
                if best is None or wall < best[0]:
                    manifest = json.load(open(os.path.join(out, "manifest.json")))
                    best = (wall, cpu, rss, system, faults, stolen, manifest)
            wall, cpu, rss, system, faults, stolen, manifest = best
            stages = " ".join(f"{s['stage']}={s['seconds']:.2f}" for s in manifest["stages"])
            # The read-once floor: every input of both quarters parsed once by
            # the same reader (`check` reads and validates, nothing else).
            if not a.cold:
                warm(d, fmt)
            floor = min(
                run([BIN, "check", job, "--quiet"] + extra)[0]
                + run([BIN, "check", job, "--quarter", "2018Q2", "--quiet"] + extra)[0]
                for _ in range(max(1, a.repeat)))
            print(f"| {size:,} | {fmt} | {source} | {rows:,} | {wall:.2f} | {cpu:.2f} | "
                  f"{system:.2f} | {'n/a' if stolen is None else f'{stolen:.2f}'} | {faults:,} | {system * 1e6 / max(faults, 1):.1f} | {rss:,.0f} | "
                  f"{rows / wall:,.0f} | {rss * 1048576 / rows:,.0f} | {floor:.2f} | {wall / floor:.2f} | {stages} |", flush=True)
            if len(walls) > 1:
                # Every run's time, not only the fastest: how far apart runs
                # of the same command fell on this shared machine.
                print(f"# {size:,} {fmt} {source}: each run's wall s "
                      + ", ".join(f"{w:.2f}" for w in walls), flush=True)
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
