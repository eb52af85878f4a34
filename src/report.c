/*-------------------------------------------------------------------------
 *
 * report.c
 *		capq_report: one capture as a review document, in HTML (a
 *		self-contained page: inline CSS, no scripts, nothing fetched), in
 *		Markdown (a pull-request comment) or in plain text (a terminal).
 *
 * Every format has the same four parts: a header (label, owner, scope,
 * time span, statements by kind, failed, lost), a timeline (one bar per
 * statement on a time axis, phases as bands, nesting indented), the shape
 * table of repeats.c (repeated shapes, the likely N+1, first; the slowest
 * execution's plan per shape) and the statements one by one with their
 * parameters, errors and plans.
 *
 * Captured text is the application's and may hold anything: every piece is
 * escaped for the format it lands in (HTML entities, with non-ASCII as
 * character references so the page reads the same in any client encoding;
 * Markdown punctuation and code fences; control characters in text), and
 * every text, parameter, plan and error goes through the privilege masking
 * of render.c.  Work is bounded per entry, items listed are bounded (see
 * report.h), and the whole document is built in one StringInfo.  The
 * capture is read once, a chunk at a time: what the report keeps is its
 * shapes and what it shows of the statements it lists.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "capture.h"
#include "render.h"
#include "repeats.h"
#include "report.h"

const char *const capq_report_format_names[CAPQ_NUM_REPORT_FORMATS] = {
	"html", "markdown", "text"
};

/* what a report repeats of one captured item, at most */
#define REPORT_TEXT_BYTES		4096	/* a statement (max_query_length) */
#define REPORT_LINE_BYTES		160		/* a statement on a timeline line */
#define REPORT_PARAMS_BYTES		1024
#define REPORT_LIST_BYTES		1024	/* relations or call sites of a shape */
#define REPORT_ERROR_BYTES		1024
#define REPORT_PLAN_BYTES		(32 * 1024)
#define REPORT_MAX_BANDS		200		/* phases drawn on the timeline */
#define REPORT_MAX_DEPTH		32		/* nesting levels laid out apart */
#define REPORT_TEXT_COLUMNS		50		/* width of a text timeline bar */

#define CAPQ_HIDDEN_TEXT_HTML	"&lt;insufficient privilege&gt;"

/*
 * A statement drawn and listed: what the report shows of it, masked and
 * clipped when it is read (the capture is read a chunk at a time).
 */
typedef struct ListedEntry
{
	uint64		seq;
	int32		phase;
	const char *phase_name;
	Oid			userid;
	int32		nesting;
	CapqKind	kind;
	uint8		flags;
	uint64		rows;
	double		duration_ms;
	char		sqlstate[6];
	bool		visible;
	char	   *text;			/* masked, clipped at REPORT_TEXT_BYTES */
	char	   *params;			/* masked, clipped; NULL when none */
	char	   *plan;			/* masked, clipped; NULL when none */
	char	   *message;		/* error message, masked, clipped; or NULL */
	char	   *relations;		/* "a, b"; NULL when none or hidden */
	double		offset_ms;		/* its start on the time axis */
	char		group_key[sizeof(((CapqShapeGroup *) NULL)->key)];
	int			group;			/* its group in the table, -1 if none */
} ListedEntry;

/* A phase: a run of consecutive entries (phases only move forward). */
typedef struct PhaseBand
{
	int32		phase;
	const char *name;
	double		start_ms;
	double		end_ms;
} PhaseBand;

/* The slowest execution's plan of a shape, as shown. */
typedef struct SlowestPlan
{
	char		key[sizeof(((CapqShapeGroup *) NULL)->key)];	/* MUST BE FIRST */
	char	   *plan;			/* masked, clipped; NULL when none */
} SlowestPlan;

/* The document being built, and what every part of it needs. */
typedef struct Report
{
	CapqSlot	slot;			/* the capture, as of the end of the read */
	CapqLedger	ledger;		/* what the ring counted for it, likewise */
	CapqReportFormat format;
	StringInfoData out;
	uint64		nentries;		/* statements read */
	double		span_ms;		/* the axis: first start to last end */
	bool		clocked;		/* offsets from recorded start times */
	TimestampTz first_start;	/* when clocked */
	uint64		failed;
	ListedEntry *listed;		/* statements drawn and listed */
	Size		nlisted;
	PhaseBand  *bands;			/* the timeline's phases, at most
								 * REPORT_MAX_BANDS */
	int			nbands;
	CapqShapeGroup *groups;		/* by phase, repeated first */
	int			ngroups;
	int			nrepeated;
	HTAB	   *slowest_plans;	/* SlowestPlan by group key */
	Oid			cached_userid;	/* GetUserNameFromId cache */
	char	   *cached_username;
} Report;

/*---- Small helpers ----*/

/* A statement's duration, 0 while it has not ended. */
static double
entry_ms(const CapqEntry *e)
{
	return (e->flags & CAPQ_FLAG_DONE) ? e->duration_ms : 0.0;
}

static double
listed_ms(const ListedEntry *e)
{
	return (e->flags & CAPQ_FLAG_DONE) ? e->duration_ms : 0.0;
}

static bool
listed_failed(const ListedEntry *e)
{
	return e->sqlstate[0] != '\0';
}

/* A likely N+1: a shape run more than once in one phase. */
static bool
group_repeated(const CapqShapeGroup *g)
{
	return capq_group_over(g, 1);
}

/* "0.123 ms", "12.3 ms", "1.25 s": milliseconds for a reader */
static char *
format_ms(double ms)
{
	if (ms < 1.0)
		return psprintf("%.3f ms", ms);
	if (ms < 100.0)
		return psprintf("%.2f ms", ms);
	if (ms < 10000.0)
		return psprintf("%.1f ms", ms);
	return psprintf("%.2f s", ms / 1000.0);
}

/* "0.123 ms"; a statement that has not ended: failed, or still running */
static char *
duration_text(const ListedEntry *e)
{
	if (e->flags & CAPQ_FLAG_DONE)
		return format_ms(e->duration_ms);
	return pstrdup(listed_failed(e) ? "failed" : "running");
}

/* The shape group of a listed entry, NULL when unknown. */
static const CapqShapeGroup *
listed_group(const Report *r, const ListedEntry *e)
{
	return e->group >= 0 ? &r->groups[e->group] : NULL;
}

/* Has the document grown past its soft limit?  Lists stop there. */
static bool
report_full(const Report *r)
{
	return r->out.len > CAPQ_REPORT_SOFT_LIMIT;
}

static const char *
user_name(Report *r, Oid userid)
{
	if (r->cached_username == NULL || r->cached_userid != userid)
	{
		char	   *name = GetUserNameFromId(userid, true);

		r->cached_userid = userid;
		r->cached_username = name ? name : psprintf("%u", userid);
	}
	return r->cached_username;
}

static char *
group_relations(const CapqShapeGroup *g)
{
	StringInfoData buf;
	ListCell   *r;
	ListCell   *d;

	initStringInfo(&buf);
	forboth(r, g->relations, d, g->relation_dbids)
	{
		if (buf.len > REPORT_LIST_BYTES)
		{
			appendStringInfoString(&buf, ", ...");
			break;
		}
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
						 capq_relation_name(lfirst_oid(d), lfirst_oid(r), true));
	}
	return buf.data;
}

static char *
string_list(List *strings)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, strings)
	{
		if (buf.len > REPORT_LIST_BYTES)
		{
			appendStringInfoString(&buf, ", ...");
			break;
		}
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
						 capq_clip_text(lfirst(lc), REPORT_LIST_BYTES));
	}
	return buf.data;
}

/* A statement on one line, clipped: for timeline labels. */
static char *
one_line(const char *text, Size max_bytes)
{
	char	   *s = capq_clip_text(text, max_bytes);

	for (char *c = s; *c; c++)
	{
		if (*c == '\n' || *c == '\r' || *c == '\t')
			*c = ' ';
	}
	return s;
}

/*---- Escaping ----*/

/*
 * HTML text (also valid inside a quoted attribute): markup characters as
 * entities, control characters as visible \xNN, and everything beyond
 * ASCII as a numeric character reference, so the page is pure ASCII and
 * reads the same whatever encoding psql writes it in.  Bytes that are not
 * valid UTF-8 after conversion (SQL_ASCII databases) become \xNN too.
 */
static void
html_text(StringInfo buf, const char *s)
{
	int			encoding = GetDatabaseEncoding();
	const unsigned char *p;
	const unsigned char *end;
	Size		len = strlen(s);

	if (encoding != PG_UTF8 && encoding != PG_SQL_ASCII)
	{
		s = (const char *) pg_do_encoding_conversion((unsigned char *) s,
													 (int) len, encoding,
													 PG_UTF8);
		len = strlen(s);
	}
	p = (const unsigned char *) s;
	end = p + len;
	while (p < end)
	{
		unsigned char c = *p;

		if (c >= 0x80)
		{
			int			clen = pg_utf_mblen(p);

			if (clen <= end - p && pg_utf8_islegal(p, clen))
			{
				appendStringInfo(buf, "&#x%x;", utf8_to_unicode(p));
				p += clen;
			}
			else
			{
				appendStringInfo(buf, "\\x%02x", c);
				p++;
			}
			continue;
		}
		switch (c)
		{
			case '&':
				appendStringInfoString(buf, "&amp;");
				break;
			case '<':
				appendStringInfoString(buf, "&lt;");
				break;
			case '>':
				appendStringInfoString(buf, "&gt;");
				break;
			case '"':
				appendStringInfoString(buf, "&quot;");
				break;
			case '\'':
				appendStringInfoString(buf, "&#39;");
				break;
			case '\n':
			case '\t':
				appendStringInfoCharMacro(buf, c);
				break;
			default:
				if (c < 0x20 || c == 0x7f)
					appendStringInfo(buf, "\\x%02x", c);
				else
					appendStringInfoCharMacro(buf, c);
		}
		p++;
	}
}

/*
 * Plain text for a terminal: control characters (an escape sequence could
 * rewrite the screen) as \xNN; each new line indented.
 */
static void
plain_text(StringInfo buf, const char *s, const char *indent)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (*p == '\n')
		{
			appendStringInfoChar(buf, '\n');
			appendStringInfoString(buf, indent);
		}
		else if (*p == '\r')
			continue;
		else if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			appendStringInfo(buf, "\\x%02x", *p);
		else
			appendStringInfoCharMacro(buf, *p);
	}
}

/* Markdown text in a paragraph or table cell, on one line: the characters
 * that start inline markup (emphasis, code, links, HTML, entities, table
 * cells) escaped. */
static void
md_text(StringInfo buf, const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (*p == '\n' || *p == '\r' || *p == '\t')
			appendStringInfoChar(buf, ' ');
		else if (*p < 0x20 || *p == 0x7f)
			appendStringInfo(buf, "\\\\x%02x", *p);
		else
		{
			if (strchr("\\`*_[]<>|~&", *p) != NULL)
				appendStringInfoChar(buf, '\\');
			appendStringInfoCharMacro(buf, *p);
		}
	}
}

/* longest run of backticks in s */
static int
backtick_run(const char *s)
{
	int			longest = 0;
	int			run = 0;

	for (; *s; s++)
	{
		run = *s == '`' ? run + 1 : 0;
		longest = Max(longest, run);
	}
	return longest;
}

static void
append_repeated(StringInfo buf, char c, int n)
{
	for (int i = 0; i < n; i++)
		appendStringInfoCharMacro(buf, c);
}

/* A Markdown code span in a table cell: on one line, pipes escaped (GFM),
 * delimited by more backticks than it holds. */
static void
md_code(StringInfo buf, const char *s)
{
	int			ticks = backtick_run(s) + 1;

	append_repeated(buf, '`', ticks);
	appendStringInfoChar(buf, ' ');
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (*p == '\n' || *p == '\r' || *p == '\t')
			appendStringInfoChar(buf, ' ');
		else if (*p == '|')
			appendStringInfoString(buf, "\\|");
		else if (*p < 0x20 || *p == 0x7f)
			appendStringInfo(buf, "\\x%02x", *p);
		else
			appendStringInfoCharMacro(buf, *p);
	}
	appendStringInfoChar(buf, ' ');
	append_repeated(buf, '`', ticks);
}

/* A fenced Markdown code block: the fence is longer than any run of
 * backticks inside, so no captured text can close it. */
static void
md_fenced(StringInfo buf, const char *info, const char *s)
{
	int			ticks = Max(3, backtick_run(s) + 1);

	append_repeated(buf, '`', ticks);
	appendStringInfo(buf, "%s\n", info);
	plain_text(buf, s, "");
	if (s[0] != '\0' && s[strlen(s) - 1] != '\n')
		appendStringInfoChar(buf, '\n');
	append_repeated(buf, '`', ticks);
	appendStringInfoChar(buf, '\n');
}

/*---- Reading: what the report needs, as statements come ----*/

/*
 * Where statements sit on the time axis: offsets from the recorded start
 * times when every entry has one.  Without them (an older library wrote
 * the capture), statements are laid end to end in order of execution, each
 * nested statement from its caller's start: durations stay true, gaps
 * between statements are left out.
 */
typedef struct Layout
{
	double		cursor[REPORT_MAX_DEPTH];
	double		caller_start[REPORT_MAX_DEPTH];	/* clocked: the interval of */
	double		caller_end[REPORT_MAX_DEPTH];	/* the caller at each level */
} Layout;

/* The next statement's offset; the axis grows to its end. */
static double
layout_next(Report *r, Layout *l, const CapqEntry *e)
{
	int			level = Min(Max(e->nesting, 0), REPORT_MAX_DEPTH - 1);
	double		offset;

	if (r->clocked)
	{
		double		start = (double) (e->started_at - r->first_start) / 1000.0;

		/*
		 * Start times are whole microseconds of the wall clock and
		 * durations come from the monotonic one: on a statement of a few
		 * microseconds the two disagree by a tick or two.  A nested
		 * statement is kept within its caller's bar (at most that much
		 * earlier), as it ran.
		 */
		if (level > 0 && start + entry_ms(e) > l->caller_end[level])
			start = Max(l->caller_end[level] - entry_ms(e), l->caller_start[level]);
		offset = start;
		if (level + 1 < REPORT_MAX_DEPTH)
		{
			l->caller_start[level + 1] = start;
			l->caller_end[level + 1] = start + entry_ms(e);
		}
	}
	else
	{
		offset = l->cursor[level];
		l->cursor[level] += entry_ms(e);
		if (level + 1 < REPORT_MAX_DEPTH)
			l->cursor[level + 1] = offset;
	}
	r->span_ms = Max(r->span_ms, offset + entry_ms(e));
	return offset;
}

/* The timeline's phase bands: the first REPORT_MAX_BANDS runs of a phase. */
static void
band_next(Report *r, const CapqEntry *e, double offset, bool *bands_full)
{
	PhaseBand  *b = r->nbands > 0 ? &r->bands[r->nbands - 1] : NULL;

	if (*bands_full)
		return;
	if (b == NULL || b->phase != e->phase)
	{
		if (r->nbands >= REPORT_MAX_BANDS)
		{
			*bands_full = true;
			return;
		}
		b = &r->bands[r->nbands++];
		b->phase = e->phase;
		b->name = e->phase_name ? pstrdup(e->phase_name) : NULL;
		b->start_ms = offset;
		b->end_ms = offset + entry_ms(e);
	}
	b->start_ms = Min(b->start_ms, offset);
	b->end_ms = Max(b->end_ms, offset + entry_ms(e));
}

/* What the reader may see of an entry; NULL where there is nothing. */
static char *
entry_params(const CapqEntry *e)
{
	if (!capq_entry_visible(e))
		return e->nparams > 0 ? pstrdup(CAPQ_HIDDEN_TEXT) : NULL;
	return capq_params_render(e);
}

/* part of e (its plan, its error message), masked and clipped; or NULL */
static char *
entry_part(const CapqEntry *e, const char *part, Size max_bytes)
{
	if (part == NULL)
		return NULL;
	if (!capq_entry_visible(e))
		return pstrdup(CAPQ_HIDDEN_TEXT);
	return capq_clip_text(part, max_bytes);
}

/* relations the statement touched, "a, b"; NULL when none or hidden */
static char *
entry_relations(const CapqEntry *e)
{
	StringInfoData buf;

	if (e->nrelations == 0 || !capq_entry_visible(e))
		return NULL;
	initStringInfo(&buf);
	for (int i = 0; i < e->nrelations && buf.len <= REPORT_LIST_BYTES; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "",
						 capq_relation_name(e->dbid, e->relations[i], true));
	return buf.data;
}

/*
 * Keep what the report shows of a statement it lists; what it is clipped
 * from is made in scratch, reset after.
 */
static void
list_entry(ListedEntry *l, const CapqEntry *e, double offset,
		   const CapqShapeGroup *g, MemoryContext scratch)
{
	MemoryContext keep = MemoryContextSwitchTo(scratch);
	char	   *text = capq_entry_text(e);
	char	   *params = entry_params(e);

	MemoryContextSwitchTo(keep);
	l->seq = e->seq;
	l->phase = e->phase;
	l->phase_name = e->phase_name ? pstrdup(e->phase_name) : NULL;
	l->userid = e->userid;
	l->nesting = e->nesting;
	l->kind = e->kind;
	l->flags = e->flags;
	l->rows = e->rows;
	l->duration_ms = e->duration_ms;
	memcpy(l->sqlstate, e->sqlstate, sizeof(l->sqlstate));
	l->visible = capq_entry_visible(e);
	/* what each part shows of it is clipped at most this much */
	l->text = capq_clip_text(text, REPORT_TEXT_BYTES);
	l->params = params ? capq_clip_text(params, REPORT_PARAMS_BYTES) : NULL;
	l->plan = entry_part(e, e->plan, REPORT_PLAN_BYTES);
	l->message = entry_part(e, e->error_message, REPORT_ERROR_BYTES);
	l->relations = entry_relations(e);
	l->offset_ms = offset;
	if (g != NULL)
		memcpy(l->group_key, g->key, sizeof(l->group_key));
	else
		l->group_key[0] = '\0';
	l->group = -1;
	MemoryContextReset(scratch);
}

/* A new slowest execution of its shape: keep its plan as shown. */
static void
keep_slowest_plan(Report *r, const CapqShapeGroup *g, const CapqEntry *e)
{
	bool		found;
	SlowestPlan *sp = hash_search(r->slowest_plans, g->key, HASH_ENTER, &found);

	if (found && sp->plan != NULL)
		pfree(sp->plan);
	sp->plan = entry_part(e, e->plan, REPORT_PLAN_BYTES);
}

/* The plan shown for a shape's slowest execution, NULL when none. */
static char *
slowest_plan(const Report *r, const CapqShapeGroup *g)
{
	SlowestPlan *sp = hash_search(r->slowest_plans, g->key, HASH_FIND, NULL);

	return sp ? sp->plan : NULL;
}

/* Shapes ordered for the table: likely N+1 first (most executions
 * first), then the others by total time. */
static int
report_group_cmp(const void *a, const void *b)
{
	const CapqShapeGroup *x = a;
	const CapqShapeGroup *y = b;
	bool		rx = group_repeated(x);
	bool		ry = group_repeated(y);

	if (rx != ry)
		return rx ? -1 : 1;
	if (rx && x->executions != y->executions)
		return x->executions > y->executions ? -1 : 1;
	if (x->total_ms != y->total_ms)
		return x->total_ms > y->total_ms ? -1 : 1;
	if (x->first_seq != y->first_seq)
		return x->first_seq < y->first_seq ? -1 : 1;
	return 0;
}

/* A group's place in the sorted table, by its "phase:fingerprint" key. */
typedef struct GroupIndex
{
	char		key[sizeof(((CapqShapeGroup *) NULL)->key)];	/* MUST BE FIRST */
	int			index;
} GroupIndex;

/* Which shape each listed statement has: the timeline marks the likely N+1. */
static void
match_groups(Report *r)
{
	HASHCTL		ctl;
	HTAB	   *index;

	if (r->nlisted == 0)
		return;
	ctl.keysize = sizeof(((GroupIndex *) NULL)->key);
	ctl.entrysize = sizeof(GroupIndex);
	ctl.hcxt = CurrentMemoryContext;
	index = hash_create("capquery report groups", Max(r->ngroups, 16), &ctl,
						HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (int i = 0; i < r->ngroups; i++)
	{
		GroupIndex *g = hash_search(index, r->groups[i].key, HASH_ENTER, NULL);

		g->index = i;
	}
	for (Size i = 0; i < r->nlisted; i++)
	{
		ListedEntry *l = &r->listed[i];
		GroupIndex *g = l->group_key[0] ?
			hash_search(index, l->group_key, HASH_FIND, NULL) : NULL;

		l->group = g ? g->index : -1;
	}
	hash_destroy(index);
}

/*
 * Read the capture once: the counts, the time axis and the phase bands
 * over every statement, its shapes, and the first
 * CAPQ_REPORT_MAX_STATEMENTS statements as they will be listed.  Memory
 * holds those, the shapes, and one chunk of the capture.
 */
static void
prepare(Report *r, CapqReader *rd)
{
	CapqGrouping *gr = capq_grouping_begin(true, false, CAPQ_KIND_SELECT, 0,
										   true);
	Layout		layout;
	bool		bands_full = false;
	CapqEntry  *e;
	HASHCTL		ctl;
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext,
												  "capquery report entry",
												  ALLOCSET_DEFAULT_SIZES);

	memset(&layout, 0, sizeof(layout));
	ctl.keysize = sizeof(((SlowestPlan *) NULL)->key);
	ctl.entrysize = sizeof(SlowestPlan);
	ctl.hcxt = CurrentMemoryContext;
	r->slowest_plans = hash_create("capquery report plans", 64, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	r->listed = palloc(CAPQ_REPORT_MAX_STATEMENTS * sizeof(ListedEntry));
	r->bands = palloc(REPORT_MAX_BANDS * sizeof(PhaseBand));
	/* the reader's first pass knows whether every start was recorded */
	r->first_start = rd->first_started_at;
	r->clocked = r->first_start != 0;
	r->span_ms = 0;

	while ((e = capq_read_next(rd)) != NULL)
	{
		double		offset = layout_next(r, &layout, e);
		CapqShapeGroup *g = capq_grouping_add(gr, e);

		r->nentries++;
		if (e->sqlstate[0] != '\0')
			r->failed++;
		band_next(r, e, offset, &bands_full);
		if (g != NULL && g->slowest_seq == e->seq)
			keep_slowest_plan(r, g, e);
		if (r->nlisted < CAPQ_REPORT_MAX_STATEMENTS)
			list_entry(&r->listed[r->nlisted++], e, offset, g, scratch);
	}
	MemoryContextDelete(scratch);
	r->slot = rd->slot;
	r->ledger = rd->ledger;
	r->clocked = r->clocked && r->nentries > 0;
	if (!r->clocked)
		r->first_start = 0;

	r->ngroups = capq_grouping_end(gr, rd, &r->groups);
	qsort(r->groups, r->ngroups, sizeof(CapqShapeGroup), report_group_cmp);
	r->nrepeated = 0;
	for (int i = 0; i < r->ngroups; i++)
	{
		if (group_repeated(&r->groups[i]))
			r->nrepeated++;
	}
	match_groups(r);
}

/* A tick step of 1, 2 or 5 times a power of ten: about five ticks. */
static double
tick_step(double span)
{
	double		raw = span / 5.0;
	double		magnitude = pow(10.0, floor(log10(raw)));
	double		m = raw / magnitude;

	if (m < 1.5)
		return magnitude;
	if (m < 3.5)
		return 2 * magnitude;
	if (m < 7.5)
		return 5 * magnitude;
	return 10 * magnitude;
}

/* "12.3 ms", or "~ 12.3 ms" when laid end to end */
static char *
time_span_text(const Report *r)
{
	return psprintf("%s%s", r->clocked ? "" : "~ ", format_ms(r->span_ms));
}

static char *
started_text(const Report *r)
{
	if (r->nentries == 0)
		return pstrdup("no statements");
	if (!r->clocked)
		return pstrdup("not recorded");
	return pstrdup(timestamptz_to_str(r->first_start));
}

/* "1 execution", "3 executions" */
static char *
count_noun(uint64 n, const char *singular, const char *plural)
{
	return psprintf(UINT64_FORMAT " %s", n, n == 1 ? singular : plural);
}

static char *
kinds_text(const CapqLedger *ledger)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 0; k < CAPQ_NUM_KINDS; k++)
	{
		if (ledger->kind_counts[k] > 0)
			appendStringInfo(&buf, "%s%s " UINT64_FORMAT, buf.len > 0 ? ", " : "",
							 capq_kind_name((CapqKind) k), ledger->kind_counts[k]);
	}
	return buf.len > 0 ? buf.data : pstrdup("none");
}

/*---- HTML ----*/

static const char html_style[] =
"*{box-sizing:border-box}"
"body{margin:0;background:#f5f6f8;color:#1f2328;font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif}"
"main{max-width:1360px;margin:0 auto;padding:24px 28px 48px}"
"h1{font-size:22px;margin:0 0 4px}h1 .label{color:#0b5cad}"
"h2{font-size:17px;margin:0 0 10px}"
"section,header{background:#fff;border:1px solid #d8dce1;border-radius:8px;padding:16px 18px;margin:0 0 18px}"
".sub{color:#59636e;margin:0 0 12px}"
".facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:12px 0}"
".fact{background:#f6f8fa;border:1px solid #e3e6ea;border-radius:6px;padding:8px 10px}"
".fact .k{display:block;color:#59636e;font-size:11px;text-transform:uppercase;letter-spacing:.04em}"
".fact .v{font-size:15px;font-weight:600;word-break:break-word}"
".fact.bad .v{color:#b42318}"
".chips{display:flex;flex-wrap:wrap;gap:6px}"
".chip{display:inline-flex;align-items:center;gap:6px;border:1px solid #d8dce1;border-radius:999px;padding:2px 10px;font-size:12px;background:#fff}"
".sw{display:inline-block;width:10px;height:10px;border-radius:2px}"
".k-select{background:#3b82c4}.k-insert{background:#2f9e5b}.k-update{background:#e08a1e}"
".k-delete{background:#8d5a3b}.k-merge{background:#8b5cc7}.k-utility{background:#7d8590}"
".k-transaction{background:#b8bfc7}.k-invalid{background:#6e1b1b}"
".sw.failed{background:repeating-linear-gradient(45deg,#d92d20 0 3px,#fff 3px 5px);border:1px solid #b42318}"
".tl{position:relative;font-size:12px}"
".tl-row{display:flex;align-items:center;height:20px}"
".tl-label{flex:none;width:360px;padding-right:10px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;"
"font:12px/20px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#1f2328;text-decoration:none}"
".tl-label .seq{color:#59636e;display:inline-block;min-width:42px}"
".tl-row.failed .tl-label{color:#b42318}"
".tl-track{position:relative;flex:1;height:20px;margin-right:18px}"
".tl-bar{position:absolute;top:4px;height:12px;min-width:2px;border-radius:2px;opacity:.92}"
".tl-bar.failed{min-width:6px;background:repeating-linear-gradient(45deg,#d92d20 0 3px,#fde2e0 3px 6px);outline:1px solid #b42318}"
".tl-bar.failed::after{content:'\\2715';position:absolute;left:100%;top:-4px;margin-left:4px;color:#b42318;font-weight:700}"
".tl-row:hover{background:#f0f4f9}"
".tl-row.nplus1 .tl-label{box-shadow:inset 3px 0 #f5a524}"
".sw.nplus1{background:#f5a524}"
".tl-axis{border-bottom:1px solid #c9ced4;height:22px}"
".tl-tick{position:absolute;top:3px;transform:translateX(-50%);color:#59636e;white-space:nowrap}"
".tl-tick:first-child{transform:none}"
".tl-layer{position:absolute;top:0;bottom:0;left:360px;right:18px;pointer-events:none}"
".tl-grid{position:absolute;top:22px;bottom:0;border-left:1px dashed #e1e4e8}"
".tl-band{position:absolute;top:22px;bottom:0;border-left:2px solid #9aa5b1;background:rgba(59,130,196,.05)}"
".tl-band.odd{background:rgba(224,138,30,.06)}"
".tl-phase{position:absolute;top:2px;height:16px;padding:0 6px;font-size:11px;font-weight:600;color:#3d4752;"
"white-space:nowrap;overflow:hidden;text-overflow:ellipsis;border-left:2px solid #9aa5b1}"
".tl-body{position:relative}"
"table{border-collapse:collapse;width:100%;font-size:13px}"
"th{text-align:left;font-weight:600;color:#3d4752;background:#f6f8fa;border-bottom:1px solid #d8dce1;padding:6px 8px;white-space:nowrap}"
"td{border-bottom:1px solid #eceef1;padding:6px 8px;vertical-align:top}"
"td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}"
"tr.repeated td{background:#fff8e6}"
".flag{display:inline-block;font-size:11px;font-weight:700;padding:1px 6px;border-radius:4px;white-space:nowrap}"
".flag.nplus1{background:#f5a524;color:#3b2300}"
".flag.err{background:#d92d20;color:#fff}"
"code,pre{font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}"
"pre{margin:0;white-space:pre-wrap;word-break:break-word}"
"pre.sql{color:#0d2c4f}"
".fp{color:#59636e}"
".muted{color:#59636e}"
".examples,.params,.rels{color:#3d4752;font-size:12px;margin-top:4px}"
".error{margin-top:6px;color:#b42318;font-weight:600}"
".sqlstate{font-family:ui-monospace,Menlo,Consolas,monospace;background:#fde2e0;border-radius:4px;padding:0 5px;margin-right:6px}"
"details.plan{margin-top:6px}"
"details.plan summary{cursor:pointer;color:#0b5cad;font-size:12px}"
"details.plan pre{background:#f6f8fa;border:1px solid #e3e6ea;border-radius:6px;padding:8px;margin-top:4px}"
"tr.stmt.failed td{background:#fff4f3}"
"tr.phase-row td{background:#eef2f6;font-weight:600;color:#3d4752}"
".shape-link{font-size:11px;text-decoration:none;color:#0b5cad}"
".kind{display:inline-block;color:#fff;border-radius:4px;padding:0 6px;font-size:11px}"
".kind.k-transaction{color:#1f2328}"
".hidden{color:#8b949e;font-style:italic}"
"footer{color:#8b949e;font-size:12px;text-align:center}";

static void
html_open_fact(StringInfo o, const char *key, bool bad)
{
	appendStringInfo(o, "<div class=\"fact%s\"><span class=\"k\">%s</span><span class=\"v\">",
					 bad ? " bad" : "", key);
}

static void
html_fact(StringInfo o, const char *key, const char *value, bool bad)
{
	html_open_fact(o, key, bad);
	html_text(o, value);
	appendStringInfoString(o, "</span></div>");
}

static void
html_header(Report *r)
{
	StringInfo	o = &r->out;
	const CapqSlot *slot = &r->slot;
	const CapqLedger *ledger = &r->ledger;
	char	   *label = slot->label[0] ? capq_label_to_reader(slot) : NULL;

	appendStringInfoString(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
						   "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
						   "<meta name=\"generator\" content=\"capquery\"><title>capquery report: ");
	html_text(o, label ? label : psprintf("capture " UINT64_FORMAT, slot->capture_id));
	appendStringInfo(o, "</title><style>%s</style></head>\n<body><main>\n", html_style);

	appendStringInfoString(o, "<header id=\"summary\"><h1>capquery report");
	if (label)
	{
		appendStringInfoString(o, ": <span class=\"label\">");
		html_text(o, label);
		appendStringInfoString(o, "</span>");
	}
	appendStringInfoString(o, "</h1><div class=\"facts\">");
	html_fact(o, "Capture", psprintf(UINT64_FORMAT " (%s)", slot->capture_id,
									 slot->state == CAPQ_SLOT_ACTIVE ? "active" : "ended"),
			  false);
	html_fact(o, "Owner", user_name(r, slot->owner_userid), false);
	html_fact(o, "Scope", capq_scope_name(slot->scope), false);
	html_fact(o, "Plans", capq_plans_names[slot->plans], false);
	html_fact(o, "Started", started_text(r), false);
	html_fact(o, "Time span", time_span_text(r), false);
	html_fact(o, "Statements", psprintf(UINT64_FORMAT, ledger->statements), false);
	html_fact(o, "Failed", psprintf(UINT64_FORMAT, r->failed), r->failed > 0);
	html_fact(o, "Lost", psprintf(UINT64_FORMAT, ledger->lost), ledger->lost > 0);
	html_fact(o, "Likely N+1 shapes", psprintf("%d", r->nrepeated), r->nrepeated > 0);
	appendStringInfoString(o, "</div><div class=\"chips\" id=\"kinds\">");
	for (int k = 0; k < CAPQ_NUM_KINDS; k++)
	{
		if (ledger->kind_counts[k] == 0)
			continue;
		appendStringInfo(o, "<span class=\"chip\"><span class=\"sw k-%s\"></span>%s <b>" UINT64_FORMAT "</b></span>",
						 capq_kind_name((CapqKind) k), capq_kind_name((CapqKind) k),
						 ledger->kind_counts[k]);
	}
	appendStringInfoString(o, "</div></header>\n");
}

/* left and width of a bar, in percent of the axis */
static void
html_position(StringInfo o, const Report *r, double start, double ms)
{
	double		span = r->span_ms > 0 ? r->span_ms : 1.0;

	appendStringInfo(o, "left:%.3f%%;width:%.3f%%", 100.0 * start / span,
					 100.0 * ms / span);
}

static void
html_timeline(Report *r)
{
	StringInfo	o = &r->out;
	PhaseBand  *bands = r->bands;
	int			nbands = r->nbands;
	double		span = r->span_ms > 0 ? r->span_ms : 1.0;
	double		step = tick_step(span);

	appendStringInfoString(o, "<section id=\"timeline\"><h2>Timeline</h2><p class=\"sub\">");
	appendStringInfo(o, "One bar per statement: start and duration on a %s axis%s; "
					 "phases are bands, nested statements are indented. Click a bar for the statement.",
					 format_ms(r->span_ms),
					 r->clocked ? "" : " (start times not recorded: statements laid end to end)");
	appendStringInfoString(o, "</p><div class=\"chips\" id=\"legend\">");
	for (int k = 0; k < CAPQ_NUM_KINDS; k++)
		appendStringInfo(o, "<span class=\"chip\"><span class=\"sw k-%s\"></span>%s</span>",
						 capq_kind_name((CapqKind) k), capq_kind_name((CapqKind) k));
	appendStringInfoString(o, "<span class=\"chip\"><span class=\"sw failed\"></span>failed</span>"
						   "<span class=\"chip\"><span class=\"sw nplus1\"></span>repeated shape (likely N+1)</span></div>\n");

	appendStringInfoString(o, "<div class=\"tl\"><div class=\"tl-layer\">");
	for (double t = 0; t <= span * 1.0001 && t / step < 20; t += step)
		appendStringInfo(o, "<div class=\"tl-grid\" style=\"left:%.3f%%\"></div>", 100.0 * t / span);
	for (int b = 0; b < nbands; b++)
	{
		appendStringInfo(o, "<div class=\"tl-band%s\" style=\"", b % 2 ? " odd" : "");
		html_position(o, r, bands[b].start_ms, bands[b].end_ms - bands[b].start_ms);
		appendStringInfoString(o, "\"></div>");
	}
	appendStringInfoString(o, "</div>\n<div class=\"tl-row tl-axis\"><div class=\"tl-label muted\">statement</div><div class=\"tl-track\">");
	for (double t = 0; t <= span * 1.0001 && t / step < 20; t += step)
		appendStringInfo(o, "<span class=\"tl-tick\" style=\"left:%.3f%%\">%s</span>",
						 100.0 * t / span, format_ms(t));
	appendStringInfoString(o, "</div></div>\n");
	if (nbands > 1 || (nbands == 1 && bands[0].name))
	{
		appendStringInfoString(o, "<div class=\"tl-row tl-phases\"><div class=\"tl-label muted\">phases</div><div class=\"tl-track\">");
		for (int b = 0; b < nbands; b++)
		{
			appendStringInfoString(o, "<span class=\"tl-phase\" style=\"");
			html_position(o, r, bands[b].start_ms, bands[b].end_ms - bands[b].start_ms);
			appendStringInfo(o, ";min-width:60px\" title=\"phase %d", bands[b].phase);
			if (bands[b].name)
			{
				appendStringInfoString(o, ": ");
				html_text(o, bands[b].name);
			}
			appendStringInfo(o, "\">%d", bands[b].phase);
			if (bands[b].name)
			{
				appendStringInfoString(o, " &middot; ");
				html_text(o, bands[b].name);
			}
			appendStringInfoString(o, "</span>");
		}
		appendStringInfoString(o, "</div></div>\n");
	}

	appendStringInfoString(o, "<div class=\"tl-body\">\n");
	for (Size i = 0; i < r->nlisted && !report_full(r); i++)
	{
		const ListedEntry *e = &r->listed[i];
		const char *kind = capq_kind_name(e->kind);
		bool		failed = listed_failed(e);
		char	   *text = e->text;
		int			depth = Min(Max(e->nesting, 0), 10);
		const CapqShapeGroup *g = listed_group(r, e);
		bool		repeated = g != NULL && group_repeated(g);

		appendStringInfo(o, "<div class=\"tl-row%s%s\" id=\"tl-" UINT64_FORMAT "\">",
						 failed ? " failed" : "", repeated ? " nplus1" : "", e->seq);
		appendStringInfo(o, "<a class=\"tl-label\" href=\"#stmt-" UINT64_FORMAT "\" style=\"padding-left:%dpx\"><span class=\"seq\">#" UINT64_FORMAT "</span>",
						 e->seq, 6 + depth * 16, e->seq);
		if (depth > 0)
			appendStringInfoString(o, "&#x21b3; ");
		html_text(o, one_line(text, REPORT_LINE_BYTES));
		appendStringInfoString(o, "</a><div class=\"tl-track\">");
		appendStringInfo(o, "<a class=\"tl-bar k-%s%s\" href=\"#stmt-" UINT64_FORMAT "\" style=\"",
						 kind, failed ? " failed" : "", e->seq);
		html_position(o, r, e->offset_ms, listed_ms(e));
		appendStringInfo(o, "\" title=\"#" UINT64_FORMAT " %s, +%s, %s",
						 e->seq, kind, format_ms(e->offset_ms),
						 duration_text(e));
		if (failed)
			appendStringInfo(o, ", ERROR %s", e->sqlstate);
		appendStringInfoString(o, ": ");
		html_text(o, one_line(text, REPORT_LINE_BYTES * 2));
		appendStringInfoString(o, "\"></a></div></div>\n");
	}
	appendStringInfoString(o, "</div></div>");
	if (r->nlisted < r->nentries || report_full(r))
		appendStringInfo(o, "<p class=\"sub\">The first " UINT64_FORMAT " of " UINT64_FORMAT
						 " statements are drawn; the counts and the shape table cover them all.</p>",
						 (uint64) r->nlisted, r->nentries);
	appendStringInfoString(o, "</section>\n");
}

static void
html_plan(StringInfo o, const char *classes, const char *summary,
		  const char *plan)
{
	appendStringInfo(o, "<details class=\"%s\"><summary>", classes);
	html_text(o, summary);
	appendStringInfoString(o, "</summary><pre>");
	html_text(o, plan);
	appendStringInfoString(o, "</pre></details>");
}

static void
html_shapes(Report *r)
{
	StringInfo	o = &r->out;
	int			shown = 0;

	appendStringInfo(o, "<section id=\"shapes\"><h2>Statement shapes</h2><p class=\"sub\">"
					 "%d shapes by phase. <span class=\"flag nplus1\">N+1?</span> marks a shape that ran more than once "
					 "in one phase (a likely N+1, transaction control left out); those come first, the others by total time.</p>",
					 r->ngroups);
	appendStringInfoString(o, "<table class=\"shapes\"><thead><tr><th></th><th>Phase</th><th>Statement</th>"
						   "<th class=\"num\">Executions</th><th class=\"num\">Rows</th><th class=\"num\">Total</th>"
						   "<th class=\"num\">Max</th><th>Relations</th><th>Call sites</th></tr></thead><tbody>\n");
	for (int i = 0; i < r->ngroups && shown < CAPQ_REPORT_MAX_SHAPES && !report_full(r); i++, shown++)
	{
		const CapqShapeGroup *g = &r->groups[i];
		char	   *plan = slowest_plan(r, g);
		ListCell   *lc;

		appendStringInfo(o, "<tr class=\"shape%s\" id=\"shape-%d\" data-fingerprint=\"%s\"><td>",
						 group_repeated(g) ? " repeated" : "", i + 1, g->fingerprint);
		if (group_repeated(g))
			appendStringInfoString(o, "<span class=\"flag nplus1\" title=\"ran more than once in one phase\">N+1?</span>");
		if (g->failed > 0)
			appendStringInfo(o, " <span class=\"flag err\">" UINT64_FORMAT " failed</span>",
							 g->failed);
		appendStringInfo(o, "</td><td class=\"num\">%d</td><td><span class=\"kind k-%s\">%s</span> <code class=\"fp\">%s</code>",
						 g->phase, capq_kind_name(g->kind), capq_kind_name(g->kind),
						 g->fingerprint);
		if (g->normalized)
		{
			appendStringInfoString(o, "<pre class=\"sql\">");
			html_text(o, capq_clip_text(g->normalized, REPORT_TEXT_BYTES));
			appendStringInfoString(o, "</pre>");
		}
		else
			appendStringInfoString(o, "<pre class=\"sql hidden\">" CAPQ_HIDDEN_TEXT_HTML "</pre>");
		foreach(lc, g->examples)
		{
			appendStringInfoString(o, "<div class=\"examples\">e.g. ");
			html_text(o, capq_clip_text(lfirst(lc), REPORT_PARAMS_BYTES));
			appendStringInfoString(o, "</div>");
		}
		if (plan)
			html_plan(o, "plan shape-plan",
					  psprintf("Plan of the slowest execution (#" UINT64_FORMAT ", %s)",
							   g->slowest_seq, format_ms(g->max_ms)),
					  plan);
		appendStringInfo(o, "</td><td class=\"num\">" UINT64_FORMAT "</td><td class=\"num\">" UINT64_FORMAT
						 "</td><td class=\"num\">%s</td><td class=\"num\">%s</td><td>",
						 g->executions, g->rows, format_ms(g->total_ms), format_ms(g->max_ms));
		html_text(o, group_relations(g));
		appendStringInfoString(o, "</td><td>");
		html_text(o, string_list(g->call_sites));
		appendStringInfoString(o, "</td></tr>\n");
	}
	appendStringInfoString(o, "</tbody></table>");
	if (shown < r->ngroups)
		appendStringInfo(o, "<p class=\"sub\">%d more shapes not listed.</p>", r->ngroups - shown);
	appendStringInfoString(o, "</section>\n");
}

static void
html_statements(Report *r)
{
	StringInfo	o = &r->out;
	int32		phase = -1;

	appendStringInfoString(o, "<section id=\"statements\"><h2>Statements</h2>"
						   "<table class=\"stmts\"><thead><tr><th class=\"num\">#</th><th class=\"num\">Start</th>"
						   "<th class=\"num\">Duration</th><th class=\"num\">Rows</th><th>Kind</th><th>User</th>"
						   "<th>Statement</th></tr></thead><tbody>\n");
	for (Size i = 0; i < r->nlisted && !report_full(r); i++)
	{
		const ListedEntry *e = &r->listed[i];
		bool		visible = e->visible;
		char	   *params = e->params;
		char	   *plan = e->plan;
		char	   *message = e->message;
		char	   *relations = e->relations;

		if (e->phase != phase)
		{
			phase = e->phase;
			appendStringInfo(o, "<tr class=\"phase-row\" id=\"phase-%d\"><td colspan=\"7\">Phase %d", phase, phase);
			if (e->phase_name)
			{
				appendStringInfoString(o, " &middot; ");
				html_text(o, e->phase_name);
			}
			appendStringInfoString(o, "</td></tr>\n");
		}
		appendStringInfo(o, "<tr class=\"stmt%s\" id=\"stmt-" UINT64_FORMAT "\"><td class=\"num\">" UINT64_FORMAT
						 "</td><td class=\"num\">+%s</td><td class=\"num\">%s</td><td class=\"num\">",
						 listed_failed(e) ? " failed" : "", e->seq, e->seq,
						 format_ms(e->offset_ms),
						 duration_text(e));
		if (e->flags & CAPQ_FLAG_DONE)
			appendStringInfo(o, UINT64_FORMAT, e->rows);
		appendStringInfo(o, "</td><td><span class=\"kind k-%s\">%s</span>",
						 capq_kind_name(e->kind), capq_kind_name(e->kind));
		if (e->nesting > 0)
			appendStringInfo(o, " <span class=\"muted\">nested %d</span>", e->nesting);
		if (e->group >= 0 && e->group < CAPQ_REPORT_MAX_SHAPES)
		{
			const CapqShapeGroup *g = listed_group(r, e);

			appendStringInfo(o, "<br><a class=\"shape-link\" href=\"#shape-%d\">%s</a>",
							 e->group + 1,
							 group_repeated(g) ? "<span class=\"flag nplus1\">N+1?</span>" : "shape");
		}
		appendStringInfoString(o, "</td><td>");
		html_text(o, user_name(r, e->userid));
		appendStringInfo(o, "</td><td><pre class=\"sql%s\">", visible ? "" : " hidden");
		html_text(o, e->text);
		appendStringInfoString(o, "</pre>");
		if (params)
		{
			appendStringInfoString(o, "<div class=\"params\">parameters: ");
			html_text(o, params);
			appendStringInfoString(o, "</div>");
		}
		if (relations)
		{
			appendStringInfoString(o, "<div class=\"rels\">relations: ");
			html_text(o, relations);
			appendStringInfoString(o, "</div>");
		}
		if (listed_failed(e))
		{
			appendStringInfoString(o, "<div class=\"error\"><span class=\"sqlstate\">");
			html_text(o, e->sqlstate);
			appendStringInfoString(o, "</span>");
			if (message)
				html_text(o, message);
			appendStringInfoString(o, "</div>");
		}
		if (plan)
			html_plan(o, "plan", "Plan", plan);
		appendStringInfoString(o, "</td></tr>\n");
	}
	appendStringInfoString(o, "</tbody></table>");
	if (r->nlisted < r->nentries || report_full(r))
		appendStringInfo(o, "<p class=\"sub\">The first " UINT64_FORMAT " of " UINT64_FORMAT
						 " statements are listed.</p>",
						 (uint64) r->nlisted, r->nentries);
	appendStringInfoString(o, "</section>\n");
}

static void
html_report(Report *r)
{
	html_header(r);
	html_timeline(r);
	html_shapes(r);
	html_statements(r);
	appendStringInfo(&r->out, "<footer>capquery &middot; capq_report() &middot; %s</footer>\n</main></body></html>\n",
					 timestamptz_to_str(GetCurrentTimestamp()));
}

/*---- Markdown and plain text ----*/

/* text for the format: escaped for Markdown, cleaned for a terminal */
static void
doc_text(Report *r, const char *s)
{
	if (r->format == CAPQ_REPORT_MARKDOWN)
		md_text(&r->out, s);
	else
		plain_text(&r->out, s, "    ");
}

static void
doc_heading(Report *r, int level, const char *title)
{
	StringInfo	o = &r->out;

	if (r->format == CAPQ_REPORT_MARKDOWN)
	{
		append_repeated(o, '#', level);
		appendStringInfo(o, " %s\n\n", title);
		return;
	}
	appendStringInfo(o, "%s\n", title);
	append_repeated(o, level == 1 ? '=' : '-', strlen(title));
	appendStringInfoString(o, "\n\n");
}

/* a block of preformatted text: fenced in Markdown, indented in text */
static void
doc_block(Report *r, const char *info, const char *s, const char *indent)
{
	if (r->format == CAPQ_REPORT_MARKDOWN)
		md_fenced(&r->out, info, s);
	else
	{
		appendStringInfoString(&r->out, indent);
		plain_text(&r->out, s, indent);
		appendStringInfoChar(&r->out, '\n');
	}
}

/* a plan: collapsible in Markdown (GitHub renders <details>) */
static void
doc_plan(Report *r, const char *summary, const char *plan)
{
	if (r->format == CAPQ_REPORT_MARKDOWN)
	{
		appendStringInfo(&r->out, "<details><summary>%s</summary>\n\n", summary);
		md_fenced(&r->out, "", plan);
		appendStringInfoString(&r->out, "\n</details>\n\n");
		return;
	}
	appendStringInfo(&r->out, "    %s:\n", summary);
	doc_block(r, "", plan, "        ");
}

static void
doc_header(Report *r)
{
	StringInfo	o = &r->out;
	const CapqSlot *slot = &r->slot;
	const CapqLedger *ledger = &r->ledger;
	char	   *label = slot->label[0] ? capq_label_to_reader(slot) : NULL;
	const char *facts[][2] = {
		{"Capture", psprintf(UINT64_FORMAT " (%s)", slot->capture_id,
							 slot->state == CAPQ_SLOT_ACTIVE ? "active" : "ended")},
		{"Label", label ? label : "(none)"},
		{"Owner", user_name(r, slot->owner_userid)},
		{"Scope", capq_scope_name(slot->scope)},
		{"Plans", capq_plans_names[slot->plans]},
		{"Started", started_text(r)},
		{"Time span", time_span_text(r)},
		{"Statements", psprintf(UINT64_FORMAT " (%s)", ledger->statements, kinds_text(ledger))},
		{"Failed", psprintf(UINT64_FORMAT, r->failed)},
		{"Lost", psprintf(UINT64_FORMAT, ledger->lost)},
		{"Likely N+1 shapes", psprintf("%d", r->nrepeated)},
	};

	doc_heading(r, 1, "capquery report");
	if (r->format == CAPQ_REPORT_MARKDOWN)
		appendStringInfoString(o, "| | |\n|---|---|\n");
	for (int i = 0; i < lengthof(facts); i++)
	{
		if (r->format == CAPQ_REPORT_MARKDOWN)
		{
			appendStringInfo(o, "| **%s** | ", facts[i][0]);
			md_text(o, facts[i][1]);
			appendStringInfoString(o, " |\n");
		}
		else
		{
			appendStringInfo(o, "%-18s ", psprintf("%s:", facts[i][0]));
			plain_text(o, facts[i][1], "");
			appendStringInfoChar(o, '\n');
		}
	}
	appendStringInfoChar(o, '\n');
}

/*
 * The timeline as characters: one line per statement, its bar on a
 * REPORT_TEXT_COLUMNS wide axis ('=' ran, 'X' failed), phases as
 * heading lines, nesting indented.
 */
static void
doc_timeline(Report *r)
{
	double		span = r->span_ms > 0 ? r->span_ms : 1.0;
	StringInfoData t;
	int32		phase = -1;

	doc_heading(r, 2, "Timeline");
	appendStringInfo(&r->out, "One line per statement on a %s axis%s.\n\n",
					 format_ms(r->span_ms),
					 r->clocked ? "" : " (start times not recorded: statements laid end to end)");
	initStringInfo(&t);
	appendStringInfo(&t, "%-7s  0%*s\n", "", REPORT_TEXT_COLUMNS + 1, format_ms(r->span_ms));
	for (Size i = 0; i < r->nlisted && !report_full(r); i++)
	{
		const ListedEntry *e = &r->listed[i];
		int			from = (int) floor(e->offset_ms / span * REPORT_TEXT_COLUMNS);
		int			to = (int) ceil((e->offset_ms + listed_ms(e)) / span * REPORT_TEXT_COLUMNS);
		int			depth = Min(Max(e->nesting, 0), 10);

		from = Min(Max(from, 0), REPORT_TEXT_COLUMNS - 1);
		to = Min(Max(to, from + 1), REPORT_TEXT_COLUMNS);
		if (e->phase != phase)
		{
			phase = e->phase;
			appendStringInfo(&t, "-- phase %d", phase);
			if (e->phase_name)
			{
				appendStringInfoString(&t, ": ");
				appendStringInfoString(&t, one_line(e->phase_name, REPORT_LINE_BYTES));
			}
			appendStringInfoChar(&t, '\n');
		}
		appendStringInfo(&t, "%-7s |", psprintf("#" UINT64_FORMAT, e->seq));
		append_repeated(&t, ' ', from);
		append_repeated(&t, listed_failed(e) ? 'X' : '=', to - from);
		append_repeated(&t, ' ', REPORT_TEXT_COLUMNS - to);
		appendStringInfo(&t, "| %9s %-11s ", format_ms(listed_ms(e)),
						 capq_kind_name(e->kind));
		append_repeated(&t, ' ', depth * 2);
		if (e->group >= 0 && group_repeated(&r->groups[e->group]))
			appendStringInfoString(&t, "N+1? ");
		if (listed_failed(e))
			appendStringInfo(&t, "ERROR %s ", e->sqlstate);
		appendStringInfoString(&t, one_line(e->text, REPORT_LINE_BYTES));
		appendStringInfoChar(&t, '\n');
		if (t.len > CAPQ_REPORT_SOFT_LIMIT)
			break;
	}
	if (r->format == CAPQ_REPORT_MARKDOWN)
		md_fenced(&r->out, "text", t.data);
	else
		plain_text(&r->out, t.data, "");
	if (r->nlisted < r->nentries)
		appendStringInfo(&r->out, "\nThe first " UINT64_FORMAT " of " UINT64_FORMAT " statements are drawn.\n",
						 (uint64) r->nlisted, r->nentries);
	appendStringInfoChar(&r->out, '\n');
}

static void
doc_shapes(Report *r)
{
	StringInfo	o = &r->out;
	bool		md = r->format == CAPQ_REPORT_MARKDOWN;
	int			shown = 0;

	doc_heading(r, 2, "Statement shapes");
	appendStringInfo(o, "%d shapes by phase; %d ran more than once in one phase (likely N+1, marked %s) and come first.\n\n",
					 r->ngroups, r->nrepeated, md ? "**N+1?**" : "[N+1?]");
	if (md)
		appendStringInfoString(o, "| | phase | shape | statement | executions | rows | total | max | relations | call sites |\n"
							   "|---|---:|---|---|---:|---:|---:|---:|---|---|\n");
	for (int i = 0; i < r->ngroups && shown < CAPQ_REPORT_MAX_SHAPES && !report_full(r); i++, shown++)
	{
		const CapqShapeGroup *g = &r->groups[i];
		const char *stmt = g->normalized ? capq_clip_text(g->normalized, REPORT_TEXT_BYTES) : CAPQ_HIDDEN_TEXT;

		if (md)
		{
			appendStringInfo(o, "| %s%s | %d | `%s` %s | ", group_repeated(g) ? "**N+1?**" : "",
							 g->failed > 0 ? psprintf(" %s", count_noun(g->failed, "failed", "failed")) : "",
							 g->phase, g->fingerprint, capq_kind_name(g->kind));
			md_code(o, stmt);
			appendStringInfo(o, " | " UINT64_FORMAT " | " UINT64_FORMAT " | %s | %s | ",
							 g->executions, g->rows, format_ms(g->total_ms), format_ms(g->max_ms));
			md_text(o, group_relations(g));
			appendStringInfoString(o, " | ");
			md_text(o, string_list(g->call_sites));
			appendStringInfoString(o, " |\n");
			continue;
		}
		appendStringInfo(o, "%s phase %d, %s, shape %s: %s%s, %s, total %s, max %s\n",
						 group_repeated(g) ? "[N+1?]" : "      ", g->phase,
						 capq_kind_name(g->kind), g->fingerprint,
						 count_noun(g->executions, "execution", "executions"),
						 g->failed > 0 ? psprintf(" (" UINT64_FORMAT " failed)", g->failed) : "",
						 count_noun(g->rows, "row", "rows"),
						 format_ms(g->total_ms), format_ms(g->max_ms));
		doc_block(r, "", stmt, "    ");
		if (g->relations != NIL)
		{
			appendStringInfoString(o, "    relations: ");
			plain_text(o, group_relations(g), "");
			appendStringInfoChar(o, '\n');
		}
		if (g->call_sites != NIL)
		{
			appendStringInfoString(o, "    call sites: ");
			plain_text(o, string_list(g->call_sites), "");
			appendStringInfoChar(o, '\n');
		}
		if (g->examples != NIL)
		{
			appendStringInfoString(o, "    e.g. ");
			plain_text(o, capq_clip_text(linitial(g->examples), REPORT_PARAMS_BYTES), "");
			appendStringInfoChar(o, '\n');
		}
		appendStringInfoChar(o, '\n');
	}
	if (shown < r->ngroups)
		appendStringInfo(o, "%s%d more shapes not listed.\n", md ? "\n" : "", r->ngroups - shown);
	appendStringInfoChar(o, '\n');

	/* the slowest execution's plan of each listed shape */
	for (int i = 0; i < shown && !report_full(r); i++)
	{
		const CapqShapeGroup *g = &r->groups[i];
		char	   *plan = slowest_plan(r, g);

		if (plan == NULL)
			continue;
		doc_plan(r, psprintf("Plan of the slowest execution of shape %s in phase %d (#" UINT64_FORMAT ", %s)",
							 g->fingerprint, g->phase, g->slowest_seq, format_ms(g->max_ms)),
				 plan);
	}
	if (!md)
		appendStringInfoChar(o, '\n');
}

static void
doc_statements(Report *r)
{
	StringInfo	o = &r->out;
	bool		md = r->format == CAPQ_REPORT_MARKDOWN;

	doc_heading(r, 2, "Statements");
	for (Size i = 0; i < r->nlisted && !report_full(r); i++)
	{
		const ListedEntry *e = &r->listed[i];
		char	   *params = e->params;
		char	   *plan = e->plan;
		char	   *message = e->message;
		char	   *relations = e->relations;
		char	   *head;

		head = psprintf("#" UINT64_FORMAT ", phase %d, +%s, %s, %s%s%s, by %s",
						e->seq, e->phase, format_ms(e->offset_ms),
						duration_text(e),
						(e->flags & CAPQ_FLAG_DONE) ? psprintf("%s, ", count_noun(e->rows, "row", "rows")) : "",
						capq_kind_name(e->kind),
						e->nesting > 0 ? psprintf(" (nested %d)", e->nesting) : "",
						user_name(r, e->userid));
		if (md)
		{
			appendStringInfoString(o, "**");
			md_text(o, head);
			appendStringInfoString(o, "**");
			if (listed_failed(e))
				appendStringInfo(o, " **ERROR %s**", e->sqlstate);
			appendStringInfoString(o, "\n\n");
		}
		else
		{
			plain_text(o, head, "");
			if (listed_failed(e))
				appendStringInfo(o, "  ERROR %s", e->sqlstate);
			appendStringInfoChar(o, '\n');
		}
		doc_block(r, "sql", e->text, "    ");
		if (params)
		{
			appendStringInfoString(o, md ? "\nparameters: " : "    parameters: ");
			doc_text(r, params);
			appendStringInfoChar(o, '\n');
		}
		if (relations)
		{
			appendStringInfoString(o, md ? "\nrelations: " : "    relations: ");
			doc_text(r, relations);
			appendStringInfoChar(o, '\n');
		}
		if (listed_failed(e) && message)
		{
			appendStringInfo(o, md ? "\nerror %s: " : "    error %s: ", e->sqlstate);
			doc_text(r, message);
			appendStringInfoChar(o, '\n');
		}
		if (plan)
		{
			if (md)
				appendStringInfoChar(o, '\n');
			doc_plan(r, "Plan", plan);
		}
		appendStringInfoChar(o, '\n');
	}
	if (r->nlisted < r->nentries || report_full(r))
		appendStringInfo(o, "The first " UINT64_FORMAT " of " UINT64_FORMAT " statements are listed.\n",
						 (uint64) r->nlisted, r->nentries);
}

/*---- Entry point ----*/

/* The report of the capture rd reads (from its start), in one format. */
char *
capq_report_render(CapqReader *rd, CapqReportFormat format)
{
	Report		r;

	memset(&r, 0, sizeof(r));
	r.format = format;
	prepare(&r, rd);
	capq_read_close(rd);
	initStringInfo(&r.out);
	if (format == CAPQ_REPORT_HTML)
		html_report(&r);
	else
	{
		doc_header(&r);
		doc_timeline(&r);
		doc_shapes(&r);
		doc_statements(&r);
	}
	return r.out.data;
}
