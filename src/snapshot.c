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

#include "lib/stringinfo.h"

#include "render.h"
#include "shape.h"
#include "snapshot.h"

/* lines of context around each change in a snapshot diff */
#define DIFF_CONTEXT	3
/* larger snapshots are compared, but the diff shows only a summary */
#define DIFF_MAX_LINES	4000

/* Append "-- EXPECTED_PARAMS: ..." and the statement for one entry. */
static void
append_statement(StringInfo out, const CapqEntry *e)
{
	CapqShape	shape;
	char	   *values;

	if (!capq_entry_visible(e))
	{
		appendStringInfo(out, "%s\n", CAPQ_HIDDEN_TEXT);
		return;
	}

	capq_shape_scan(&shape, e->text, e->text_len, false);
	values = capq_shape_values(&shape, e);
	if (values != NULL)
		appendStringInfo(out, "-- EXPECTED_PARAMS: %s\n", values);
	appendStringInfo(out, "%s%s\n", capq_shape_normalized(&shape),
					 (e->flags & CAPQ_FLAG_QUERY_TRUNCATED) ? "..." : "");
}

/* The snapshot text of a capture. */
char *
capq_snapshot_text(const CapqCapture *cap, bool with_plans)
{
	StringInfoData out;

	initStringInfo(&out);
	for (int i = 0; i < cap->nentries; i++)
	{
		const CapqEntry *e = &cap->entries[i];

		if (i > 0)
			appendStringInfoChar(&out, '\n');
		appendStringInfo(&out, "-- CAPQUERY: Query " UINT64_FORMAT "\n", e->seq);
		if (e->phase_name)
			appendStringInfo(&out, "-- PHASE: %d (%s)\n", e->phase, e->phase_name);
		else
			appendStringInfo(&out, "-- PHASE: %d\n", e->phase);
		append_statement(&out, e);
		if (e->sqlstate[0] != '\0')
			appendStringInfo(&out, "-- ERROR: %s\n", e->sqlstate);
		if (with_plans && e->plan != NULL && capq_entry_visible(e))
		{
			char	   *lines = pstrdup(e->plan);

			appendStringInfoString(&out, "-- PLAN:\n");
			for (char *line = strtok(lines, "\n"); line; line = strtok(NULL, "\n"))
				appendStringInfo(&out, "--   %s\n", line);
		}
	}
	return out.data;
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
