#!/usr/bin/env python3
"""What the machine charges for memory a process touches for the first time.

    python3 benches/first_touch.py            # 1 and 4 GiB, each twice
    python3 benches/first_touch.py 0.5 2 8    # other sizes (GiB)

Each size is mapped fresh (anonymous, private) and one byte is written in
every 4 KiB page, in a process of its own, one size after the other with
no pause. It prints the wall and system time, the minor page faults and
the system time per page. Nothing here runs rollmatch.

Why: rollmatch's 10 M run touches about 4 GB of fresh memory, its 1 M run
well under 1 GB. On the 2-core VM of issue #7 (a guest that reports its
free pages to the host, `/sys/module/page_reporting`), 4 GiB touched
when no process had freed as much in the seconds before cost 6.3–10.9 s
of system time, and 1.7–2.8 s straight after another process freed
4 GiB, against 0.30–0.47 s for 1 GiB (2026-12-04): the per-page cost
grows with the size and with what the machine did just before, so a
larger run pays more per page than a smaller one. Run this after a
benchmark round to see the host's state; run before one, the 4 GiB it
frees would warm the memory the first runs get.
"""
import mmap, resource, subprocess, sys, time

PAGE = 4096


def touch(gib):
    """In this process: map `gib` GiB and write a byte in each page."""
    size = int(gib * (1 << 30))
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    view = memoryview(m)
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for off in range(0, size, PAGE):
        view[off] = 1
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    system = after.ru_stime - before.ru_stime
    faults = after.ru_minflt - before.ru_minflt
    pages = size // PAGE
    print(f"| {gib:g} | {wall:.2f} | {system:.2f} | {faults:,} | {system * 1e6 / pages:.2f} |", flush=True)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        touch(float(sys.argv[2]))
        return
    sizes = [float(s) for s in sys.argv[1:]] or [1, 1, 4, 4]
    print(f"# first touch of fresh memory, {time.strftime('%Y-%m-%d %H:%M')}")
    print("| GiB | wall s | sys s | minor faults | µs sys/page |")
    print("| --- | --- | --- | --- | --- |")
    for gib in sizes:
        # A process per size, so that each maps memory it never had.
        subprocess.run([sys.executable, __file__, "--one", str(gib)], check=True)


if __name__ == "__main__":
    main()
