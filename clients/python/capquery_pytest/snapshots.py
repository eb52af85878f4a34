"""capquery_pytest.snapshots: snapshot files as pytest users expect them:
<test dir>/__capquery_snapshots__/<module>/<test>[.<name>].sql, written on
the first run (or with --capquery-update), otherwise compared by the server
(capq_assert_snapshot, whose failure carries a unified diff); files that no
collected test owns are reported at the end of the session.
"""
import re
from pathlib import Path

SNAPSHOT_DIR = "__capquery_snapshots__"

_UNSAFE = re.compile(r"[^A-Za-z0-9_.,=+\[\]-]")


def snapshot_key(nodeid):
    """The file stem of a test: its node id after the module, with '::'
    (classes) as '.', and characters unsafe in file names as '_'."""
    parts = nodeid.split("::")[1:]
    return _UNSAFE.sub("_", ".".join(parts))


def module_dir(module_path):
    module_path = Path(module_path)
    return module_path.parent / SNAPSHOT_DIR / module_path.stem


class SnapshotBook:
    """What this session did with snapshot files."""

    def __init__(self, update):
        self.update = update
        self.collected = {}      # module path -> set of test keys
        self.written = []        # (path, "new" | "updated")

    def collect(self, module_path, nodeid):
        self.collected.setdefault(Path(module_path), set()).add(snapshot_key(nodeid))

    def for_test(self, module_path, nodeid):
        return SnapshotFiles(self, Path(module_path), snapshot_key(nodeid))

    def stale(self):
        """Snapshot files with no collected test, in the snapshot directories
        next to the collected modules."""
        found = []
        roots = {path.parent / SNAPSHOT_DIR for path in self.collected}
        for root in sorted(roots):
            if not root.is_dir():
                continue
            for mdir in sorted(p for p in root.iterdir() if p.is_dir()):
                module = mdir.parent.parent / (mdir.name + ".py")
                keys = self.collected.get(module)
                if not module.exists():
                    found += sorted(mdir.glob("*.sql"))
                    continue
                if keys is None:
                    continue       # module not collected in this run: no opinion
                for f in sorted(mdir.glob("*.sql")):
                    stem = f.name[:-len(".sql")]
                    if not any(stem == k or stem.startswith(k + ".") for k in keys):
                        found.append(f)
        return found


class SnapshotFiles:
    """The snapshot files of one test."""

    def __init__(self, book, module_path, key):
        self.book, self.key = book, key
        self.dir = module_dir(module_path)
        self.used = set()

    def path(self, name=None):
        return self.dir / ("%s.sql" % self.key if name is None else "%s.%s.sql" % (self.key, name))

    def check(self, cap, name=None, plans=False):
        __tracebackhide__ = True
        if name is not None and _UNSAFE.search(str(name)):
            raise ValueError("snapshot name %r: use letters, digits, '_', '-', '.'" % (name,))
        path = self.path(name)
        if path in self.used:
            raise ValueError("this test already compared %s: give each snapshot of a test its own "
                             "name (assert_snapshot(name=...))" % path)
        self.used.add(path)
        if self.book.update or not path.exists():
            text = cap.snapshot(plans=plans)
            if not text.endswith("\n"):
                text += "\n"
            old = path.read_text() if path.exists() else None
            if old != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                self.book.written.append((path, "new" if old is None else "updated"))
            return
        try:
            cap.assert_snapshot_text(path.read_text())
        except AssertionError as err:
            if hasattr(err, "add_note"):
                err.add_note("snapshot file: %s (run pytest with --capquery-update to accept the "
                             "captured statements)" % path)
            raise
