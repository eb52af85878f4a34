"""capq_report: the review document of a capture, checked in a real browser.

The AlarmPanel/Sensor workload (the N+1 of scripts/demo.sql: the panels,
then one sensors SELECT per panel; then an UPDATE in a second phase, a
failing SELECT 1/0 and a statement whose text is markup) is captured with
plans => 'analyze'.  Its HTML report is written to results/report/ and
opened in Debian's headless chromium: --dump-dom gives the page as the
browser built it, where the timeline, the flagged N+1 shape, the failed
statement and the plans are found by the ids and classes report.c writes;
--screenshot keeps a PNG of the page next to it (a test artifact).  Then the
Markdown and text formats, masking of another role's statements, 53400 on
an overflowed capture (the tiny instance) and 22023 on an unknown format.
"""
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import psycopg2
import pytest

from capq_helpers import PANELS, connect, norm, pg_env

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "results" / "report"
HIDDEN = "<insufficient privilege>"

PANELS_SQL = "SELECT id, mac_address FROM alarm_panels ORDER BY id"
SENSORS_SQL = "SELECT id, kind FROM sensors WHERE panel_id = %s ORDER BY id"
MARKUP_SQL = "SELECT '<script>alert(\"x\")</script> & <b>bold</b> h\u00e9llo \u2603' AS markup"
LABEL = 'alarm <panels> & "sensors"'


# ------------------------------------------------------------------ the page

class Node:
    def __init__(self, tag, attrs):
        self.tag = tag
        self.attrs = dict(attrs)
        self.classes = set((self.attrs.get("class") or "").split())
        self.text = []
        self.children = []

    def descendants(self):
        for child in self.children:
            yield child
            yield from child.descendants()

    @property
    def content(self):
        return "".join(self.text)


class Dom(HTMLParser):
    """Every element of a page with its attributes and its text content
    (its children's included): enough to query by tag, id and class."""
    VOID = {"meta", "br", "img", "input", "link", "hr", "col", "source", "wbr"}

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.nodes = []
        self.stack = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs)
        self.nodes.append(node)
        if self.stack:
            self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data):
        for node in self.stack:
            node.text.append(data)

    def find(self, tag=None, cls=(), id=None):
        cls = {cls} if isinstance(cls, str) else set(cls)
        return [n for n in self.nodes
                if (tag is None or n.tag == tag) and cls <= n.classes
                and (id is None or n.attrs.get("id") == id)]

    def one(self, **kwargs):
        found = self.find(**kwargs)
        assert len(found) == 1, (kwargs, len(found))
        return found[0]


def chromium():
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: run scripts/deps.sh (Debian package chromium)")
    return path


def browser(*args):
    """Run headless chromium with a throwaway profile; its stdout."""
    with tempfile.TemporaryDirectory(prefix="capq-chromium-") as profile:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
             "--user-data-dir=" + profile, *args],
            capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def report(cur, fmt="html", cap=None):
    cur.execute("SELECT capq_report(%s, %s)", (cap, fmt))
    return cur.fetchone()[0]


@pytest.fixture(scope="module")
def demo_tables():
    """alarm_panels and sensors as scripts/demo.sh makes them (5 panels, 3
    sensors each), dropped afterwards."""
    conn = connect()
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS sensors, alarm_panels")
    cur.execute("CREATE TABLE alarm_panels (id serial PRIMARY KEY, mac_address text, is_online boolean)")
    cur.execute("CREATE TABLE sensors (id serial PRIMARY KEY, panel_id int REFERENCES alarm_panels, "
                "kind text, reading numeric)")
    cur.execute("INSERT INTO alarm_panels (mac_address, is_online) "
                "SELECT format('00:11:22:33:44:%%s', to_char(i, 'FM00')), i %% 2 = 1 "
                "FROM generate_series(1, %s) AS i", (PANELS,))
    cur.execute("INSERT INTO sensors (panel_id, kind, reading) "
                "SELECT p.id, k.kind, round((p.id * 10 + k.n)::numeric / 3, 2) "
                "FROM alarm_panels p, (VALUES (1, 'door'), (2, 'motion'), (3, 'smoke')) AS k(n, kind) "
                "ORDER BY p.id, k.n")
    yield
    cur.execute("DROP TABLE IF EXISTS sensors, alarm_panels")
    conn.close()


def run_demo(cur):
    """The captured workload; returns the capture id."""
    cur.execute("SELECT capq_begin(%s, plans => 'analyze')", (LABEL,))
    cap = cur.fetchone()[0]
    cur.execute(PANELS_SQL)
    for (panel_id, _mac) in cur.fetchall():
        cur.execute(SENSORS_SQL, (panel_id,))
    cur.execute("SELECT capq_phase('save')")
    cur.execute("UPDATE sensors SET reading = reading + 1 WHERE panel_id = 1")
    with pytest.raises(psycopg2.Error) as excinfo:
        cur.execute("SELECT 1/0")
    assert excinfo.value.pgcode == "22012"
    cur.execute(MARKUP_SQL)
    cur.execute("SELECT capq_end()")
    return cap


@pytest.fixture(scope="module")
def demo(demo_tables):
    """The demo capture's HTML report, written to results/report/, and the
    page as chromium built it (its DOM)."""
    conn = connect()
    cur = conn.cursor()
    cap = run_demo(cur)
    cur.execute("SELECT capq_count(capture => %s)", (cap,))
    count = cur.fetchone()[0]
    cur.execute("SELECT capq_fingerprint(%s)", (SENSORS_SQL % 1,))
    sensors_shape = cur.fetchone()[0]
    html = report(cur, cap=cap)
    markdown = report(cur, "markdown", cap)
    text = report(cur, "text", cap)
    conn.close()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = ARTIFACTS / "report-demo.html"
    page.write_text(html, encoding="utf-8")
    (ARTIFACTS / "report-demo.md").write_text(markdown, encoding="utf-8")
    (ARTIFACTS / "report-demo.txt").write_text(text, encoding="utf-8")
    dom = browser("--dump-dom", page.as_uri())
    (ARTIFACTS / "report-demo.dom.html").write_text(dom, encoding="utf-8")
    return {"cap": cap, "count": count, "sensors_shape": sensors_shape, "html": html,
            "markdown": markdown, "text": text, "page": page, "dom": Dom(dom)}


# ------------------------------------------------------------ in the browser

def test_page_is_self_contained(demo):
    """No scripts, no stylesheets or images fetched, links only within the
    page; the page is ASCII (non-ASCII as character references)."""
    dom = demo["dom"]
    assert dom.find(tag="script") == []
    assert dom.find(tag="link") == [] and dom.find(tag="img") == []
    assert dom.find(tag="iframe") == [] and dom.find(tag="object") == []
    for node in dom.nodes:
        assert "src" not in node.attrs, node.tag
        href = node.attrs.get("href")
        assert href is None or href.startswith("#"), href
        assert not any(a.startswith("on") for a in node.attrs), node.attrs
    assert len(dom.find(tag="style")) == 1
    demo["html"].encode("ascii")


def test_header_in_the_browser(demo):
    dom = demo["dom"]
    header = dom.one(tag="header", id="summary")
    # the label is text on the page, not markup
    assert LABEL in dom.one(tag="title").content
    assert LABEL in dom.one(tag="span", cls="label").content
    facts = {}
    for fact in dom.find(cls="fact", tag="div"):
        key, value = [c.content for c in fact.children]
        facts[key] = value
    assert fact is not None and header.content.startswith("capquery report")
    assert facts["Owner"] == pg_env()["user"]
    assert facts["Scope"] == "backend" and facts["Plans"] == "analyze"
    assert facts["Statements"] == str(demo["count"])
    assert facts["Lost"] == "0" and facts["Likely N+1 shapes"] == "1"
    assert facts["Capture"] == "%d (ended)" % demo["cap"]
    assert re.fullmatch(r"~? ?[0-9.]+ m?s", facts["Time span"]), facts["Time span"]
    kinds = dom.one(id="kinds").content.replace(" ", "")
    assert "select%d" % (1 + PANELS + 1) in kinds or "select%d" % (1 + PANELS + 2) in kinds, kinds
    assert "update1" in kinds


def test_timeline_in_the_browser(demo):
    """One bar per statement, in order, linked to its row; phases as bands."""
    dom = demo["dom"]
    dom.one(tag="section", id="timeline")
    bars = dom.find(tag="a", cls="tl-bar")
    assert len(bars) == demo["count"]
    assert [b.attrs["href"] for b in bars] == ["#stmt-%d" % i for i in range(1, demo["count"] + 1)]
    assert all(b.attrs["style"].startswith("left:") for b in bars)
    assert sum("k-select" in b.classes for b in bars) >= 1 + PANELS
    assert sum("k-update" in b.classes for b in bars) == 1
    # starts never go back in a single backend's capture
    lefts = [float(re.match(r"left:([0-9.]+)%", b.attrs["style"]).group(1)) for b in bars]
    assert lefts == sorted(lefts)
    assert len(dom.find(cls="tl-band")) == 2
    phases = [p.content for p in dom.find(cls="tl-phase")]
    assert phases[0] == "1" and phases[1].startswith("2") and "save" in phases[1]
    # the rows of the repeated shape are marked: the N+1 on the time axis
    marked = dom.find(tag="div", cls=("tl-row", "nplus1"))
    assert len(marked) == PANELS
    assert all("FROM sensors WHERE panel_id" in m.content for m in marked)
    # the markup statement is text in its label, not elements
    labels = [n.content for n in dom.find(cls="tl-label")]
    assert any("<script>alert(" in t for t in labels)


def test_nplus1_shape_flagged_first_in_the_browser(demo):
    dom = demo["dom"]
    dom.one(tag="section", id="shapes")
    rows = dom.find(tag="tr", cls="shape")
    assert rows, "no shape rows"
    repeated = dom.find(tag="tr", cls=("shape", "repeated"))
    assert len(repeated) == 1
    assert rows[0] is repeated[0], "the repeated shape is not sorted first"
    row = repeated[0]
    assert row.attrs["data-fingerprint"] == demo["sensors_shape"]
    assert "N+1?" in row.content
    assert "SELECT id, kind FROM sensors WHERE panel_id = $1 ORDER BY id" in row.content
    cells = [c.content.strip() for c in row.children if c.tag == "td"]
    assert cells[3] == str(PANELS), cells        # executions
    assert cells[4] == str(PANELS * 3), cells    # rows
    assert cells[7] == "sensors", cells
    # the slowest execution's plan of the shape, collapsed
    plan = [d for d in row.descendants() if d.tag == "details" and "shape-plan" in d.classes]
    assert len(plan) == 1 and "Seq Scan on sensors" in plan[0].content


def test_plans_in_the_browser(demo):
    dom = demo["dom"]
    plans = dom.find(tag="details", cls="plan")
    assert plans, "no plan on the page"
    stmt_plans = [p for p in plans if "shape-plan" not in p.classes]
    # every statement that ran has its plan (plans => 'analyze')
    ran = [r for r in dom.find(tag="tr", cls="stmt") if "failed" not in r.classes]
    assert len(stmt_plans) == len(ran) >= demo["count"] - 1
    assert any("Index Scan using alarm_panels_pkey" in p.content or "Seq Scan on alarm_panels" in p.content
               for p in stmt_plans)
    assert any("actual rows=" in p.content for p in stmt_plans)
    # collapsed: the browser shows only the summary until clicked
    assert all("open" not in p.attrs for p in plans)


def test_statements_in_the_browser(demo):
    dom = demo["dom"]
    rows = dom.find(tag="tr", cls="stmt")
    assert len(rows) == demo["count"]
    assert rows[0].attrs["id"] == "stmt-1" and PANELS_SQL in rows[0].content
    assert any(SENSORS_SQL % PANELS in r.content for r in rows)
    # markup and non-ASCII text arrive as the application wrote them
    assert any("<script>alert(\"x\")</script> & <b>bold</b> h\u00e9llo \u2603" in r.content for r in rows)
    assert [p.content for p in dom.find(tag="tr", cls="phase-row")] == ["Phase 1", "Phase 2 \u00b7 save"]
    # each statement links to its shape's row; the N+1 ones to the first
    sensors_rows = [r for r in rows if "FROM sensors WHERE panel_id" in r.content]
    assert len(sensors_rows) == PANELS
    for row in sensors_rows:
        links = [a for a in row.descendants() if a.tag == "a" and "shape-link" in a.classes]
        assert [(a.attrs["href"], a.content) for a in links] == [("#shape-1", "N+1?")]


def test_failed_statement_in_the_browser(demo):
    dom = demo["dom"]
    failed = dom.find(tag="tr", cls=("stmt", "failed"))
    assert len(failed) == 1
    assert "SELECT 1/0" in failed[0].content
    assert "22012" in failed[0].content and "division by zero" in failed[0].content
    assert len(dom.find(tag="a", cls=("tl-bar", "failed"))) == 1
    assert "Failed1" in dom.one(id="summary").content.replace(" ", "")


def test_screenshot(demo):
    """A PNG of the page as a DBA sees it, kept in results/report/."""
    png = ARTIFACTS / "report-demo.png"
    if png.exists():
        png.unlink()
    browser("--hide-scrollbars", "--screenshot=%s" % png, "--window-size=1400,2000",
            demo["page"].as_uri())
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20000, "an almost empty screenshot (%d bytes)" % len(data)


# ------------------------------------------------------- markdown and text

def test_markdown_report(demo):
    md = demo["markdown"]
    assert md.startswith("# capquery report\n")
    for heading in ("## Timeline", "## Statement shapes", "## Statements"):
        assert "\n%s\n" % heading in md
    # the header table, markdown punctuation escaped
    assert '| **Label** | alarm \\<panels\\> \\& "sensors" |' in md
    assert "| **Owner** | %s |" % pg_env()["user"] in md
    # the repeated shape first in the table, flagged
    table = [l for l in md.splitlines() if l.startswith("| ") and demo["sensors_shape"] in l]
    assert table and table[0].startswith("| **N+1?** | 1 | `%s` select |" % demo["sensors_shape"])
    assert "| %d |" % PANELS in table[0]
    first_row = next(l for l in md.splitlines() if l.startswith("| ") and "`" in l and "**N+1?**" in l)
    assert first_row == table[0]
    # the timeline is a code block with one line per statement
    timeline = md.split("## Timeline")[1].split("## Statement shapes")[0]
    assert len(re.findall(r"^#\d+ +\|[ =X]+\|", timeline, re.M)) == demo["count"]
    assert len(re.findall(r"^#\d+ +\|.* select +N\+1\? SELECT id, kind FROM sensors", timeline, re.M)) == PANELS
    # plans collapsed
    failed = len(demo["dom"].find(tag="tr", cls=("stmt", "failed")))
    assert md.count("<details><summary>Plan</summary>") == demo["count"] - failed
    assert "Seq Scan on sensors" in md
    # the markup stays inside a code block
    assert "<script>" not in md.replace("```sql\n" + MARKUP_SQL, "").split("```")[0]


def test_text_report(demo):
    text = demo["text"]
    assert text.startswith("capquery report\n===============\n")
    assert "Label:             %s\n" % LABEL in text
    assert "[N+1?] phase 1, select, shape %s: %d executions" % (demo["sensors_shape"], PANELS) in text
    assert "Timeline\n--------" in text and "Statements\n----------" in text
    assert len(re.findall(r"^#\d+ +\|[ =X]+\|", text, re.M)) == demo["count"]
    assert "Seq Scan on sensors" in text
    assert MARKUP_SQL in text


def test_nesting_indented_in_the_browser(demo_tables, tmp_path):
    """With capquery.track = 'all' a function's statements are nested: their
    timeline rows are indented and marked, their bars start inside their
    caller's."""
    conn = connect()
    cur = conn.cursor()
    cur.execute("SET capquery.track = 'all'")
    cur.execute("CREATE FUNCTION pg_temp.panel_sensor_count(p int) RETURNS bigint LANGUAGE plpgsql AS "
                "$$ BEGIN RETURN (SELECT count(*) FROM sensors WHERE panel_id = p); END $$")
    cur.execute("SELECT pg_temp.panel_sensor_count(1)")
    cur.execute("SELECT capq_begin()")
    cur.execute("SELECT pg_temp.panel_sensor_count(2)")
    cur.execute("SELECT capq_end()")
    html = report(cur)
    conn.close()
    page = tmp_path / "nested.html"
    page.write_text(html, encoding="utf-8")
    dom = Dom(browser("--dump-dom", page.as_uri()))
    labels = dom.find(tag="a", cls="tl-label")
    assert len(labels) == 2
    assert "panel_sensor_count(2)" in labels[0].content and "\u21b3" not in labels[0].content
    assert "\u21b3" in labels[1].content and "FROM sensors WHERE panel_id = p" in labels[1].content
    pad = [int(re.search(r"padding-left:(\d+)px", l.attrs["style"]).group(1)) for l in labels]
    assert pad[1] > pad[0]
    bars = dom.find(tag="a", cls="tl-bar")
    left = [float(re.match(r"left:([0-9.]+)%;width:([0-9.]+)%", b.attrs["style"]).group(1)) for b in bars]
    width = [float(re.match(r"left:([0-9.]+)%;width:([0-9.]+)%", b.attrs["style"]).group(2)) for b in bars]
    assert left[0] <= left[1] and left[1] + width[1] <= left[0] + width[0] + 0.01
    assert "nested 1" in dom.one(tag="tr", id="stmt-2").content


def test_large_capture_is_bounded(conn):
    """Beyond 5,000 statements the timeline and the list stop, and say so;
    the header and the shape table still count every statement."""
    cur = conn.cursor()
    cur.execute("SELECT capq_begin()")
    for i in range(5010):
        cur.execute("SELECT %s AS n", (i,))
    cur.execute("SELECT capq_end()")
    html = report(cur)
    assert html.count('<a class="tl-bar') == 5000
    assert html.count('<tr class="stmt') == 5000
    assert "The first 5000 of 5010 statements are drawn" in html
    assert "The first 5000 of 5010 statements are listed" in html
    dom = Dom(html)
    row = dom.one(tag="tr", cls=("shape", "repeated"))
    assert [c.content for c in row.children if c.tag == "td"][3] == "5010"
    text = report(cur, "text")
    assert len(re.findall(r"^#\d+ +\|", text, re.M)) == 5000
    assert "The first 5000 of 5010 statements are drawn." in text


def test_hostile_texts_stay_text(demo_tables):
    """A statement holding a code fence, pipes, a terminal escape sequence
    and HTML cannot break out of any format."""
    conn = connect()
    cur = conn.cursor()
    hostile = "SELECT '```\n# owned | x </pre></td><script>bad()</script> \x1b[2J' AS \"a | b\""
    cur.execute("SELECT capq_begin()")
    cur.execute(hostile)
    cur.execute("SELECT capq_end()")
    html, md, text = report(cur), report(cur, "markdown"), report(cur, "text")
    conn.close()
    assert "<script>bad()" not in html and "&lt;script&gt;bad()" in html
    assert "\x1b" not in html and "\x1b" not in md and "\x1b" not in text
    assert "\\x1b[2J" in text
    # in Markdown the statement sits in a fence longer than the one it holds
    fence = re.search(r"^(`{4,})sql\n", md, re.M)
    assert fence, md
    block = md[fence.end():]
    assert block.index("\n" + fence.group(1) + "\n") > block.index("```\n# owned")
    # and in the shape table (the literal is a $1 there), pipes are escaped
    row = next(l for l in md.splitlines() if l.startswith("| ") and "AS" in l)
    assert '`` SELECT $1 AS "a \\| b" ``' in row or '` SELECT $1 AS "a \\| b" `' in row, row


# ------------------------------------------------- masking, 53400, 22023

@pytest.fixture
def roles():
    suffix = uuid.uuid4().hex[:8]
    names = {"owner": "capq_rep_owner_" + suffix, "lead": "capq_rep_lead_" + suffix}
    admin = connect()
    cur = admin.cursor()
    cur.execute("CREATE ROLE %(owner)s LOGIN" % names)
    cur.execute("CREATE ROLE %(lead)s LOGIN IN ROLE %(owner)s" % names)
    yield names
    cur.execute("DROP ROLE IF EXISTS %(lead)s" % names)
    cur.execute("DROP ROLE IF EXISTS %(owner)s" % names)
    admin.close()


def test_other_roles_statements_are_masked(roles):
    """lead captures owner's backend (it has owner's privileges, so the
    statements join), then loses them: the report masks what owner ran,
    its text, parameters and plan, in every format."""
    env = pg_env()
    label = "rep-%s" % uuid.uuid4().hex[:8]

    def as_role(role, **kwargs):
        return psycopg.connect(host=env["host"], port=env["port"], dbname=env["dbname"],
                               user=role, autocommit=True, **kwargs)

    lead = as_role(roles["lead"])
    owner = as_role(roles["owner"], options="-c capquery.session=%s" % label)
    try:
        lead.execute("SELECT capq_begin(%s, plans => 'on')", (label,))
        lead.execute("SELECT 'lead statement' AS visible_marker")
        for i in range(3):
            owner.execute("SELECT %s::text AS secret_value_of_owner", ("secret-%d" % i,))
        admin = connect()
        admin.cursor().execute("REVOKE %(owner)s FROM %(lead)s" % roles)
        admin.close()
        docs = {fmt: lead.execute("SELECT capq_report(format => %s)", (fmt,)).fetchone()[0]
                for fmt in ("html", "markdown", "text")}
        lead.execute("SELECT capq_end()")
    finally:
        owner.close()
        lead.close()
    hidden = {"html": "&lt;insufficient privilege&gt;", "markdown": HIDDEN, "text": HIDDEN}
    for fmt, doc in docs.items():
        assert "visible_marker" in doc, fmt
        assert "secret_value_of_owner" not in doc and "secret-" not in doc, fmt
        assert doc.count(hidden[fmt]) >= 3 * 2, fmt      # text and plan of each
        owner_name = roles["owner"].replace("_", "\\_") if fmt == "markdown" else roles["owner"]
        assert owner_name in doc, fmt                    # who ran it is not hidden
    dom = Dom(docs["html"])
    masked = [r for r in dom.find(tag="tr", cls="stmt") if HIDDEN in r.content]
    assert len(masked) == 3
    assert all(roles["owner"] in r.content for r in masked)


def test_overflowed_capture_is_refused_with_53400():
    for var in ("CAPQ_TINY_HOST", "CAPQ_TINY_PORT"):
        if not os.environ.get(var):
            pytest.fail("%s is not exported: run through test/run-all.sh" % var)
    conn = psycopg2.connect(host=os.environ["CAPQ_TINY_HOST"], port=int(os.environ["CAPQ_TINY_PORT"]),
                            user=os.environ.get("PGUSER", "postgres"),
                            dbname=os.environ.get("PGDATABASE", "postgres"))
    conn.autocommit = True
    cur = conn.cursor()
    try:
        cur.execute("SELECT capq_begin('report-overflow')")
        cap = cur.fetchone()[0]
        for i in range(1000):
            cur.execute("SELECT %d, '%s'" % (i, "x" * 100))
        cur.execute("SELECT capq_end()")
        cur.execute("SELECT lost FROM capq_sessions() WHERE capture = %s", (cap,))
        lost = cur.fetchone()[0]
        assert lost > 0
        for fmt in ("html", "markdown", "text"):
            with pytest.raises(psycopg2.Error) as excinfo:
                cur.execute("SELECT capq_report(%s, %s)", (cap, fmt))
            assert excinfo.value.pgcode == "53400"
            assert excinfo.value.diag.message_primary == (
                "capture %d lost %d of its 1000 statements" % (cap, lost))
    finally:
        conn.close()


def test_unknown_format_is_22023(conn):
    cur = conn.cursor()
    cur.execute("SELECT capq_begin()")
    cur.execute("SELECT 1")
    cur.execute("SELECT capq_end()")
    for bad in ("pdf", "HTML", ""):
        with pytest.raises(psycopg2.Error) as excinfo:
            cur.execute("SELECT capq_report(format => %s)", (bad,))
        assert excinfo.value.pgcode == "22023"
        assert excinfo.value.diag.message_primary == 'unknown report format "%s"' % bad
        assert excinfo.value.diag.message_hint == "Use 'html', 'markdown' or 'text'."
    with pytest.raises(psycopg2.Error) as excinfo:
        cur.execute("SELECT capq_report(format => NULL)")
    assert excinfo.value.pgcode == "22004"
    # the default capture and the default format
    cur.execute("SELECT capq_report()")
    assert cur.fetchone()[0].startswith("<!DOCTYPE html>")


def test_no_capture_is_55000(new_conn):
    cur = new_conn().cursor()
    with pytest.raises(psycopg2.Error) as excinfo:
        cur.execute("SELECT capq_report()")
    assert excinfo.value.pgcode == "55000"
