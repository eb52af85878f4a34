"""capquery_pytest.plugin: the pytest side: options, the capquery_server and
capquery fixtures, snapshot bookkeeping and the end-of-session report.

Which server capquery_server gives (--capquery-server, ini capquery_server):
  auto    (default) the libpq environment's when PGHOST or PGPORT is set,
          else a disposable one
  tmpdb   a disposable server from bin/capquery-tmpdb, one per session (so one
          per xdist worker), stopped at the end of the session
  env     the libpq environment's (PGHOST, PGPORT, PGUSER, PGDATABASE)
  postgresql://...   that server
"""
import os

import pytest

from .capture import Capture, new_label, session_options
from .server import CapqueryServer
from .snapshots import SnapshotBook

_book_key = pytest.StashKey[SnapshotBook]()


def pytest_addoption(parser):
    group = parser.getgroup("capquery", "capquery: capture and assert SQL statements")
    group.addoption("--capquery-update", action="store_true", default=False,
                    help="rewrite __capquery_snapshots__ files with what the tests captured")
    group.addoption("--capquery-server", default=None, metavar="MODE",
                    help="auto (default), tmpdb, env, or a postgresql:// URI")
    group.addoption("--capquery-bindir", default=None, metavar="DIR",
                    help="PostgreSQL binaries for the disposable server")
    group.addoption("--capquery-conf", action="append", default=[], metavar="NAME=VALUE",
                    help="an extra postgresql.conf line for the disposable server (repeatable)")
    parser.addini("capquery_server", "default for --capquery-server", default="auto")


def pytest_configure(config):
    config.stash[_book_key] = SnapshotBook(update=config.getoption("capquery_update"))


def pytest_itemcollected(item):
    if item.path is not None and item.path.suffix == ".py":
        item.config.stash[_book_key].collect(item.path, item.nodeid)


def pytest_terminal_summary(terminalreporter, config):
    book = config.stash.get(_book_key, None)
    if book is None:
        return
    tr = terminalreporter
    if book.written:
        tr.write_sep("-", "capquery snapshots written")
        for path, how in book.written:
            tr.write_line("%s: %s" % (how, os.path.relpath(path)))
    stale = book.stale()
    if stale:
        tr.write_sep("-", "capquery: stale snapshots (no test)", yellow=True)
        for path in stale:
            tr.write_line("stale: %s" % os.path.relpath(path))
        tr.write_line("delete them if their tests are gone for good")


def _server_mode(config):
    mode = config.getoption("capquery_server") or config.getini("capquery_server") or "auto"
    if mode == "auto":
        mode = "env" if os.environ.get("PGHOST") or os.environ.get("PGPORT") else "tmpdb"
    return mode


@pytest.fixture(scope="session")
def capquery_server(request):
    """The server the tests use: a CapqueryServer (host, port, user, dbname,
    params(), dsn(), uri(), sqlalchemy_url(), connect(), configure_django())."""
    config = request.config
    mode = _server_mode(config)
    if mode == "tmpdb":
        server = CapqueryServer.start_tmpdb(bindir=config.getoption("capquery_bindir"),
                                            conf=config.getoption("capquery_conf"))
        request.addfinalizer(server.stop)
        return server
    if mode == "env":
        return CapqueryServer.from_environ()
    if mode.startswith(("postgresql://", "postgres://")):
        return CapqueryServer.from_uri(mode)
    raise pytest.UsageError("--capquery-server: expected auto, tmpdb, env or a postgresql:// URI, "
                            "not %r" % mode)


class Capquery:
    """The capquery fixture: captures bound to the running test."""

    def __init__(self, request):
        self._request = request
        book = request.config.stash[_book_key]
        self._snapshots = book.for_test(request.node.path, request.node.nodeid)
        self._captures = []
        self._label = None

    @property
    def server(self):
        """The capquery_server fixture (started on first use)."""
        return self._request.getfixturevalue("capquery_server")

    @property
    def label(self):
        """A label unique to this test and process, for joining a pool."""
        if self._label is None:
            self._label = new_label("t")
        return self._label

    @staticmethod
    def session_options(label):
        """libpq options that make a connection join the capture `label`."""
        return session_options(label)

    def capture(self, target, label=None, scope="backend", plans="off"):
        """``with capquery.capture(conn) as cap:`` — see capquery_pytest.Capture."""
        cap = Capture(target, label=label, scope=scope, plans=plans, snapshots=self._snapshots)
        self._captures.append(cap)
        return cap

    def _close(self):
        for cap in reversed(self._captures):
            try:
                cap.close()
            except Exception:        # a broken connection must not hide the test's outcome
                pass


@pytest.fixture
def capquery(request):
    """Captures around blocks of the test, with assertions and snapshots."""
    helper = Capquery(request)
    yield helper
    helper._close()
