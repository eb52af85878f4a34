#!/usr/bin/env python3
# bench/gen_realistic.py: a deterministic workload of realistic statements,
# for measuring capquery's readers on a capture that looks like a real one.
#
#   gen_realistic.py schema            the fixture (tables), run before capturing
#   gen_realistic.py workload N        N statements, one per line, each valid
#
# The mix imitates what an ORM-driven test suite (or PostgreSQL's own
# regression suite, 44,185 statements of 23,251 shapes, 7.6 MB) sends: long
# SELECTs naming every column with aliases over one to four joined tables,
# INSERT/UPDATE/DELETE ... RETURNING, DDL on scratch tables, transaction
# control and savepoints, sqlcommenter comments, IN lists, string literals
# with quotes, casts.  About half the statements have a shape not seen
# before (23,000 of 44,000 for N = 44,000); the rest repeat an earlier shape
# with other literals.  Texts average about 170 bytes.  The same N gives the
# same bytes on every run (a fixed seed).
import random
import sys

SEED = 20261201
NTABLES = 48
WORDS = ("account alarm panel sensor reading event user order item invoice "
         "payment shipment address contact device firmware zone site region "
         "tenant plan subscription ticket comment tag label note audit").split()
COLTYPES = [("int", "int"), ("bigint", "int"), ("text", "text"),
            ("boolean", "bool"), ("numeric(12,2)", "num"),
            ("timestamptz", "ts"), ("varchar(64)", "text")]


def tables(rng):
    """[(name, [(column, kind)])]: the schema, the same on every call."""
    out = []
    for t in range(NTABLES):
        name = "%s_%d" % (WORDS[t % len(WORDS)], t)
        cols = [("id", "int"), ("created_at", "ts"), ("updated_at", "ts")]
        for c in range(rng.randint(6, 16)):
            typ, kind = COLTYPES[rng.randrange(len(COLTYPES))]
            cols.append(("%s_%d" % (("code", "name", "value", "flag", "count")[c % 5], c),
                         kind, typ))
        cols[0] = ("id", "int", "serial")
        cols[1] = ("created_at", "ts", "timestamptz")
        cols[2] = ("updated_at", "ts", "timestamptz")
        # a reference to the previous table, for joins
        cols.append(("parent_id", "int", "int"))
        out.append((name, cols))
    return out


def literal(rng, kind):
    if kind == "int":
        return str(rng.randint(1, 100000))
    if kind == "num":
        return "%d.%02d" % (rng.randint(0, 9999), rng.randint(0, 99))
    if kind == "bool":
        return rng.choice(("true", "false"))
    if kind == "ts":
        return "'2026-%02d-%02d %02d:%02d:00+00'" % (
            rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59))
    words = [rng.choice(WORDS) for _ in range(rng.randint(1, 3))]
    s = " ".join(words)
    if rng.random() < 0.1:
        s += "'s"
    return "'" + s.replace("'", "''") + "'"


def schema():
    rng = random.Random(SEED)
    lines = []
    for name, cols in tables(rng):
        lines.append("CREATE TABLE %s (%s);" % (
            name, ", ".join("%s %s%s" % (c, typ, " PRIMARY KEY" if c == "id" else "")
                            for c, _, typ in cols)))
    return lines


class Template:
    """A statement shape: a function of (rng) -> text with fresh literals."""

    def __init__(self, render):
        self.render = render


def make_select(rng, tabs):
    nj = rng.choice((0, 0, 0, 0, 1, 1, 1, 2))
    first = rng.randrange(len(tabs))
    chosen = [tabs[(first + k) % len(tabs)] for k in range(nj + 1)]
    aliases = ["%s_%d" % (chosen[k][0][0], k + 1) for k in range(nj + 1)]
    sel = []
    for (tname, cols), a in zip(chosen, aliases):
        picked = [c for c in cols if rng.random() < 0.55] or [cols[0]]
        sel += ["%s.%s AS %s_%s" % (a, c[0], a, c[0]) for c in picked[:4]]
    frm = "%s AS %s" % (chosen[0][0], aliases[0])
    for k in range(1, nj + 1):
        frm += " %s %s AS %s ON %s.id = %s.parent_id" % (
            rng.choice(("JOIN", "LEFT OUTER JOIN")), chosen[k][0], aliases[k],
            aliases[k - 1], aliases[k])
    cols0 = chosen[0][1]
    wc = cols0[rng.randrange(len(cols0))]
    style = rng.randrange(4)
    order = " ORDER BY %s.id" % aliases[0] if rng.random() < 0.5 else ""
    limit = " LIMIT %d" % rng.choice((1, 10, 20, 50)) if rng.random() < 0.4 else ""
    comment = ""
    if rng.random() < 0.15:
        comment = " /*controller='%s',action='%s'*/" % (rng.choice(WORDS), rng.choice(WORDS))
    head = "SELECT %s FROM %s WHERE " % (", ".join(sel), frm)

    def render(r):
        if style == 0:
            where = "%s.id = %s" % (aliases[0], r.randint(1, 100000))
        elif style == 1:
            where = "%s.%s = %s" % (aliases[0], wc[0], literal(r, wc[1]))
        elif style == 2:
            where = "%s.id IN (%s)" % (aliases[0], ", ".join(
                str(r.randint(1, 100000)) for _ in range(r.randint(2, 12))))
        else:
            where = "%s.%s IS NOT NULL AND %s.id > %s::int" % (
                aliases[0], wc[0], aliases[0], r.randint(1, 1000))
        return head + where + order + limit + comment
    return Template(render)


def make_insert(rng, tabs):
    tname, cols = tabs[rng.randrange(len(tabs))]
    picked = [c for c in cols[1:] if rng.random() < 0.4] or [cols[1]]
    ret = rng.choice(("id", "id, created_at", "*"))

    def render(r):
        return "INSERT INTO %s (%s) VALUES (%s) RETURNING %s" % (
            tname, ", ".join(c[0] for c in picked),
            ", ".join(literal(r, c[1]) for c in picked), ret)
    return Template(render)


def make_update(rng, tabs):
    tname, cols = tabs[rng.randrange(len(tabs))]
    picked = [c for c in cols[3:] if rng.random() < 0.3] or [cols[3]]
    ret = " RETURNING id, updated_at" if rng.random() < 0.6 else ""

    def render(r):
        return "UPDATE %s SET %s, updated_at = now() WHERE id = %s%s" % (
            tname, ", ".join("%s = %s" % (c[0], literal(r, c[1])) for c in picked),
            r.randint(1, 100000), ret)
    return Template(render)


def make_delete(rng, tabs):
    tname, cols = tabs[rng.randrange(len(tabs))]
    c = cols[rng.randrange(3, len(cols))]

    def render(r):
        return "DELETE FROM %s WHERE %s = %s AND id < %s RETURNING id" % (
            tname, c[0], literal(r, c[1]), r.randint(1, 100000))
    return Template(render)


def workload(n):
    rng = random.Random(SEED)
    tabs = [(name, [(c, k) for c, k, _ in cols]) for name, cols in tables(rng)]
    rng = random.Random(SEED + n)
    pool = []
    makers = ((make_select, 62), (make_insert, 14), (make_update, 12), (make_delete, 4))
    total = sum(w for _, w in makers)
    scratch = 0
    out = []
    in_tx = False
    while len(out) < n:
        x = rng.random()
        if x < 0.22:
            # transaction control around a few statements
            if not in_tx:
                out.append(rng.choice(("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION")))
                in_tx = True
            elif rng.random() < 0.3:
                sp = "sp_%d" % rng.randint(1, 3)
                out += ["SAVEPOINT %s" % sp, "RELEASE SAVEPOINT %s" % sp]
            else:
                out.append(rng.choice(("COMMIT", "COMMIT", "ROLLBACK")))
                in_tx = False
            continue
        if x < 0.245:
            # DDL on a scratch table: create, alter, index, drop
            scratch += 1
            t = "scratch_%d" % scratch
            cols = ", ".join("%s_%d %s" % (rng.choice(WORDS), k, rng.choice(COLTYPES)[0])
                             for k in range(rng.randint(2, 6)))
            out += ["CREATE TABLE %s (id serial PRIMARY KEY, %s)" % (t, cols),
                    "ALTER TABLE %s ADD COLUMN note_%d text DEFAULT 'n/a'" % (t, scratch),
                    "CREATE INDEX %s_note_idx ON %s (note_%d)" % (t, t, scratch),
                    "DROP TABLE %s" % t]
            continue
        if not pool or rng.random() < 0.64:
            k = rng.randrange(total)
            for mk, w in makers:
                if k < w:
                    pool.append(mk(rng, tabs))
                    break
                k -= w
            tpl = pool[-1]
        else:
            tpl = pool[rng.randrange(len(pool))]
        out.append(tpl.render(rng))
    out = out[:n - 1]
    out.append("COMMIT")	# a transaction may be open: end it (or warn)
    return out


def main():
    if sys.argv[1:2] == ["schema"]:
        lines = schema()
    elif sys.argv[1:2] == ["workload"] and len(sys.argv) == 3:
        lines = [s + ";" for s in workload(int(sys.argv[2]))]
    else:
        sys.exit("usage: gen_realistic.py schema | workload N")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
