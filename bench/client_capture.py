#!/usr/bin/env python3
"""bench/client_capture.py: capturing in the client vs capquery in the server.

The SQLAlchemy AlarmPanel/Sensor workload (test/python/models.py: 200
panels, 3 sensors each, every panel's sensors loaded lazily, the N+1 shape,
then each panel's is_online toggled and committed) runs in rounds:

  none     no capture (the baseline)
  client   a before_cursor_execute listener records every statement and its
           parameters in a list, as pytest-capquery and SQLAlchemy event
           hooks do
  server   capquery captures the same run (capq_begin() / capq_end() on the
           same connection), the client records nothing

Each round runs the three in an order that alternates (none client server,
server client none, ...), PAIRS rounds; a capture's added wall time is its
run minus that round's baseline.  Reported: the medians, and the median
ratio client added / server added (how many times more the client-side
capture adds).  Wall time on a shared machine is noisy against a cost of
microseconds per statement, so the time spent inside the listener itself is
reported too (a lower bound of the client's cost).  A report, not a test.

Environment: PGHOST, PGPORT, PGUSER (the server, capquery preloaded),
CC_PAIRS (7), CC_PANELS (200).  Output: stdout (markdown).
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "python"))

from sqlalchemy import create_engine, event, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from models import AlarmPanel, Base, Sensor  # noqa: E402

PAIRS = int(os.environ.get("CC_PAIRS", "7"))
PANELS = int(os.environ.get("CC_PANELS", "200"))


def workload(engine):
    with Session(engine) as session:
        panels = session.execute(select(AlarmPanel).order_by(AlarmPanel.id)).scalars().all()
        kinds = 0
        for panel in panels:
            kinds += len(panel.sensors)     # lazy load: one SELECT per panel
        for panel in panels:
            panel.is_online = not panel.is_online
            session.flush()                 # one UPDATE per panel
        session.commit()
    return kinds


def run(engine, mode):
    recorded = []
    inside = [0.0]

    def listener(conn, cursor, statement, parameters, context, executemany):
        t0 = time.perf_counter()
        recorded.append((statement, dict(parameters) if isinstance(parameters, dict)
                         else parameters))
        inside[0] += time.perf_counter() - t0

    with engine.connect() as conn:
        if mode == "server":
            conn.execute(text("SELECT capq_begin()"))
            conn.commit()
    start = time.perf_counter()
    if mode == "client":
        event.listen(engine, "before_cursor_execute", listener)
    try:
        workload(engine)
    finally:
        if mode == "client":
            event.remove(engine, "before_cursor_execute", listener)
    elapsed = time.perf_counter() - start
    captured = len(recorded)
    run.inside = inside[0]
    if mode == "server":
        with engine.connect() as conn:
            captured = conn.execute(text("SELECT capq_end()")).scalar()
            conn.commit()
    return elapsed, captured


def main():
    url = "postgresql+psycopg2://%s@/%s?host=%s&port=%s" % (
        os.environ.get("PGUSER", "postgres"), os.environ.get("PGDATABASE", "postgres"),
        os.environ["PGHOST"], os.environ["PGPORT"])
    # one connection, so that capq_begin() and the workload share a backend
    engine = create_engine(url, pool_size=1, max_overflow=0, future=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS capquery"))
        Base.metadata.drop_all(conn)
        Base.metadata.create_all(conn)
        conn.execute(AlarmPanel.__table__.insert(),
                     [{"id": i, "mac_address": "00:00:%04x" % i, "is_online": i % 2 == 0}
                      for i in range(1, PANELS + 1)])
        conn.execute(Sensor.__table__.insert(),
                     [{"panel_id": 1 + i % PANELS, "kind": "kind %d" % (i % 5)}
                      for i in range(3 * PANELS)])
    for _ in range(2):                      # warm up caches and the pool
        run(engine, "none")
    added = {"client": [], "server": []}
    counts = {}
    inside = []
    order = ["none", "client", "server"]
    for r in range(PAIRS):
        times = {}
        for mode in (order if r % 2 == 0 else list(reversed(order))):
            times[mode], counts[mode] = run(engine, mode)
            if mode == "client":
                inside.append(run.inside / max(1, counts[mode]))
        for mode in ("client", "server"):
            added[mode].append(times[mode] - times["none"])
        added.setdefault("none", []).append(times["none"])
    ratios = [c / s for c, s in zip(added["client"], added["server"]) if s > 0]
    print("### Client-side capture vs capquery\n")
    print("`bench/client_capture.py`: SQLAlchemy 1.4 + psycopg2, %d panels (lazy sensors "
          "loads, then one UPDATE per panel); %d alternated rounds; statements recorded: "
          "client %s, server %s.\n" % (PANELS, PAIRS, counts.get("client"), counts.get("server")))
    print("| | median ms |")
    print("|---|---:|")
    print("| workload, no capture | %.1f |" % (1000 * statistics.median(added["none"])))
    print("| added by a before_cursor_execute listener recording every statement | %.2f |"
          % (1000 * statistics.median(added["client"])))
    print("| added by capquery capturing the same run in the server | %.2f |"
          % (1000 * statistics.median(added["server"])))
    print("| time inside the listener per statement (its own cost, no dispatch), µs | %.2f |"
          % (1e6 * statistics.median(inside)))
    if ratios:
        print("\nMedian ratio of added wall time, client / server: **%.2f** (rounds: %s)."
              % (statistics.median(ratios), ", ".join("%.2f" % x for x in ratios)))


if __name__ == "__main__":
    main()
