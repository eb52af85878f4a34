#!/usr/bin/env python3
"""bench/client_capture.py: capturing in the client vs capquery in the server.

The workload is the SQLAlchemy AlarmPanel/Sensor one of test/python/models.py
(every panel's sensors loaded lazily, one SELECT per panel, the N+1 shape,
then each panel's is_online toggled and flushed, one UPDATE per panel, and
a commit).  Three ways to run it:

  none     no capture (the baseline)
  client   a before_cursor_execute listener records every statement and its
           parameters in a list, as pytest-capquery and SQLAlchemy event
           hooks do
  server   capquery captures the run (capq_begin() / capq_end() on the same
           connection); the client records nothing

The listener's engine is not the baseline's: SQLAlchemy never clears an
engine's "has events" flag once a listener was added, so an engine that had
one runs its event checks ever after; "none" and "server" use an engine that
never had a listener.  Attaching and detaching (event.listen/remove,
capq_begin()/capq_end()) are outside the measured region and reported apart,
as a fixed cost per capture.

Each capture adds a few microseconds or less to a statement that costs the
client process about a third of a millisecond: on a shared 2-core virtual
machine, wall and even CPU time vary from run to run by several percent,
more than either capture adds, so the measurement that resolves them is
instructions.

  wall    (a live server) Rounds of three back-to-back runs, one per mode,
          in an order that cycles through the six permutations; the first
          rounds are a warm-up and discarded.  A mode's added time in a
          round is its run minus that round's baseline, and the round's
          ratio is client added / server added.  Rounds continue until
          CC_SECONDS have passed and the rounds are a whole number of
          cycles (at least CC_PAIRS).  Each run also records the CPU time
          of the client process (time.process_time) and of its backend
          (/proc/<pid>/schedstat, nanoseconds on CPU; the server is local).
          Then capquery's record of the statements of runs limited to CC_K1
          and CC_K2 panels, for bench/client_capture.sh to replay in a
          single-user backend under callgrind.
  grind   (the client process under callgrind, counting only through the
          client requests of CC_CGCTL) After a warm-up, GRIND_REPS
          repetitions of each mode limited to CC_K1 and CC_K2 panels, one
          callgrind dump per run.
  report  The marginal instructions per statement between CC_K1 and CC_K2
          panels (start-up and fixed costs cancel), the wall-time and
          CPU-time rounds; markdown on stdout.

Environment: PGHOST, PGPORT, PGUSER (the server, capquery preloaded),
CC_WORK (the directory of the intermediate files), CC_PANELS (100),
CC_SECONDS (50), CC_PAIRS (7, the least number of rounds), CC_K1 (25),
CC_K2 (75), CC_CGCTL (grind).
"""
import ctypes
import gc
import glob
import itertools
import json
import math
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "python"))

from sqlalchemy import create_engine, event, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from models import AlarmPanel, Base, Sensor  # noqa: E402

WORK = os.environ.get("CC_WORK", ".")
PANELS = int(os.environ.get("CC_PANELS", "100"))
SECONDS = float(os.environ.get("CC_SECONDS", "50"))
MIN_ROUNDS = int(os.environ.get("CC_PAIRS", "7"))
K1 = int(os.environ.get("CC_K1", "25"))
K2 = int(os.environ.get("CC_K2", "75"))
WARMUP_ROUNDS = 2
GRIND_REPS = 3
MODES = ("none", "client", "server")
ORDERS = list(itertools.permutations(MODES))


def workload(engine, limit=None):
    """The N+1 read then one UPDATE per panel; returns the sensors seen."""
    with Session(engine) as session:
        query = select(AlarmPanel).order_by(AlarmPanel.id)
        if limit is not None:
            query = query.limit(limit)
        panels = session.execute(query).scalars().all()
        kinds = 0
        for panel in panels:
            kinds += len(panel.sensors)     # lazy load: one SELECT per panel
        for panel in panels:
            panel.is_online = not panel.is_online
            session.flush()                 # one UPDATE per panel
        session.commit()
    return kinds


class Bench:
    """Two one-connection engines: "plain" never has a listener, "listened"
    gets one for each client run."""

    def __init__(self):
        url = "postgresql+psycopg2://%s@/%s?host=%s&port=%s" % (
            os.environ.get("PGUSER", "postgres"), os.environ.get("PGDATABASE", "postgres"),
            os.environ["PGHOST"], os.environ["PGPORT"])
        # one connection each, so that capq_begin() and the workload share a backend
        self.engines = {name: create_engine(url, pool_size=1, max_overflow=0, future=True)
                        for name in ("plain", "listened")}
        self.pids = {}
        for name, engine in self.engines.items():
            with engine.connect() as conn:
                self.pids[name] = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        self.recorded = []

    def setup(self):
        with self.engines["plain"].begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS capquery"))
            Base.metadata.drop_all(conn)
            Base.metadata.create_all(conn)
            conn.execute(AlarmPanel.__table__.insert(),
                         [{"id": i, "mac_address": "00:00:%04x" % i, "is_online": i % 2 == 0}
                          for i in range(1, PANELS + 1)])
            conn.execute(Sensor.__table__.insert(),
                         [{"panel_id": 1 + i % PANELS, "kind": "kind %d" % (i % 5)}
                          for i in range(3 * PANELS)])
            conn.execute(text("ANALYZE"))

    def listener(self, conn, cursor, statement, parameters, context, executemany):
        self.recorded.append((statement, dict(parameters) if isinstance(parameters, dict)
                              else parameters))

    def attach(self, mode):
        """Start capturing; returns the engine the workload runs on."""
        if mode == "client":
            self.recorded = []
            engine = self.engines["listened"]
            event.listen(engine, "before_cursor_execute", self.listener)
            return engine
        engine = self.engines["plain"]
        if mode == "server":
            with engine.connect() as conn:
                self.capture = conn.execute(text("SELECT capq_begin()")).scalar()
                conn.commit()
        return engine

    def detach(self, mode):
        """Stop capturing; returns how many statements were recorded."""
        if mode == "client":
            event.remove(self.engines["listened"], "before_cursor_execute", self.listener)
            return len(self.recorded)
        if mode == "server":
            with self.engines["plain"].connect() as conn:
                n = conn.execute(text("SELECT capq_end()")).scalar()
                conn.commit()
            return n
        return 0

    def backend_pid(self, mode):
        return self.pids["listened" if mode == "client" else "plain"]


def backend_cpu(pid):
    """Seconds the process has been on a CPU (schedstat: nanoseconds)."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e9


def timed_run(bench, mode):
    t0 = time.perf_counter()
    engine = bench.attach(mode)
    t1 = time.perf_counter()
    gc.collect()                        # every mode starts at the same point of the
                                        # collector's allocation counts
    pid = bench.backend_pid(mode)
    b0, c0, w0 = backend_cpu(pid), time.process_time(), time.perf_counter()
    workload(engine)
    w1, c1, b1 = time.perf_counter(), time.process_time(), backend_cpu(pid)
    t2 = time.perf_counter()
    captured = bench.detach(mode)
    t3 = time.perf_counter()
    return {"wall": w1 - w0, "client_cpu": c1 - c0, "backend_cpu": b1 - b0,
            "fixed": (t1 - t0) + (t3 - t2), "captured": captured}


def cmd_wall():
    bench = Bench()
    bench.setup()
    statements = None
    for r in range(WARMUP_ROUNDS):
        for mode in ORDERS[r % len(ORDERS)]:
            run = timed_run(bench, mode)
            if mode == "client":
                statements = run["captured"]
    rounds = []
    start = time.monotonic()
    while (len(rounds) < MIN_ROUNDS or time.monotonic() - start < SECONDS
           or len(rounds) % len(ORDERS)):
        order = ORDERS[len(rounds) % len(ORDERS)]
        rounds.append({mode: timed_run(bench, mode) for mode in order})
    elapsed = time.monotonic() - start
    print("client_capture: %d rounds in %.0f s" % (len(rounds), elapsed), file=sys.stderr)

    # what the backend executes, for bench/client_capture.sh to replay:
    # capquery's own record of a run limited to K panels
    for k in (K1, K2):
        engine = bench.attach("server")
        workload(engine, limit=k)
        captured = bench.detach("server")
        with engine.connect() as conn:
            queries = conn.execute(text("SELECT query FROM capq_queries(:c) ORDER BY seq"),
                                   {"c": bench.capture}).scalars().all()
        # drop capq_begin()'s COMMIT, and capq_end()'s BEGIN and itself
        first = queries.index("BEGIN")
        last = len(queries) - 1 - queries[::-1].index("COMMIT")
        body = queries[first:last + 1]
        if any("capq_" in q for q in body):
            sys.exit("client_capture: unexpected capq_ call inside the workload's capture")
        with open(os.path.join(WORK, "replay.%d.sql" % k), "w") as f:
            for q in body:
                f.write(q.rstrip().rstrip(";") + ";\n\n")
        print("client_capture: replay of %d panels: %d statements (of %d captured)"
              % (k, len(body), captured), file=sys.stderr)
    with open(os.path.join(WORK, "wall.json"), "w") as f:
        json.dump({"rounds": rounds, "statements": statements, "panels": PANELS,
                   "seconds": elapsed, "finished": time.time()}, f)


def cmd_grind():
    """Under callgrind (--instr-atstart=no --collect-atstart=no): counts
    each measured workload alone, one dump per run, named mode.k.rep."""
    cg = ctypes.CDLL(os.environ["CC_CGCTL"])
    bench = Bench()
    bench.setup()
    cg.cg_start()
    for mode in MODES:                  # warm-up: SQLAlchemy's caches, Python's
        workload(bench.attach(mode), limit=K2)      # specialized bytecode, the pools
        bench.detach(mode)
    statements = {}
    for rep in range(GRIND_REPS):
        order = MODES if rep % 2 == 0 else MODES[::-1]
        for mode in order:
            for k in (K1, K2):
                engine = bench.attach(mode)
                gc.collect()
                cg.cg_toggle()
                workload(engine, limit=k)
                cg.cg_toggle()
                n = bench.detach(mode)
                cg.cg_dump(("%s.%d.%d" % (mode, k, rep)).encode())
                if mode == "client":
                    statements[k] = n
    with open(os.path.join(WORK, "grind.json"), "w") as f:
        json.dump({"statements": statements}, f)


def cg_totals(pattern):
    """{dump name or file: Ir} of the callgrind files matching pattern."""
    out = {}
    for path in glob.glob(pattern):
        name, total = os.path.basename(path), None
        with open(path) as f:
            for line in f:
                m = re.match(r"desc: Trigger: Client Request: (\S+)", line)
                if m:
                    name = m.group(1)
                m = re.match(r"(?:totals|summary): *(\d+)", line)
                if m and total is None:
                    total = int(m.group(1))
        if total is not None:
            out[name] = total
    return out


def fixed2(x):
    """x to 2 decimals, with no "-0.00"."""
    out = "%.2f" % x
    return "0.00" if out == "-0.00" else out


def quartiles(xs):
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def median_ci(xs):
    """A distribution-free 95% confidence interval of the median (order
    statistics)."""
    xs, n = sorted(xs), len(xs)
    lo = max(1, math.floor((n - 1.96 * math.sqrt(n)) / 2))
    hi = min(n, math.ceil(1 + (n + 1.96 * math.sqrt(n)) / 2))
    return xs[lo - 1], xs[hi - 1]


def cmd_report():
    with open(os.path.join(WORK, "wall.json")) as f:
        wall = json.load(f)
    with open(os.path.join(WORK, "grind.json")) as f:
        grind = json.load(f)
    rounds, n, panels = wall["rounds"], wall["statements"], wall["panels"]
    added = {m: {key: [r[m][key] - r["none"][key] for r in rounds]
                 for key in ("wall", "client_cpu", "backend_cpu")} for m in ("client", "server")}

    # instructions: marginal per statement between K1 and K2 panels
    client_ir = cg_totals(os.path.join(WORK, "client.cg.*"))
    server_ir = cg_totals(os.path.join(WORK, "server.*.cg"))
    stmts = {int(k): v for k, v in grind["statements"].items()}
    dn = stmts[K2] - stmts[K1]

    def marginal(table, name):
        return (table[name % K2] - table[name % K1]) / dn

    reps = {m: [marginal(client_ir, "%s.%%d.%d" % (m, rep)) for rep in range(GRIND_REPS)]
            for m in MODES}
    cl = {m: statistics.median(reps[m]) for m in MODES}
    be = {"none": marginal(server_ir, "server.idle.%d.cg"),
          "client": marginal(server_ir, "server.idle.%d.cg"),   # the same statements
          "server": marginal(server_ir, "server.cap.%d.cg")}
    # the client process's count moves with its memory layout (objects
    # hashed by address): a mode's difference from no capture ranges over
    # every pair of their repetitions, and one whose range includes 0 is
    # not counted as a cost
    dcl = {m: cl[m] - cl["none"] for m in MODES}
    span = {m: (min(reps[m]) - max(reps["none"]), max(reps[m]) - min(reps["none"]))
            for m in MODES}
    counted = {m: not span[m][0] <= 0 <= span[m][1] for m in MODES}
    dbe = {m: be[m] - be["none"] for m in MODES}
    add = {m: (dcl[m] if counted[m] else 0) + dbe[m] for m in ("client", "server")}
    add_span = {m: ((span[m][0] + dbe[m], span[m][1] + dbe[m]) if counted[m]
                    else (dbe[m], dbe[m])) for m in ("client", "server")}
    # the rate at which each side ran its instructions in the no-capture
    # runs turns instructions into an expected time
    rate_c = cl["none"] / (statistics.median(r["none"]["client_cpu"] for r in rounds) / n * 1e6)
    rate_b = be["none"] / (statistics.median(r["none"]["backend_cpu"] for r in rounds) / n * 1e6)
    expect = {m: ((dcl[m] if counted[m] else 0) / rate_c + dbe[m] / rate_b)
              * n * 1e-6 for m in ("client", "server")}     # seconds per run

    def ms(x):
        return fixed2(1000 * x)

    print("### Client-side capture vs capquery (%s)\n"
          % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(wall["finished"])))
    print("`bash bench/client_capture.sh`: SQLAlchemy 1.4 + psycopg2, the AlarmPanel/Sensor "
          "workload of test/python/models.py (%d panels, their sensors loaded lazily, then "
          "one UPDATE per panel: %d statements a run), captured by a before_cursor_execute "
          "listener that records every statement and its parameters, as pytest-capquery "
          "does, or by capquery in the server. The listener runs on an engine of its own: "
          "SQLAlchemy never clears an engine's events flag, so an engine that once had a "
          "listener pays its event checks ever after. Attaching and detaching are outside "
          "the measured runs (median per capture: event.listen + event.remove %s ms, "
          "capq_begin() + capq_end() %s ms, two round trips).\n"
          % (panels, n, ms(statistics.median(r["client"]["fixed"] for r in rounds)),
             ms(statistics.median(r["server"]["fixed"] for r in rounds))))

    print("**Instructions** per statement (callgrind; marginal between runs of %d and %d "
          "panels, %d statements apart). Client process: the whole Python process, median "
          "of %d repetitions after a warm-up; in brackets, the range of the difference over "
          "the repetitions (the count moves with the process's memory layout), and a "
          "difference whose range includes 0 is not counted as added. Backend: its "
          "statements, as capquery recorded them, replayed in a single-user backend with "
          "capquery preloaded, idle or capturing; without capquery capturing, the "
          "backend runs the same statements whether or not the client listens. Expected "
          "time: the added instructions at the rate each side ran its instructions in the "
          "no-capture runs below (%.0f per µs in the client process, %.0f in the backend).\n"
          % (K1, K2, dn, GRIND_REPS, rate_c, rate_b))
    print("| per statement | client process | backend | added | expected µs added | "
          "expected ms per %d-statement run |" % n)
    print("|---|---:|---:|---:|---:|---:|")
    print("| no capture (instructions) | %.0f | %.0f | | | |" % (cl["none"], be["none"]))

    def with_span(x, lo, hi):
        return "%+.0f" % x if lo == hi else "%+.0f [%+.0f .. %+.0f]" % (x, lo, hi)

    for mode, label in (("client", "before_cursor_execute listener"),
                        ("server", "capquery capturing")):
        client_cell = with_span(dcl[mode], *span[mode])
        if not counted[mode]:
            client_cell += ", not counted"
        print("| %s | %s | %+.0f | **%s** | %.2f | %.2f |"
              % (label, client_cell, dbe[mode], with_span(add[mode], *add_span[mode]),
                 expect[mode] * 1e6 / n, 1000 * expect[mode]))
    if add_span["server"][0] > 0:
        print("\nRatio of added instructions, client / server: **%.1f** [%.1f .. %.1f]."
              % (add["client"] / add["server"], add_span["client"][0] / add_span["server"][1],
                 add_span["client"][1] / add_span["server"][0]))

    print("\n**Wall time**: %d alternated rounds in %.0f s (each round runs no capture, the "
          "listener and capquery back to back, the order cycling through the 6 "
          "permutations; %d warm-up rounds discarded); added = a run minus its round's "
          "no-capture run.\n" % (len(rounds), wall["seconds"], WARMUP_ROUNDS))
    print("| ms per run | median | 95% interval of the median | IQR | min .. max |")
    print("|---|---:|---:|---:|---:|")
    rows = [("workload, no capture", [r["none"]["wall"] for r in rounds]),
            ("added by the listener", added["client"]["wall"]),
            ("added by capquery", added["server"]["wall"])]
    interval = {}
    for label, xs in rows:
        lo, hi = median_ci(xs)
        q1, q3 = quartiles(xs)
        interval[label] = (lo, hi)
        print("| %s | %s | %s .. %s | %s .. %s | %s .. %s |"
              % (label, ms(statistics.median(xs)), ms(lo), ms(hi), ms(q1), ms(q3),
                 ms(min(xs)), ms(max(xs))))
    ratios = [c / s for c, s in zip(added["client"]["wall"], added["server"]["wall"]) if s != 0]
    if ratios:
        q1, q3 = quartiles(ratios)
        print("\nRatio of added wall time, client / server, per round: median **%s**, "
              "IQR %s .. %s, min %s, max %s (%d rounds)."
              % tuple([fixed2(x) for x in (statistics.median(ratios), q1, q3, min(ratios),
                                           max(ratios))] + [len(ratios)]))
    for mode, label, name in (("client", "added by the listener", "The listener"),
                              ("server", "added by capquery", "capquery")):
        lo, hi = interval[label]
        verdict = ("includes 0: within the run-to-run noise" if lo <= 0 <= hi
                   else "excludes 0")
        agree = "is consistent with" if lo <= expect[mode] <= hi else "is not consistent with"
        print("%s: the 95%% interval of its added time, %s .. %s ms, %s; it %s the %s ms "
              "its instructions predict." % (name, ms(lo), ms(hi), verdict, agree,
                                             ms(expect[mode])))
    if any(interval[label][0] <= 0 <= interval[label][1]
           for label in ("added by the listener", "added by capquery")):
        print("A per-round ratio whose denominator is noise means nothing: on this machine "
              "the ratio of added instructions is the measurement.")

    print("\n**CPU time** of the same runs, added per statement (µs; median, IQR in "
          "brackets): the client process (time.process_time) and its backend "
          "(/proc/<pid>/schedstat). On a shared virtual machine CPU time varies from run "
          "to run about as much as wall time.\n")
    print("| | client process | backend |")
    print("|---|---:|---:|")
    for mode, label in (("client", "listener"), ("server", "capquery")):
        cells = []
        for key in ("client_cpu", "backend_cpu"):
            xs = [x / n * 1e6 for x in added[mode][key]]
            q1, q3 = quartiles(xs)
            cells.append("%s [%s .. %s]"
                         % tuple(fixed2(x) for x in (statistics.median(xs), q1, q3)))
        print("| %s | %s |" % (label, " | ".join(cells)))


def main():
    cmds = {"wall": cmd_wall, "grind": cmd_grind, "report": cmd_report}
    if len(sys.argv) != 2 or sys.argv[1] not in cmds:
        sys.exit("usage: client_capture.py wall|grind|report")
    cmds[sys.argv[1]]()


if __name__ == "__main__":
    main()
