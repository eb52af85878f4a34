"""capquery_pytest.capture: a capquery capture around a block of code, on any
connection a Python test holds, with assertions raising the server's own text.

The capture belongs to one backend (the *owner*): the test's psycopg2 or
psycopg 3 connection, a SQLAlchemy 1.4 Connection or Session, Django's
connection, or, for an Engine or any other pool, one connection taken from
it while the pool's connections join the capture by label
(``options=-c capquery.session=<label>``).  The ``capq_*`` calls made here are
never captured; they neither open nor end the caller's transaction.
"""
import itertools
import json
import os
import weakref

__all__ = ["CapqueryAssertionError", "Capture", "capture", "session_options"]

# libpq's PQtransactionStatus values, shared by psycopg2 and psycopg 3
_IDLE, _ACTIVE, _INTRANS, _INERROR = 0, 1, 2, 3

# the most recent capture begun on each owner connection: capq_assert_count
# and capq_assert_max read the backend's active or latest capture, so only
# that one may use them
_latest_on = weakref.WeakKeyDictionary()
_labels = itertools.count(1)


class CapqueryAssertionError(AssertionError):
    """A capquery assertion (SQLSTATE P0004) failed.  str() is the server's
    message, DETAIL and HINT exactly as the server wrote them, laid out as
    psql shows them; the parts are also attributes."""

    def __init__(self, message, detail=None, hint=None, sqlstate="P0004"):
        self.message, self.detail, self.hint, self.sqlstate = message, detail, hint, sqlstate
        text = message or ""
        if detail:
            text += "\nDETAIL:  " + detail
        if hint:
            text += "\nHINT:  " + hint
        super().__init__(text)

    @classmethod
    def from_driver_error(cls, err):
        diag = err.diag
        return cls(diag.message_primary, diag.message_detail, diag.message_hint)


def _sqlstate(err):
    """The SQLSTATE of a psycopg2 or psycopg 3 error (None for others)."""
    return getattr(err, "pgcode", None) or getattr(err, "sqlstate", None)


def session_options(label):
    """The libpq ``options`` value that makes a connection join the capture
    labelled ``label`` (spaces escaped as libpq requires)."""
    return "-c capquery.session=" + str(label).replace("\\", "\\\\").replace(" ", "\\ ")


def new_label(prefix="capquery"):
    """A label no other process uses at the same time."""
    return "%s-%d-%d" % (prefix, os.getpid(), next(_labels))


def _owner_of(target):
    """(DBAPI connection, release callable or None, is_pool) for a target."""
    mod = type(target).__module__
    if mod.startswith("sqlalchemy"):
        if hasattr(target, "raw_connection"):          # Engine: a pool
            fairy = target.raw_connection()
            raw = getattr(fairy, "dbapi_connection", None) or fairy.connection
            return raw, fairy.close, True
        if hasattr(target, "get_bind"):                # Session: its connection
            target = target.connection()
        fairy = target.connection                      # Connection
        return getattr(fairy, "dbapi_connection", None) or fairy.connection, None, False
    if mod.startswith("django.") and hasattr(target, "ensure_connection"):
        target.ensure_connection()
        return target.connection, None, False
    if hasattr(target, "cursor"):                      # psycopg2, psycopg 3
        return target, None, False
    raise TypeError("capquery cannot capture on %r: give a psycopg2 or psycopg 3 connection, "
                    "a SQLAlchemy Engine, Connection or Session, or Django's connection" % (target,))


def _status(conn):
    if hasattr(conn, "get_transaction_status"):
        return conn.get_transaction_status()
    return int(conn.info.transaction_status)


class _Owner:
    """Runs capq_* calls on the owner connection without disturbing its
    transaction state."""

    def __init__(self, conn):
        self.conn = conn

    def _execute(self, sql, params):
        cur = self.conn.cursor()
        try:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
        finally:
            cur.close()

    def call(self, sql, params=(), protect=False):
        """Run sql.  Outside a transaction it runs in autocommit, so no BEGIN
        is sent; inside one, protect=True wraps it in a savepoint so that a
        failed assertion leaves the caller's transaction usable.  A P0004
        error becomes CapqueryAssertionError; others are raised unchanged."""
        __tracebackhide__ = True      # pytest: show the test's line, not ours
        conn = self.conn
        status = _status(conn)
        try:
            if status == _IDLE and not conn.autocommit:
                conn.autocommit = True
                try:
                    return self._execute(sql, params)
                finally:
                    conn.autocommit = False
            if status == _INTRANS and protect:
                self._execute("SAVEPOINT capquery_assert", ())
                try:
                    rows = self._execute(sql, params)
                except Exception:
                    self._execute("ROLLBACK TO SAVEPOINT capquery_assert", ())
                    self._execute("RELEASE SAVEPOINT capquery_assert", ())
                    raise
                self._execute("RELEASE SAVEPOINT capquery_assert", ())
                return rows
            return self._execute(sql, params)
        except Exception as err:
            if _sqlstate(err) == "P0004":
                raise CapqueryAssertionError.from_driver_error(err) from None
            if _sqlstate(err) == "42883" and "capq_" in str(err):
                raise RuntimeError("capquery is not installed in this database: run "
                                   "CREATE EXTENSION capquery (the server must also preload it)") from err
            raise


class Capture:
    """One capture.  Use it as a context manager (capq_begin on entry,
    capq_end on exit), then assert on it.  Assertions can also run inside the
    block, on the active capture."""

    def __init__(self, target, label=None, scope="backend", plans="off", snapshots=None):
        self.target = target
        self.conn, self._release, is_pool = _owner_of(target)
        self.label = label
        if is_pool and label is None:
            raise ValueError("a pool's connections join a capture by label: pass label=... and "
                             "connect them with options=%r" % session_options("<label>"))
        self.scope, self.plans = scope, plans
        self.id = None
        self.active = False
        self.statements = None        # capq_end()'s count, once ended
        self._owner = _Owner(self.conn)
        self._snapshots = snapshots

    # ------------------------------------------------------------ lifetime
    def begin(self):
        (self.id,), = self._owner.call("SELECT capq_begin(%s, %s, %s)",
                                       (self.label, self.scope, self.plans))
        self.active = True
        _latest_on[self.conn] = self.id
        return self

    def end(self):
        """End the capture (if active); returns the number of statements."""
        if self.active:
            self.active = False
            if _status(self.conn) == _INERROR:
                # the workload's transaction failed: nothing else can run in it
                self.conn.rollback()
            (self.statements,), = self._owner.call("SELECT capq_end()")
        return self.statements

    def close(self):
        """End the capture and give a pooled owner connection back."""
        try:
            self.end()
        finally:
            if self._release is not None:
                release, self._release = self._release, None
                release()

    def __enter__(self):
        return self.begin()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.end()
        else:
            # the workload's own exception is the one to report, even when the
            # connection it broke cannot end the capture any more
            try:
                self.end()
            except Exception:
                pass
        return False

    def phase(self, name=None):
        """Start the next phase; returns its number."""
        (number,), = self._owner.call("SELECT capq_phase(%s)", (name,))
        return number

    # ------------------------------------------------------------ reading
    def count(self, kind=None):
        (n,), = self._owner.call("SELECT capq_count(%s, %s)", (kind, self.id))
        return n

    def queries(self):
        """Every captured entry, as dicts (the columns of capq_queries())."""
        rows = self._owner.call("SELECT row_to_json(q)::text FROM capq_queries(%s) AS q ORDER BY seq",
                                (self.id,))
        return [json.loads(text) for (text,) in rows]

    def snapshot(self, plans=False):
        (text,), = self._owner.call("SELECT capq_snapshot(%s, %s)", (self.id, plans))
        return text

    # ------------------------------------------------------------ assertions
    def _require_latest(self, what):
        if _latest_on.get(self.conn) != self.id:
            raise RuntimeError("%s reads this connection's latest capture, and capture %s is no longer "
                               "it: assert before beginning the next capture on the same connection"
                               % (what, self.id))

    def assert_count(self, expected, kind=None):
        __tracebackhide__ = True
        self._require_latest("capq_assert_count")
        self._owner.call("SELECT capq_assert_count(%s, %s)", (expected, kind), protect=True)

    def assert_max(self, maximum, kind=None):
        __tracebackhide__ = True
        self._require_latest("capq_assert_max")
        self._owner.call("SELECT capq_assert_max(%s, %s)", (maximum, kind), protect=True)

    def assert_no_repeats(self, max_repeats=1):
        __tracebackhide__ = True
        self._owner.call("SELECT capq_assert_no_repeats(%s, %s)", (max_repeats, self.id), protect=True)

    def assert_same_count(self, other, kind=None):
        __tracebackhide__ = True
        other_id = other.id if isinstance(other, Capture) else other
        self._owner.call("SELECT capq_assert_same_count(%s, %s, %s)", (self.id, other_id, kind),
                         protect=True)

    def assert_snapshot_text(self, expected):
        """Compare with an expected snapshot text (capq_assert_snapshot)."""
        __tracebackhide__ = True
        self._owner.call("SELECT capq_assert_snapshot(%s, %s)", (expected, self.id), protect=True)

    def assert_snapshot(self, name=None, plans=False):
        """Compare with the test's snapshot file, writing it on the first run
        or with --capquery-update (needs the capquery fixture)."""
        __tracebackhide__ = True
        if self._snapshots is None:
            raise RuntimeError("assert_snapshot() needs a capture made by the capquery fixture "
                               "(it knows the test's snapshot file); use assert_snapshot_text()")
        self._snapshots.check(self, name, plans)


def capture(target, label=None, scope="backend", plans="off"):
    """A Capture to use as ``with capture(conn) as cap: ...``."""
    return Capture(target, label=label, scope=scope, plans=plans)
