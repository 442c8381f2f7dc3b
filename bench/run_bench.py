#!/usr/bin/env python3
"""Runs userstore_bench and prints the ratio table of docs/performance.md.

Usage (from the repository root, after a Release build):

  cmake --preset release
  cmake --build --preset release --target userstore_bench
  python3 bench/run_bench.py --out bench-results.json

  # a quick pass: small stores, short runs
  python3 bench/run_bench.py --sizes 10000,100000 --min-time 0.1
  # three repetitions (the table uses the medians), one family only
  python3 bench/run_bench.py --repetitions 3 --filter 'GetBySid'
  # the table again from a saved run, without running anything
  python3 bench/run_bench.py --from-json bench-results.json
  # anything after `--` goes to the binary unchanged
  python3 bench/run_bench.py -- --benchmark_enable_random_interleaving=true

The table compares implementations at one store size (default: the largest in
the results, normally 10^6), single thread, from one run: items per second of
Store, Rest, Sqlite, Naive and RawMap per operation, the ratios the targets
are stated in, the scaling rows (two reader threads against one, a page deep
in the list against the first, GetBySid at 10^6 against 10^4) and memory per
user. Each target is marked met or missed. Below it, when the run has them,
the durable store's rows and their peers on disk: Durable against Store,
SqliteWal and RocksDb per operation; DurableSync on four threads against one
and against SqliteWalFull; recovery, checkpoint and its writers' latency.
Python 3 standard library only.

  # the durable rows alone, quickly
  python3 bench/run_bench.py --sizes 10000,100000 --min-time 0.2 \
      --filter 'BM_(Store|Durable|DurableSync|SqliteWal|SqliteWalFull|RocksDb)_'
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPLS = ["Store", "Rest", "Sqlite", "Naive", "RawMap"]
OPS = ["Create", "GetBySid", "GetByIdentity", "Update", "Delete", "List", "Mixed"]
READ_OPS = ["GetBySid", "GetByIdentity", "List"]
COPY_OPS = ["Create", "GetBySid", "GetByIdentity", "Update", "List"]  # StoreCopy's
DURABLE_OPS = ["Create", "GetBySid", "Update", "Delete"]  # Durable's, SqliteWal's, RocksDb's
DURABLE_PEERS = ["Store", "SqliteWal", "RocksDb"]  # what Durable is divided by

# (op, numerator impl, denominator impl) -> minimum ratio of items/s. The
# targets that stand (docs/performance.md, "The targets"): the floors the
# engine keeps, in place of the first performance issue's, whose single-fetch
# targets asked for more than the raw hash map's own fetch.
RATIO_TARGETS = {
    ("GetBySid", "Store", "Sqlite"): 9.0,
    ("GetBySid", "Store", "RawMap"): 0.45,
    ("GetByIdentity", "Store", "Sqlite"): 9.0,
    ("Create", "Store", "Sqlite"): 13.0,
    ("Create", "Store", "Naive"): 4.0,
    ("Update", "Store", "Sqlite"): 13.0,
    ("Delete", "Store", "Sqlite"): 10.0,
    ("List", "Store", "Sqlite"): 7.0,
    ("GetBySid", "Rest", "Sqlite"): 4.5,
}
# The durable store's targets (the durability issue), as ratios in one run.
DURABLE_TARGETS = {  # (op, peer) -> minimum Durable / peer
    ("Create", "Store"): 0.7, ("Update", "Store"): 0.7, ("Delete", "Store"): 0.7,
    ("GetBySid", "Store"): 0.95,
    ("Create", "SqliteWal"): 10.0, ("Create", "RocksDb"): 3.0,
}
SYNC_VS_FULL_TARGET = 1.0      # DurableSync 1 thread / SqliteWalFull
GROUP_COMMIT_TARGET = 3.0      # DurableSync 4 threads / 1 thread
CHECKPOINT_PAUSE_TARGET_US = 10000.0  # worst write latency during a checkpoint
DISK_VS_MEMORY_TARGET = 1.5    # disk bytes per user after a checkpoint / memory bytes per user
RATIO_COLUMNS = [("Store", "Sqlite"), ("Store", "Naive"), ("Store", "RawMap"), ("Rest", "Sqlite")]
MEMORY_TARGET = 250.0        # bytes per user, Store
THREAD_SCALING_TARGET = 1.7  # 2-thread / 1-thread throughput, Store reads
DEEP_PAGE_TARGET = 1.5       # cost of the page at 900,000 / the first page


def find_binary(explicit):
    if explicit:
        return explicit
    candidates = [os.path.join(REPO, "build", "release", "bench", "userstore_bench")]
    candidates += sorted(glob.glob(os.path.join(REPO, "build", "*", "bench", "userstore_bench")),
                         key=os.path.getmtime, reverse=True)
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    sys.exit("userstore_bench not found; build it (cmake --build --preset release "
             "--target userstore_bench) or pass --binary")


def run_suite(args, passthrough):
    binary = find_binary(args.binary)
    out = args.out or os.path.join(tempfile.mkdtemp(prefix="userstore_bench_"), "results.json")
    cmd = [binary, "--benchmark_out=" + out, "--benchmark_out_format=json"]
    if args.sizes:
        cmd.append("--sizes=" + args.sizes)
    if args.filter:
        cmd.append("--benchmark_filter=" + args.filter)
    if args.repetitions:
        cmd.append("--benchmark_repetitions=%d" % args.repetitions)
    if args.min_time:
        cmd.append("--benchmark_min_time=%s" % args.min_time)
    cmd += passthrough
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    rc = subprocess.call(cmd)
    if rc != 0:
        sys.exit("userstore_bench exited with status %d" % rc)
    print("results: " + out, file=sys.stderr)
    return out


def load_results(path):
    """{run_name: {"items_per_second": x, counters...}} using medians of repetitions."""
    with open(path) as f:
        data = json.load(f)
    iterations, medians, errors = {}, {}, {}
    for b in data.get("benchmarks", []):
        name = b.get("run_name", b["name"])
        if b.get("error_occurred"):
            errors[name] = b.get("error_message", "error")
            continue
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = b
        else:
            iterations.setdefault(name, []).append(b)
    results = {}
    for name, runs in iterations.items():
        if name in medians:
            results[name] = medians[name]
            continue
        merged = {}
        for key in runs[0]:
            values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
            if values and len(values) == len(runs):
                merged[key] = statistics.median(values)
        results[name] = merged
    return data.get("context", {}), results, errors


class Table:
    def __init__(self, results, n):
        self.r = results
        self.n = n

    def ips(self, impl, op, n=None, threads=None, arg=None):
        n = self.n if n is None else n
        if arg is not None:
            name = "BM_%s_%s/%d" % (impl, op, arg)
        elif threads is None:
            name = "BM_%s_%s/%d" % (impl, op, n)
        else:
            name = "BM_%s_%s/%d/real_time/threads:%d" % (impl, op, n, threads)
        return self.r.get(name, {}).get("items_per_second")

    def counter(self, impl, key):
        return self.r.get("BM_%s_Memory/%d" % (impl, self.n), {}).get(key)

    def value(self, name, key="items_per_second"):
        """`key` of the benchmark named `name` ("%(n)d" is replaced by N)."""
        return self.r.get(name % {"n": self.n}, {}).get(key)


def fmt_rate(v):
    if v is None:
        return "n/a"
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e3:
        return "%.1fk" % (v / 1e3)
    return "%.0f" % v


def fmt_ratio(v):
    if v is None:
        return "n/a"
    return "%.1fx" % v if v >= 10 else "%.2fx" % v


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def mark(ok):
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def render(context, results, errors, n_wanted):
    sizes = sorted({int(name.split("/")[1]) for name in results
                    if name.count("/") >= 1 and name.split("/")[1].isdigit()
                    and not name.startswith("BM_Store_ListAt")
                    and not name.startswith("BM_Store_GetBySidBatch")})
    if not sizes:
        return "no results"
    n = n_wanted if n_wanted else max(sizes)
    small = min(sizes)
    t = Table(results, n)
    lines = []
    verdicts = []
    p = lines.append

    p("Store size N = %d users (one service), single thread unless stated; items/s." % n)
    p("")
    head = ["op"] + IMPLS + ["%s/%s" % c for c in RATIO_COLUMNS] + ["targets"]
    p("| " + " | ".join(head) + " |")
    p("|" + "---|" * len(head))
    for op in OPS:
        row = [op] + [fmt_rate(t.ips(impl, op)) for impl in IMPLS]
        notes = []
        for num, den in RATIO_COLUMNS:
            r = ratio(t.ips(num, op), t.ips(den, op))
            target = RATIO_TARGETS.get((op, num, den))
            cell = fmt_ratio(r)
            if target is not None:
                ok = None if r is None else r >= target
                cell += " (>= %g %s)" % (target, mark(ok))
                notes.append(mark(ok))
                verdicts.append(("%s %s/%s >= %g" % (op, num, den, target), r, ok))
            row.append(cell)
        row.append(", ".join(notes) if notes else "")
        p("| " + " | ".join(row) + " |")

    p("")
    p("Scaling (Store unless stated):")
    p("")
    p("| row | value | target | verdict |")
    p("|---|---|---|---|")
    for op in READ_OPS:
        for impl in ["Store"] + [i for i in IMPLS if i != "Store"]:
            one = t.ips(impl, op, threads=1)
            two = t.ips(impl, op, threads=2)
            r = ratio(two, one)
            if impl == "Store":
                ok = None if r is None else r >= THREAD_SCALING_TARGET
                verdicts.append(("%s 2 threads / 1 thread >= %g" % (op, THREAD_SCALING_TARGET), r, ok))
                p("| %s %s, 2 threads / 1 thread (wall clock) | %s | >= %g | %s |"
                  % (impl, op, fmt_ratio(r), THREAD_SCALING_TARGET, mark(ok)))
            elif r is not None:
                p("| %s %s, 2 threads / 1 thread (wall clock) | %s | | |" % (impl, op, fmt_ratio(r)))
    first = t.ips("Store", "ListAt", arg=0)
    deep = t.ips("Store", "ListAt", arg=900000)
    r = ratio(first, deep)  # cost ratio = inverse throughput ratio
    ok = None if r is None else r <= DEEP_PAGE_TARGET
    verdicts.append(("page at 900,000 / first page <= %g" % DEEP_PAGE_TARGET, r, ok))
    p("| Store page of 50 at 900,000 / first page (cost, 10^6 store) | %s | <= %g | %s |"
      % (fmt_ratio(r), DEEP_PAGE_TARGET, mark(ok)))
    if n != small:
        for impl in IMPLS:
            # (Not a target any more: it rewards a slow in-cache fetch.)
            r = ratio(t.ips(impl, "GetBySid", n=small), t.ips(impl, "GetBySid", n=n))
            if r is not None:
                p("| %s GetBySid cost at N=%d / at N=%d | %s | | |" % (impl, n, small, fmt_ratio(r)))

    p("")
    p("Calls that return copies (StoreCopy: CreateUser and UpdateUser returning a `User`, GetUser, ListUsers) "
      "against the zero-copy forms (Store: CreateUser and UpdateUser with a callback, ReadUser, VisitUsers), same store:")
    p("")
    p("| op | Store | StoreCopy | Store/StoreCopy | StoreCopy/Sqlite | StoreCopy/Naive |")
    p("|---|---|---|---|---|---|")
    for op in COPY_OPS:
        view, copy = t.ips("Store", op), t.ips("StoreCopy", op)
        if copy is None:
            continue
        p("| %s | %s | %s | %s | %s | %s |" % (op, fmt_rate(view), fmt_rate(copy), fmt_ratio(ratio(view, copy)),
                                             fmt_ratio(ratio(copy, t.ips("Sqlite", op))),
                                             fmt_ratio(ratio(copy, t.ips("Naive", op)))))

    p("")
    p("Fetches by SID in groups (ReadUsers over that many SIDs a call, the 10^6 store; "
      "not a target: the targets are single fetches), users/s:")
    p("")
    p("| group | Store ReadUsers | one ReadUser a call (GetBySid) | ReadUsers/ReadUser | ReadUsers/Sqlite GetBySid |")
    p("|---|---|---|---|---|")
    single = t.ips("Store", "GetBySid")
    for group in (16, 256):
        batch = t.ips("Store", "GetBySidBatch", arg=group)
        if batch is None:
            continue
        p("| %d | %s | %s | %s | %s |" % (group, fmt_rate(batch), fmt_rate(single), fmt_ratio(ratio(batch, single)),
                                         fmt_ratio(ratio(batch, t.ips("Sqlite", "GetBySid")))))

    p("")
    p("Memory per user at N = %d (64-byte attributes, 12-byte identities):" % n)
    p("")
    p("| impl | RSS delta B/user | allocated B/user | engine's own count B/user | target |")
    p("|---|---|---|---|---|")
    for impl in ["Store", "Sqlite", "Naive", "RawMap"]:
        rss = t.counter(impl, "bytes_per_user_rss")
        alloc = t.counter(impl, "bytes_per_user_alloc")
        engine = t.counter(impl, "bytes_per_user_engine")
        target = ""
        if impl == "Store":
            ok = None if rss is None or alloc is None else max(rss, alloc) <= MEMORY_TARGET
            verdicts.append(("memory <= %g bytes/user" % MEMORY_TARGET,
                             None if rss is None or alloc is None else max(rss, alloc), ok))
            target = "<= %g: %s" % (MEMORY_TARGET, mark(ok))
        f = lambda v: "n/a" if v is None else "%.0f" % v
        p("| %s | %s | %s | %s | %s |" % (impl, f(rss), f(alloc), f(engine) if engine is not None else "", target))

    render_durable(t, p, verdicts)

    p("")
    met = sum(1 for _, _, ok in verdicts if ok)
    missed = [v for v in verdicts if v[2] is False]
    unknown = [v for v in verdicts if v[2] is None]
    p("Targets: %d met, %d missed, %d not measured." % (met, len(missed), len(unknown)))
    for name, value, _ in missed:
        p("  MISSED: %s (got %s)" % (name, fmt_ratio(value) if value is not None and value < 100 else value))
    for name, _, _ in unknown:
        p("  not measured: %s" % name)
    if errors:
        p("")
        p("Benchmarks that reported an error:")
        for name, message in sorted(errors.items()):
            p("  %s: %s" % (name, message))

    ctx = ["%s=%s" % (k, context[k]) for k in
           ("date", "host_name", "num_cpus", "mhz_per_cpu", "library_build_type", "sqlite_version")
           if k in context]
    if "load_avg" in context:
        ctx.append("load_avg=%s" % ",".join("%.2f" % x for x in context["load_avg"]))
    header = "Run: " + " ".join(ctx)
    return header + "\n\n" + "\n".join(lines)


def fmt_number(v, unit=""):
    if v is None:
        return "n/a"
    if v >= 100:
        return "{:,.0f}{}".format(v, unit)
    return "%.3g%s" % (v, unit)


def render_durable(t, p, verdicts):
    """The durable store and its peers on disk, when the run has them."""
    if not any(name.startswith(("BM_Durable", "BM_SqliteWal", "BM_RocksDb")) for name in t.r):
        return
    p("")
    p("The durable store (Durable: kBackgroundSync; DurableSync: kSyncEachWrite) and its peers on disk, "
      "N = %d, single thread unless stated; items/s (CPU time, except the rows marked wall clock):" % t.n)
    p("")
    head = ["op", "Durable", "Store (in memory)", "SqliteWal", "RocksDb"] + ["Durable/%s" % peer for peer in DURABLE_PEERS]
    p("| " + " | ".join(head) + " |")
    p("|" + "---|" * len(head))
    for op in DURABLE_OPS:
        durable = t.ips("Durable", op)
        row = [op, fmt_rate(durable)] + [fmt_rate(t.ips(peer, op)) for peer in DURABLE_PEERS]
        for peer in DURABLE_PEERS:
            r = ratio(durable, t.ips(peer, op))
            cell = fmt_ratio(r)
            target = DURABLE_TARGETS.get((op, peer))
            if target is not None:
                ok = None if r is None else r >= target
                cell += " (>= %g %s)" % (target, mark(ok))
                verdicts.append(("%s Durable/%s >= %g" % (op, peer, target), r, ok))
            row.append(cell)
        p("| " + " | ".join(row) + " |")

    one = t.value("BM_DurableSync_Create/%(n)d")
    four = t.value("BM_DurableSync_Create/%(n)d/threads:4")
    full = t.value("BM_SqliteWalFull_Create/%(n)d")
    p("")
    p("Creates synced before they return (wall clock):")
    p("")
    p("| row | value |")
    p("|---|---|")
    p("| DurableSync Create, 1 thread | %s |" % fmt_rate(one))
    p("| DurableSync Create, 4 threads (all together) | %s |" % fmt_rate(four))
    p("| DurableSync Create, 4 threads / 1 thread (group commit) | %s |" % fmt_ratio(ratio(four, one)))
    p("| SqliteWalFull Create (synchronous=FULL, a transaction per create) | %s |" % fmt_rate(full))
    p("| DurableSync / SqliteWalFull, 1 thread | %s |" % fmt_ratio(ratio(one, full)))
    p("| DurableSync 4 threads / SqliteWalFull 1 thread | %s |" % fmt_ratio(ratio(four, full)))
    r = ratio(one, full)
    verdicts.append(("DurableSync Create / SqliteWalFull >= %g" % SYNC_VS_FULL_TARGET, r,
                     None if r is None else r >= SYNC_VS_FULL_TARGET))
    r = ratio(four, one)
    verdicts.append(("DurableSync Create 4 threads / 1 thread >= %g" % GROUP_COMMIT_TARGET, r,
                     None if r is None else r >= GROUP_COMMIT_TARGET))

    recover = t.value("BM_Durable_Recover/%(n)d")
    checkpoint = t.value("BM_Durable_Checkpoint/%(n)d")
    seconds = lambda rate: None if rate in (None, 0) else t.n / rate
    p("")
    p("Recovery and checkpoints, N = %d (wall clock):" % t.n)
    p("")
    p("| row | value |")
    p("|---|---|")
    p("| OpenUserStore of N users, users/s | %s |" % fmt_rate(recover))
    p("| OpenUserStore of N users, seconds | %s |" % fmt_number(seconds(recover)))
    p("| Checkpoint of N users, users/s | %s |" % fmt_rate(checkpoint))
    p("| Checkpoint of N users, seconds | %s |" % fmt_number(seconds(checkpoint)))
    p("| a concurrent writer's worst update during a checkpoint, us | %s |"
      % fmt_number(t.value("BM_Durable_Checkpoint/%(n)d", "max_write_latency_us")))
    p("| a concurrent writer's p99 update during a checkpoint, us | %s |"
      % fmt_number(t.value("BM_Durable_Checkpoint/%(n)d", "p99_write_latency_us")))
    p("| disk bytes per user after a checkpoint (journal segment included) | %s |"
      % fmt_number(t.value("BM_Durable_Checkpoint/%(n)d", "disk_bytes_per_user")))
    # Recovery of N users against creating them in memory (the Store row).
    store_create = t.ips("Store", "Create")
    r = ratio(recover, store_create)
    verdicts.append(("recovery faster than creating in memory (Recover / Store Create >= 1)", r,
                     None if r is None else r >= 1.0))
    pause = t.value("BM_Durable_Checkpoint/%(n)d", "max_write_latency_us")
    verdicts.append(("worst write during a checkpoint <= %g us" % CHECKPOINT_PAUSE_TARGET_US, pause,
                     None if pause is None else pause <= CHECKPOINT_PAUSE_TARGET_US))
    disk = t.value("BM_Durable_Checkpoint/%(n)d", "disk_bytes_per_user")
    # The in-memory store's bytes per user in this run when measured, else
    # its target (250).
    memory = t.counter("Store", "bytes_per_user_alloc")
    reference = memory if memory else MEMORY_TARGET
    r = None if disk is None else disk / reference
    verdicts.append(("disk bytes per user <= %g x memory (%s B)" % (DISK_VS_MEMORY_TARGET,
                     fmt_number(reference)), r, None if r is None else r <= DISK_VS_MEMORY_TARGET))


def main():
    argv = sys.argv[1:]
    passthrough = []
    if "--" in argv:
        i = argv.index("--")
        argv, passthrough = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", help="path to userstore_bench (default: build/release, else newest build/*)")
    ap.add_argument("--sizes", help="comma-separated store sizes to register (default 10000,100000,1000000)")
    ap.add_argument("--filter", help="--benchmark_filter regex")
    ap.add_argument("--repetitions", type=int, help="--benchmark_repetitions; the table uses medians")
    ap.add_argument("--min-time", help="--benchmark_min_time in seconds")
    ap.add_argument("--out", help="where to keep the JSON results (default: a temporary file)")
    ap.add_argument("--from-json", help="print the table from this results file; run nothing")
    ap.add_argument("--n", type=int, help="store size of the table (default: the largest measured)")
    args = ap.parse_args(argv)
    path = args.from_json or run_suite(args, passthrough)
    context, results, errors = load_results(path)
    print()
    print(render(context, results, errors, args.n))


if __name__ == "__main__":
    main()
