/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *		Snapshot text of a capture, and the unified diff that
 *		capq_assert_snapshot() shows when a capture does not match.
 *
 * A snapshot holds only what the application did: statement order, phase,
 * statement text and parameter values.  No pid, id, time, OID or ring
 * position appears in it.  Statements are rendered through the scanner
 * (shape.c) without folding lists: comments and white-space runs go, and
 * every literal constant and bound parameter becomes $1, $2, ... in order
 * of appearance, with its value under EXPECTED_PARAMS.  So a driver that
 * inlines literals (psycopg2) and one that binds them (psycopg 3, node-pg)
 * give the same bytes.  Values render as text in quotes, booleans as
 * 'true'/'false' whichever way they were sent.  A statement that failed
 * has a line "-- ERROR: <SQLSTATE>" after its text: the code, not the
 * message, which depends on lc_messages and on where it failed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "render.h"
#include "shape.h"
#include "snapshot.h"

/* lines of context around each change in a snapshot diff */
#define DIFF_CONTEXT	3
/* larger snapshots are compared, but the diff shows only a summary */
#define DIFF_MAX_LINES	4000

/*
 * A text already rendered in this snapshot, for a statement whose rendering
 * depends on its text alone (no bound parameters, not truncated): where its
 * lines are in the output.  An N+1 loop's texts are scanned once.
 */
typedef struct RenderedText
{
	uint64		hash;			/* of the text: MUST BE FIRST */
	char	   *text;			/* a copy (statements are read by chunks) */
	uint32		text_len;
	int			offset;			/* of its lines in the output */
	int			len;
} RenderedText;

/* The texts rendered, in a bounded cache (see capq_text_cache). */
typedef struct RenderedTexts
{
	HTAB	   *hash;
	MemoryContext cxt;
} RenderedTexts;

/* Append "-- EXPECTED_PARAMS: ..." and the statement for one entry. */
static void
append_statement(StringInfo out, const CapqEntry *e)
{
	CapqShape	shape;
	int			mark;

	capq_shape_scan(&shape, e->text, e->text_len, false);
	/* the values line, taken back when there are none */
	mark = out->len;
	appendStringInfoString(out, "-- EXPECTED_PARAMS: ");
	if (capq_shape_append_values(out, &shape, e) > 0)
		appendStringInfoCharMacro(out, '\n');
	else
	{
		out->len = mark;
		out->data[mark] = '\0';
	}
	capq_shape_append_normalized(out, &shape);
	if (e->flags & CAPQ_FLAG_QUERY_TRUNCATED)
		appendStringInfoString(out, "...");
	appendStringInfoCharMacro(out, '\n');
}

/* "-- PLAN:" and the plan, each line commented out */
static void
append_plan(StringInfo out, const char *plan)
{
	const char *line = plan;

	appendStringInfoString(out, "-- PLAN:\n");
	while (*line != '\0')
	{
		const char *end = strchrnul(line, '\n');

		/* blank lines are left out, as strtok() did */
		if (end > line)
		{
			appendBinaryStringInfo(out, "--   ", 5);
			appendBinaryStringInfo(out, line, end - line);
			appendStringInfoCharMacro(out, '\n');
		}
		line = *end ? end + 1 : end;
	}
}

/* "-- CAPQUERY: Query n" with n in decimal, without a format string */
static void
append_query_header(StringInfo out, uint64 seq)
{
	appendBinaryStringInfo(out, "-- CAPQUERY: Query ", 19);
	enlargeStringInfo(out, MAXINT8LEN + 2);
	out->len += pg_ulltoa_n(seq, out->data + out->len);
	appendStringInfoCharMacro(out, '\n');
}

/*
 * Most an entry can add to a snapshot, loosely: its header lines, its
 * statement (each constant, at least one byte, may become "$n", and its
 * value is shown quoted with its quotes doubled), its parameters and its
 * plan.  Under it the entry is appended in place; over it, rendered apart
 * and measured.
 */
static Size
entry_bound(const CapqEntry *e)
{
	Size		phase_len = e->phase_name ? strlen(e->phase_name) : 0;
	Size		plan_len = e->plan ? strlen(e->plan) : 0;

	return 256 + phase_len + (Size) e->text_len * 16 +
		(Size) e->params_len * 2 + (Size) e->nparams * 16 + plan_len * 6;
}

/* "-- ERROR: 22012" for a failed statement: its SQLSTATE, the same from
 * every driver (the message, which may be translated, is left out) */
static inline void
append_error(StringInfo out, const CapqEntry *e)
{
	if (e->sqlstate[0] != '\0')
		appendStringInfo(out, "-- ERROR: %s\n", e->sqlstate);
}

/*
 * Append one entry's block: header lines, statement, error, plan.  With
 * rendered, a text already rendered in out (no bound parameters, not
 * truncated) is copied from there instead of scanned again.
 */
static void
append_entry(StringInfo out, const CapqEntry *e, bool first, bool with_plans,
			 MemoryContext scratch, RenderedTexts *rendered)
{
	MemoryContext outer;
	RenderedText *r = NULL;
	bool		reused = false;

	if (!first)
		appendStringInfoCharMacro(out, '\n');
	append_query_header(out, e->seq);
	if (e->phase_name)
		appendStringInfo(out, "-- PHASE: %d (%s)\n", e->phase, e->phase_name);
	else
		appendStringInfo(out, "-- PHASE: %d\n", e->phase);
	if (!capq_entry_visible(e))
	{
		appendStringInfoString(out, CAPQ_HIDDEN_TEXT "\n");
		append_error(out, e);
		return;
	}
	if (rendered != NULL && e->nparams == 0 &&
		(e->flags & CAPQ_FLAG_QUERY_TRUNCATED) == 0)
	{
		uint64		hash = hash_bytes_extended((const unsigned char *) e->text,
											   e->text_len, 0);
		bool		found;

		r = rendered->hash ? hash_search(rendered->hash, &hash, HASH_FIND, NULL) : NULL;
		found = r != NULL;
		if (r == NULL)
		{
			rendered->hash = capq_text_cache(rendered->hash, rendered->cxt,
											 sizeof(RenderedText),
											 "capquery rendered texts");
			r = hash_search(rendered->hash, &hash, HASH_ENTER, NULL);
		}
		if (found && r->text_len == e->text_len &&
			memcmp(r->text, e->text, e->text_len) == 0)
		{
			/* enlarge first: the copy comes from the same buffer */
			enlargeStringInfo(out, r->len);
			memcpy(out->data + out->len, out->data + r->offset, r->len);
			out->len += r->len;
			out->data[out->len] = '\0';
			reused = true;
		}
		else
		{
			r->text = MemoryContextAlloc(rendered->cxt, e->text_len);
			memcpy(r->text, e->text, e->text_len);
			r->text_len = e->text_len;
			r->offset = out->len;
		}
	}
	if (!reused)
	{
		outer = MemoryContextSwitchTo(scratch);
		append_statement(out, e);
		MemoryContextSwitchTo(outer);
		MemoryContextReset(scratch);
		if (r != NULL)
			r->len = out->len - r->offset;
	}
	append_error(out, e);
	if (with_plans && e->plan != NULL)
		append_plan(out, e->plan);
}

/*
 * The snapshot of a capture, built in one buffer that starts with room for
 * a varlena header, so that the text datum is that buffer (100 MB of
 * snapshot are never copied).  Statements come one at a time from the
 * reader; each is scanned in a scratch context reset after it: memory is
 * the output's, and a bounded cache of texts rendered.  A snapshot that
 * would pass what a text value can hold (1 GB) is refused with 54000
 * before it is built that far.
 */
static void
build_snapshot(StringInfo out, CapqReader *rd, bool with_plans)
{
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext,
												  "capquery snapshot scan",
												  ALLOCSET_DEFAULT_SIZES);
	RenderedTexts rendered;
	CapqEntry  *e;

	rendered.hash = NULL;
	rendered.cxt = AllocSetContextCreate(CurrentMemoryContext,
										 "capquery rendered texts",
										 ALLOCSET_DEFAULT_SIZES);
	initStringInfo(out);
	appendBinaryStringInfo(out, "\0\0\0\0", VARHDRSZ);
	while ((e = capq_read_next(rd)) != NULL)
	{
		StringInfoData piece;
		bool		first = e->seq == 1;

		if ((Size) out->len + entry_bound(e) < MaxAllocSize)
		{
			append_entry(out, e, first, with_plans, scratch, &rendered);
			continue;
		}

		/* near the limit, or a huge statement: render it apart, measure */
		initStringInfo(&piece);
		append_entry(&piece, e, first, with_plans, scratch, NULL);
		if ((Size) out->len + piece.len >= MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("snapshot of capture " UINT64_FORMAT " is too large",
							rd->slot.capture_id),
					 errdetail("The snapshot reached %d bytes at statement " UINT64_FORMAT " of " UINT64_FORMAT "; a text value holds at most 1 GB.",
							   out->len - VARHDRSZ, e->seq, rd->ledger.statements),
					 errhint("Snapshot a smaller capture, or read this one with capq_queries().")));
		appendBinaryStringInfo(out, piece.data, piece.len);
		pfree(piece.data);
	}
	MemoryContextDelete(rendered.cxt);
	MemoryContextDelete(scratch);
}

/* The snapshot as a text datum. */
text *
capq_snapshot_datum(CapqReader *rd, bool with_plans)
{
	StringInfoData out;
	text	   *result;

	build_snapshot(&out, rd, with_plans);
	result = (text *) out.data;
	SET_VARSIZE(result, out.len);
	return result;
}

/* The snapshot as a C string (for comparing). */
char *
capq_snapshot_text(CapqReader *rd, bool with_plans)
{
	StringInfoData out;

	build_snapshot(&out, rd, with_plans);
	return out.data + VARHDRSZ;
}

/*---- Comparing snapshots ----*/

/* Split text into lines, dropping blank ones and trailing white space. */
static int
split_lines(const char *text, char ***lines)
{
	char	   *copy = pstrdup(text);
	int			n = 0,
				max = 64;
	char	   *p = copy;

	*lines = palloc(max * sizeof(char *));
	while (p != NULL && *p != '\0')
	{
		char	   *next = strchr(p, '\n');
		int			len;

		if (next)
			*next++ = '\0';
		len = strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' ||
						   p[len - 1] == '\r'))
			p[--len] = '\0';
		if (len > 0)
		{
			if (n >= max)
			{
				max *= 2;
				*lines = repalloc(*lines, max * sizeof(char *));
			}
			(*lines)[n++] = p;
		}
		p = next;
	}
	return n;
}

/* One line of an edit script. */
typedef struct DiffLine
{
	char		op;				/* ' ', '-' or '+' */
	const char *text;
	int			a;				/* 0-based line in expected */
	int			b;				/* 0-based line in captured */
} DiffLine;

/* Edit script from a longest-common-subsequence table. */
static int
edit_script(char **a, int na, char **b, int nb, DiffLine *script)
{
	int		  **lcs = palloc((na + 1) * sizeof(int *));
	int			n = 0,
				i = 0,
				j = 0;

	for (int x = 0; x <= na; x++)
		lcs[x] = palloc0((nb + 1) * sizeof(int));
	for (int x = na - 1; x >= 0; x--)
		for (int y = nb - 1; y >= 0; y--)
			lcs[x][y] = strcmp(a[x], b[y]) == 0 ? lcs[x + 1][y + 1] + 1
				: Max(lcs[x + 1][y], lcs[x][y + 1]);

	while (i < na || j < nb)
	{
		DiffLine   *d = &script[n++];

		d->a = i;
		d->b = j;
		if (i < na && j < nb && strcmp(a[i], b[j]) == 0)
		{
			d->op = ' ';
			d->text = a[i++];
			j++;
		}
		else if (j < nb && (i == na || lcs[i][j + 1] >= lcs[i + 1][j]))
		{
			d->op = '+';
			d->text = b[j++];
		}
		else
		{
			d->op = '-';
			d->text = a[i++];
		}
	}
	return n;
}

/* Unified diff (expected -> captured), hunks with DIFF_CONTEXT lines. */
static char *
unified_diff(char **a, int na, char **b, int nb)
{
	DiffLine   *script = palloc((na + nb + 1) * sizeof(DiffLine));
	int			n = edit_script(a, na, b, nb, script);
	StringInfoData out;
	int			k = 0;

	initStringInfo(&out);
	appendStringInfoString(&out, "--- expected\n+++ captured");
	while (k < n)
	{
		int			start,
					end,
					last_change;
		int			a_count = 0,
					b_count = 0;

		while (k < n && script[k].op == ' ')
			k++;
		if (k >= n)
			break;
		start = Max(0, k - DIFF_CONTEXT);
		/* extend the hunk while changes are within 2 * context */
		last_change = k;
		end = k;
		while (end < n)
		{
			if (script[end].op != ' ')
				last_change = end;
			else if (end - last_change > 2 * DIFF_CONTEXT)
				break;
			end++;
		}
		end = Min(n, last_change + DIFF_CONTEXT + 1);
		for (int x = start; x < end; x++)
		{
			if (script[x].op != '+')
				a_count++;
			if (script[x].op != '-')
				b_count++;
		}
		appendStringInfo(&out, "\n@@ -%d,%d +%d,%d @@",
						 script[start].a + (a_count > 0 ? 1 : 0), a_count,
						 script[start].b + (b_count > 0 ? 1 : 0), b_count);
		for (int x = start; x < end; x++)
			appendStringInfo(&out, "\n%c%s", script[x].op, script[x].text);
		k = end;
	}
	return out.data;
}

/*
 * NULL when expected and captured snapshots match (blank lines and
 * trailing white space aside), else a unified diff.
 */
char *
capq_snapshot_diff(const char *expected, const char *captured)
{
	char	  **a;
	char	  **b;
	int			na = split_lines(expected, &a);
	int			nb = split_lines(captured, &b);
	bool		same = na == nb;

	for (int i = 0; same && i < na; i++)
		same = strcmp(a[i], b[i]) == 0;
	if (same)
		return NULL;
	if (na > DIFF_MAX_LINES || nb > DIFF_MAX_LINES)
		return psprintf("The snapshots differ (%d expected lines, %d captured lines); too long to diff here: compare capq_snapshot() output instead.",
						na, nb);
	return unified_diff(a, na, b, nb);
}
