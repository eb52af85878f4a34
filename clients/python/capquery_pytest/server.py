"""capquery_pytest.server: the PostgreSQL a test session talks to: a disposable
one started with bin/capquery-tmpdb, or an existing one named by the libpq
environment (PGHOST, PGPORT, ...) or by a postgresql:// URI.

A CapqueryServer hands out connection parameters in each library's form, with
an optional capquery.session label so that a pool joins a capture.
"""
import os
import shlex
import subprocess
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from .capture import session_options

__all__ = ["CapqueryServer", "TMPDB"]

# clients/python/capquery_pytest/server.py -> the repository's bin/
TMPDB = Path(__file__).resolve().parents[3] / "bin" / "capquery-tmpdb"


class CapqueryServer:
    """Connection parameters of one server (host may be a socket directory)."""

    def __init__(self, host, port, user, dbname, tmpdb_dir=None, tmpdb=None):
        self.host, self.port, self.user, self.dbname = host, int(port), user, dbname
        self.tmpdb_dir = tmpdb_dir      # set when we started it
        self._tmpdb = tmpdb

    # ------------------------------------------------------------ making one
    @classmethod
    def start_tmpdb(cls, bindir=None, conf=(), tmpdb=None):
        """Start a disposable server; it stops when stop() is called or this
        process exits."""
        tmpdb = str(tmpdb or os.environ.get("CAPQUERY_TMPDB_CMD") or TMPDB)
        cmd = [tmpdb, "start", "--parent", str(os.getpid())]
        if bindir:
            cmd += ["--bindir", bindir]
        for line in conf:
            cmd += ["--conf", line]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             universal_newlines=True).stdout
        env = {}
        for line in out.splitlines():
            words = shlex.split(line)
            if words[:1] == ["export"]:
                env.update(w.split("=", 1) for w in words[1:])
        return cls(env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"],
                   tmpdb_dir=env["CAPQUERY_TMPDB"], tmpdb=tmpdb)

    @classmethod
    def from_environ(cls, environ=os.environ):
        return cls(environ.get("PGHOST") or "/var/run/postgresql", environ.get("PGPORT") or 5432,
                   environ.get("PGUSER") or "postgres",
                   environ.get("PGDATABASE") or environ.get("PGUSER") or "postgres")

    @classmethod
    def from_uri(cls, uri):
        parts = urlsplit(uri)
        query = dict(q.split("=", 1) for q in parts.query.split("&") if "=" in q)
        return cls(unquote(query.get("host") or parts.hostname or "/var/run/postgresql"),
                   query.get("port") or parts.port or 5432,
                   unquote(parts.username or "postgres"),
                   unquote(parts.path.lstrip("/")) or "postgres")

    def stop(self):
        """Stop a server this process started (nothing otherwise)."""
        if self.tmpdb_dir:
            subprocess.run([self._tmpdb, "stop", self.tmpdb_dir], check=True, stdin=subprocess.DEVNULL)
            self.tmpdb_dir = None

    # ------------------------------------------------------------ parameters
    def params(self, dbname=None, session=None):
        """Keyword arguments for psycopg2.connect / psycopg.connect."""
        kw = {"host": self.host, "port": self.port, "user": self.user, "dbname": dbname or self.dbname}
        if session is not None:
            kw["options"] = session_options(session)
        return kw

    @property
    def env(self):
        """The libpq environment variables for this server."""
        return {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
                "PGDATABASE": self.dbname}

    def dsn(self, dbname=None, session=None):
        """A libpq keyword/value connection string."""
        def q(v):
            return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"
        return " ".join("%s=%s" % (k, q(v)) for k, v in self.params(dbname, session).items())

    def uri(self, dbname=None, session=None, scheme="postgresql"):
        """A postgresql:// URI (scheme='postgresql+psycopg2' for SQLAlchemy)."""
        dbname = dbname or self.dbname
        query = []
        if self.host.startswith("/"):
            netloc = quote(self.user, safe="") + "@"
            query.append("host=" + quote(self.host, safe="/"))
            query.append("port=%d" % self.port)
        else:
            netloc = "%s@%s:%d" % (quote(self.user, safe=""), self.host, self.port)
        if session is not None:
            query.append("options=" + quote(session_options(session), safe=""))
        return "%s://%s/%s%s" % (scheme, netloc, quote(dbname, safe=""),
                                 "?" + "&".join(query) if query else "")

    def sqlalchemy_url(self, dbname=None, session=None, driver="psycopg2"):
        return self.uri(dbname, session, scheme="postgresql+" + driver)

    def connect(self, dbname=None, session=None, autocommit=True, driver="psycopg2"):
        """A new connection (psycopg2, or driver='psycopg' for psycopg 3)."""
        if driver == "psycopg":
            import psycopg
            return psycopg.connect(autocommit=autocommit, **self.params(dbname, session))
        import psycopg2
        conn = psycopg2.connect(**self.params(dbname, session))
        conn.autocommit = autocommit
        return conn

    def django_settings(self, dbname=None):
        """HOST/PORT/USER/NAME for a Django DATABASES entry."""
        return {"ENGINE": "django.db.backends.postgresql", "HOST": self.host,
                "PORT": str(self.port), "USER": self.user, "NAME": dbname or self.dbname}

    def configure_django(self, alias="default", dbname=None):
        """Point Django's database `alias` at this server (call it from a
        django_db_modify_db_settings fixture)."""
        from django.conf import settings
        settings.DATABASES[alias].update(self.django_settings(dbname))

    def __repr__(self):
        return "CapqueryServer(host=%r, port=%d, user=%r, dbname=%r%s)" % (
            self.host, self.port, self.user, self.dbname,
            ", tmpdb_dir=%r" % self.tmpdb_dir if self.tmpdb_dir else "")
