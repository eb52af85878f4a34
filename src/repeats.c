/*-------------------------------------------------------------------------
 *
 * repeats.c
 *		N+1 analysis: group a capture's statements by shape (and phase),
 *		with executions, rows, time, relations, call sites and example
 *		parameters; name the repeated ones.
 *
 * Statements come one at a time from a reader (reader.c) and are counted
 * in their group as they come: memory holds the groups, not the capture.
 * Statements with the same text are scanned once (a text cache keeping
 * the fingerprint and call sites, and what a report showed of the text,
 * bounded in size), so a capture of an N+1 loop costs one scan per
 * distinct text, which yields fingerprint, call sites, normalized text and
 * values together; the scan's memory is freed at once.  Only a repeated
 * text with bound parameters whose group still lacks examples is scanned
 * again.  Call sites come from
 * sqlcommenter-style comments (key='value',...); the shape ignores
 * comments, the report shows them, less the per-request trace keys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "capture.h"
#include "render.h"
#include "repeats.h"
#include "settings.h"
#include "shape.h"

/* shapes named in an assertion's hint */
#define CAPQ_HINT_MAX_SHAPES	3

/*
 * A distinct statement text, scanned once: its fingerprint and call sites,
 * and, once a report needed them, its normalized text and (for a text
 * without bound parameters, whose values depend on the text alone) its
 * values.  It owns a copy of the text: statements are read a chunk at a
 * time.
 */
typedef struct TextShape
{
	uint64		hash;			/* of the text: MUST BE FIRST */
	char	   *text;			/* a copy of the text */
	uint32		text_len;
	char	   *fingerprint;
	List	   *call_sites;
	char	   *normalized;		/* NULL until a group needed it */
	bool		has_params;		/* $n: values depend on the entry */
	bool		values_known;	/* values is set (NULL: no constants) */
	char	   *values;
} TextShape;

/* Statements being grouped: see capq_grouping_begin. */
struct CapqGrouping
{
	bool		by_phase;
	bool		have_kind;
	CapqKind	kind;
	uint64		show_from;
	bool		with_examples;
	MemoryContext groupcxt;		/* the groups and what they show */
	MemoryContext cachecxt;		/* the text cache */
	MemoryContext scratch;		/* one statement's scan */
	HTAB	   *cache;			/* TextShape by hash of the text, or NULL */
	HTAB	   *byshape;		/* CapqShapeGroup by key */
	CapqShapeGroup **created;	/* the groups in order of first execution */
	int			n;
	int			max;
};

/* sqlcommenter keys that change with every request, not with the code */
static bool
volatile_tag(const char *key, int len)
{
	return (len == 11 && strncmp(key, "traceparent", 11) == 0) ||
		(len == 10 && strncmp(key, "tracestate", 10) == 0);
}

/*
 * The call site in a comment written as key='value' pairs separated by
 * commas (sqlcommenter, Rails query log tags), without trace keys; NULL
 * for any other comment.
 */
char *
capq_call_site(const char *comment)
{
	StringInfoData buf;
	const char *p = comment;
	int			pairs = 0;

	initStringInfo(&buf);
	while (*p == ' ')
		p++;
	while (*p)
	{
		const char *key = p;
		int			keylen;

		while (*p && *p != '=' && *p != ',' && *p != ' ')
			p++;
		keylen = p - key;
		if (keylen == 0 || *p != '=' || p[1] != '\'')
			return NULL;
		p += 2;
		while (*p && *p != '\'')
			p++;
		if (*p != '\'')
			return NULL;
		if (!volatile_tag(key, keylen))
		{
			if (buf.len > 0)
				appendStringInfoChar(&buf, ',');
			appendBinaryStringInfo(&buf, key, p + 1 - key);
		}
		pairs++;
		p++;
		while (*p == ' ')
			p++;
		if (*p == ',')
			p++;
		while (*p == ' ')
			p++;
	}
	return pairs > 0 && buf.len > 0 ? buf.data : NULL;
}

/*
 * The cache entry of an entry's text, scanning the text (into *shape, in
 * the scratch context; *scanned says so) when it is not cached.
 */
static TextShape *
text_shape(CapqGrouping *gr, const CapqEntry *e, CapqShape *shape,
		   bool *scanned)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) e->text,
										   e->text_len, 0);
	TextShape  *ts;
	bool		found;
	MemoryContext outer;
	ListCell   *lc;

	ts = gr->cache ? hash_search(gr->cache, &hash, HASH_FIND, NULL) : NULL;
	/* a hash collision recomputes the entry for this text */
	if (ts != NULL && ts->text_len == e->text_len &&
		memcmp(ts->text, e->text, e->text_len) == 0)
	{
		*scanned = false;
		return ts;
	}

	/* (the groups own copies of what they show: the cache may start over) */
	gr->cache = capq_text_cache(gr->cache, gr->cachecxt, sizeof(TextShape),
								"capquery text shapes");
	ts = hash_search(gr->cache, &hash, HASH_ENTER, &found);

	/* one scan per distinct text: fingerprint, call sites, and what the
	 * report shows, all from the same tokens */
	outer = MemoryContextSwitchTo(gr->scratch);
	capq_shape_scan(shape, e->text, e->text_len, true);
	*scanned = true;
	MemoryContextSwitchTo(gr->cachecxt);
	ts->text = pnstrdup(e->text, e->text_len);
	ts->text_len = e->text_len;
	ts->fingerprint = capq_shape_fingerprint(shape);
	ts->call_sites = NIL;
	foreach(lc, shape->comments)
	{
		char	   *site = capq_call_site(lfirst(lc));

		if (site)
			ts->call_sites = lappend(ts->call_sites, site);
	}
	ts->normalized = NULL;
	ts->has_params = false;
	for (int i = 0; i < shape->ntokens && !ts->has_params; i++)
		ts->has_params = shape->tokens[i].param_no > 0;
	ts->values_known = false;
	ts->values = NULL;
	MemoryContextSwitchTo(outer);
	return ts;
}

/*
 * Add a relation to a group once.  A scope 'all' capture mixes databases,
 * where the same OID names different relations: the pair is the key.
 */
static void
group_add_relation(CapqShapeGroup *g, Oid dbid, Oid relid)
{
	ListCell   *r;
	ListCell   *d;

	forboth(r, g->relations, d, g->relation_dbids)
	{
		if (lfirst_oid(r) == relid && lfirst_oid(d) == dbid)
			return;
	}
	g->relations = lappend_oid(g->relations, relid);
	g->relation_dbids = lappend_oid(g->relation_dbids, dbid);
}

/* list with a copy of s appended, unless it holds s already */
static List *
append_distinct_string(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
	{
		if (strcmp(lfirst(lc), s) == 0)
			return list;
	}
	return lappend(list, pstrdup(s));
}

/*
 * A statement the report shows: its group's normalized text (the first
 * time) and its values as an example.  From the scan of the text when the
 * caller has one (shape), else from what the text's cache entry kept, and
 * only when neither has it from a new scan (in scratch).
 */
static void
show_statement(CapqGrouping *gr, CapqShapeGroup *g, TextShape *ts,
			   const CapqEntry *e, CapqShape *shape)
{
	/* (called only while the group lacks what it shows) */
	bool		need_normalized = g->normalized == NULL && ts->normalized == NULL;
	bool		need_values = gr->with_examples &&
		(ts->has_params || !ts->values_known);
	CapqShape	rescan;
	char	   *values = NULL;
	MemoryContext outer = MemoryContextSwitchTo(gr->scratch);

	if ((need_normalized || need_values) && shape == NULL)
	{
		capq_shape_scan(&rescan, e->text, e->text_len, true);
		shape = &rescan;
	}
	MemoryContextSwitchTo(gr->cachecxt);
	if (need_normalized)
		ts->normalized = capq_shape_normalized(shape);
	if (need_values && !ts->has_params)
	{
		ts->values = capq_shape_values(shape, e);
		ts->values_known = true;
	}
	MemoryContextSwitchTo(gr->scratch);
	if (gr->with_examples)
		values = ts->has_params ? capq_shape_values(shape, e) : ts->values;
	MemoryContextSwitchTo(gr->groupcxt);
	if (g->normalized == NULL)
		g->normalized = pstrdup(ts->normalized);
	if (values && list_length(g->examples) < CAPQ_SHAPE_EXAMPLES)
		g->examples = append_distinct_string(g->examples, values);
	MemoryContextSwitchTo(outer);
}

/* Does the group still lack what it shows? */
static inline bool
group_unshown(const CapqGrouping *gr, const CapqShapeGroup *g)
{
	return g->normalized == NULL ||
		(gr->with_examples && list_length(g->examples) < CAPQ_SHAPE_EXAMPLES);
}

/*
 * Start grouping statements (of one kind, if given) by shape, and by phase
 * too when by_phase; capq_grouping_add takes them in order.  Only groups of
 * at least show_from executions get their normalized text and examples
 * (the others have NULL and NIL): an assertion names only the shapes it
 * reports, and need not render the rest.  With show_from 0 every group is
 * shown, from the one scan of each text; else capq_grouping_end reads the
 * statements again for the groups shown.  Without with_examples a group
 * gets its normalized text only (no values are formatted): what
 * capq_summary() and the same-count detail show.  The groups live in the
 * current memory context; the grouping's own memory is bounded (its text
 * cache by CAPQ_TEXT_CACHE_BYTES) and freed by capq_grouping_end.
 */
CapqGrouping *
capq_grouping_begin(bool by_phase, bool have_kind, CapqKind kind,
					uint64 show_from, bool with_examples)
{
	CapqGrouping *gr = palloc0(sizeof(CapqGrouping));
	HASHCTL		ctl;

	gr->by_phase = by_phase;
	gr->have_kind = have_kind;
	gr->kind = kind;
	gr->show_from = show_from;
	gr->with_examples = with_examples;
	gr->groupcxt = CurrentMemoryContext;
	gr->cachecxt = AllocSetContextCreate(CurrentMemoryContext,
										 "capquery text shapes",
										 ALLOCSET_DEFAULT_SIZES);
	gr->scratch = AllocSetContextCreate(CurrentMemoryContext,
										"capquery shape scan",
										ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(((CapqShapeGroup *) NULL)->key);
	ctl.entrysize = sizeof(CapqShapeGroup);
	ctl.hcxt = gr->groupcxt;
	gr->byshape = hash_create("capquery shape groups", 64, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	gr->max = 256;
	gr->created = palloc(gr->max * sizeof(CapqShapeGroup *));
	return gr;
}

/* "phase:fingerprint", the key of a statement's group */
static inline void
group_key(const CapqGrouping *gr, const CapqEntry *e, const TextShape *ts,
		  char *key)
{
	snprintf(key, sizeof(((CapqShapeGroup *) NULL)->key), "%d:%s",
			 gr->by_phase ? e->phase : 0, ts->fingerprint);
}

/*
 * Count the next statement in its group.  Returns the group (valid until
 * capq_grouping_end), or NULL for a statement of another kind.
 */
CapqShapeGroup *
capq_grouping_add(CapqGrouping *gr, const CapqEntry *e)
{
	TextShape  *ts;
	char		key[sizeof(((CapqShapeGroup *) NULL)->key)];
	bool		found;
	bool		scanned;
	CapqShape	shape;
	ListCell   *lc;
	CapqShapeGroup *g;
	MemoryContext outer;

	if (!capq_entry_matches(e, gr->have_kind, gr->kind))
		return NULL;
	outer = MemoryContextSwitchTo(gr->groupcxt);
	ts = text_shape(gr, e, &shape, &scanned);
	group_key(gr, e, ts, key);
	g = hash_search(gr->byshape, key, HASH_ENTER, &found);
	if (!found)
	{
		g->phase = gr->by_phase ? e->phase : 0;
		g->fingerprint = pstrdup(ts->fingerprint);
		g->normalized = NULL;
		g->kind = e->kind;
		g->executions = 0;
		g->failed = 0;
		g->rows = 0;
		g->total_ms = 0;
		g->max_ms = e->duration_ms;
		g->slowest_seq = e->seq;
		g->relations = NIL;
		g->relation_dbids = NIL;
		g->call_sites = NIL;
		g->examples = NIL;
		g->first_seq = e->seq;
		if (gr->n >= gr->max)
		{
			gr->max *= 2;
			gr->created = repalloc_huge(gr->created,
										gr->max * sizeof(CapqShapeGroup *));
		}
		gr->created[gr->n++] = g;
	}
	g->executions++;
	if (e->sqlstate[0] != '\0')
		g->failed++;
	g->rows += e->rows;
	g->total_ms += e->duration_ms;
	if (e->duration_ms > g->max_ms)
	{
		g->max_ms = e->duration_ms;
		g->slowest_seq = e->seq;
	}
	/* what a statement touched is as private as its text */
	if (capq_entry_visible(e))
	{
		for (int r = 0; r < e->nrelations; r++)
			group_add_relation(g, e->dbid, e->relations[r]);
		foreach(lc, ts->call_sites)
			g->call_sites = append_distinct_string(g->call_sites, lfirst(lc));
		if (gr->show_from == 0 && group_unshown(gr, g))
			show_statement(gr, g, ts, e, scanned ? &shape : NULL);
	}
	MemoryContextSwitchTo(outer);
	MemoryContextReset(gr->scratch);
	return g;
}

/*
 * The groups, in order of first execution.  With show_from > 0, rd (the
 * reader whose statements were added, all of them) is read again for the
 * statements of the groups shown, in order.
 */
int
capq_grouping_end(CapqGrouping *gr, CapqReader *rd, CapqShapeGroup **groups)
{
	bool		second_pass = false;
	int			n = gr->n;

	for (int k = 0; k < n && gr->show_from > 0 && !second_pass; k++)
		second_pass = gr->created[k]->executions >= gr->show_from;
	if (second_pass)
	{
		CapqEntry  *e;

		capq_read_rewind(rd);
		while ((e = capq_read_next(rd)) != NULL)
		{
			TextShape  *ts;
			CapqShape	shape;
			bool		scanned;
			char		key[sizeof(((CapqShapeGroup *) NULL)->key)];
			CapqShapeGroup *g;

			if (!capq_entry_matches(e, gr->have_kind, gr->kind) ||
				!capq_entry_visible(e))
				continue;
			ts = text_shape(gr, e, &shape, &scanned);
			group_key(gr, e, ts, key);
			g = hash_search(gr->byshape, key, HASH_FIND, NULL);
			if (g != NULL && g->executions >= gr->show_from &&
				group_unshown(gr, g))
				show_statement(gr, g, ts, e, scanned ? &shape : NULL);
			MemoryContextReset(gr->scratch);
		}
	}

	/* in order of first execution, as they were created: no sort */
	*groups = palloc_extended(Max(1, n) * sizeof(CapqShapeGroup), MCXT_ALLOC_HUGE);
	for (int k = 0; k < n; k++)
		(*groups)[k] = *gr->created[k];
	/* (what the groups point to is in groupcxt, not in the table) */
	hash_destroy(gr->byshape);
	MemoryContextDelete(gr->cachecxt);
	MemoryContextDelete(gr->scratch);
	pfree(gr->created);
	pfree(gr);
	return n;
}

/* Group every statement of rd (read from where it is): see capq_grouping_begin. */
int
capq_group_shapes_shown(CapqReader *rd, bool by_phase, bool have_kind,
						CapqKind kind, uint64 show_from, bool with_examples,
						CapqShapeGroup **groups)
{
	CapqGrouping *gr = capq_grouping_begin(by_phase, have_kind, kind,
										   show_from, with_examples);
	CapqEntry  *e;

	while ((e = capq_read_next(rd)) != NULL)
		capq_grouping_add(gr, e);
	return capq_grouping_end(gr, rd, groups);
}

/*
 * A relation's name, for a statement run in database dbid: its name when
 * that is the reader's database, its OID when it was dropped since, and for
 * another database (whose catalogs this backend cannot read; the OID may
 * name something else here) "OID@database", or the bare OID when
 * mark_database is false (a row that names its database already).  Every
 * reader names relations with this function.
 */
char *
capq_relation_name(Oid dbid, Oid relid, bool mark_database)
{
	char	   *name;

	if (dbid == MyDatabaseId)
	{
		name = get_rel_name(relid);
		return name ? name : psprintf("%u", relid);
	}
	if (!mark_database)
		return psprintf("%u", relid);
	name = get_database_name(dbid);
	return name ? psprintf("%u@%s", relid, name) : psprintf("%u@%u", relid, dbid);
}

static int
group_executions_cmp(const void *a, const void *b)
{
	const CapqShapeGroup *x = a;
	const CapqShapeGroup *y = b;

	if (x->executions != y->executions)
		return x->executions > y->executions ? -1 : 1;
	if (x->first_seq != y->first_seq)
		return x->first_seq < y->first_seq ? -1 : 1;
	return 0;
}

/*
 * A grouping for capq_repeated_shapes_hint: by phase, every kind, the
 * shapes run more than once shown (their normalized text only).
 */
CapqGrouping *
capq_repeats_grouping(void)
{
	return capq_grouping_begin(true, false, CAPQ_KIND_SELECT, 2, false);
}

/*
 * "Statement shape repeated 5 times in phase 1 (a likely N+1): SELECT ...",
 * for shapes run more than once within one phase (capq_group_over); NULL
 * when none.  gr is capq_repeats_grouping's, with every statement of rd
 * added.
 */
char *
capq_repeated_shapes_hint(CapqGrouping *gr, CapqReader *rd)
{
	CapqShapeGroup *groups;
	int			n = capq_grouping_end(gr, rd, &groups);
	int			repeated = 0;
	StringInfoData buf;

	qsort(groups, n, sizeof(CapqShapeGroup), group_executions_cmp);
	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		CapqShapeGroup *g = &groups[i];

		if (!capq_group_over(g, 1))
			continue;
		if (repeated++ >= CAPQ_HINT_MAX_SHAPES)
			continue;
		if (buf.len > 0)
			appendStringInfoChar(&buf, '\n');
		appendStringInfo(&buf,
						 "Statement shape repeated " UINT64_FORMAT " times in phase %d (a likely N+1): %s",
						 g->executions, g->phase,
						 g->normalized ? g->normalized : CAPQ_HIDDEN_TEXT);
	}
	if (repeated == 0)
		return NULL;
	if (repeated > CAPQ_HINT_MAX_SHAPES)
		appendStringInfo(&buf, "\n... and %d more repeated shapes",
						 repeated - CAPQ_HINT_MAX_SHAPES);
	return buf.data;
}

/*---- Strict mode: capquery.max_repeats ----*/

/* Executions of one shape in one phase of the capture, in this backend. */
typedef struct StrictCount
{
	char		key[32];		/* "phase:fingerprint": MUST BE FIRST */
	int			executions;
} StrictCount;

static HTAB *strict_counts = NULL;
static uint64 strict_capture_id = 0;

/*
 * Called by the executor start hook, before the statement runs, when
 * capquery.max_repeats > 0 and this backend is capturing: count the
 * statement's shape in the current phase of its (first) capture and raise
 * P0004 when that makes it exceed the limit.  The scan costs what reading
 * a shape costs, so it happens only in strict mode.  *mark tells
 * capq_strict_uncount what was counted.
 */
void
capq_strict_check(const char *text, int len, CapqKind kind,
				  CapqStrictMark *mark)
{
	CapqTarget	first;
	CapqTarget *target = &first;
	int32		phase;
	CapqShape	shape;
	char	   *fingerprint;
	char		key[sizeof(((StrictCount *) NULL)->key)];
	StrictCount *count;
	bool		found;

	if (!capq_first_target(&first, &phase))
		return;
	if (strict_counts == NULL || strict_capture_id != target->capture_id)
	{
		HASHCTL		ctl;

		if (strict_counts != NULL)
			hash_destroy(strict_counts);
		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(StrictCount);
		strict_counts = hash_create("capquery strict counts", 64, &ctl,
									HASH_ELEM | HASH_STRINGS);
		strict_capture_id = target->capture_id;
	}

	capq_shape_scan(&shape, text, len, true);
	fingerprint = capq_shape_fingerprint(&shape);
	snprintf(key, sizeof(key), "%d:%s", phase, fingerprint);
	count = hash_search(strict_counts, key, HASH_ENTER, &found);
	if (!found)
		count->executions = 0;
	count->executions++;
	mark->capture_id = strict_capture_id;
	mark->count = count;

	if (count->executions > capq_max_repeats)
		ereport(ERROR,
				(errcode(ERRCODE_ASSERT_FAILURE),
				 errmsg("statement shape %s ran %d times in phase %d, more than capquery.max_repeats (%d)",
						fingerprint, count->executions, phase, capq_max_repeats),
				 errdetail("The %s statement was stopped before it ran: %s",
						   capq_kind_name(kind),
						   capq_clip_text(capq_shape_normalized(&shape),
										  CAPQ_MESSAGE_ITEM_BYTES)),
				 errhint(CAPQ_EAGER_LOADING_HINT)));
}

/*
 * A statement counted by capq_strict_check was retracted (it calls a
 * capq_* function): it no longer counts, here as in the capture, so that a
 * test's own capq_* calls never trip strict mode.
 */
void
capq_strict_uncount(CapqStrictMark *mark)
{
	if (mark->count != NULL && strict_counts != NULL &&
		mark->capture_id == strict_capture_id)
		mark->count->executions--;
	mark->count = NULL;
}

/*---- Same count ----*/

/* Per-key counts of two captures, for capq_assert_same_count's detail. */
typedef struct CountPair
{
	char	   *label;
	uint64		a;
	uint64		b;
} CountPair;

static CountPair *
count_pair(List **pairs, const char *label)
{
	ListCell   *lc;
	CountPair  *p;

	foreach(lc, *pairs)
	{
		p = lfirst(lc);
		if (strcmp(p->label, label) == 0)
			return p;
	}
	p = palloc0(sizeof(CountPair));
	p->label = pstrdup(label);
	*pairs = lappend(*pairs, p);
	return p;
}

static void
count_capture(CapqReader *rd, bool have_kind, CapqKind kind,
			  bool second, List **shapes, List **relations)
{
	CapqShapeGroup *groups;
	int			n = capq_group_shapes_shown(rd, false, have_kind, kind, 0, false,
											&groups);

	for (int i = 0; i < n; i++)
	{
		const CapqShapeGroup *g = &groups[i];
		CountPair  *p = count_pair(shapes, g->normalized ? g->normalized : g->fingerprint);
		ListCell   *r;
		ListCell   *d;

		if (second)
			p->b += g->executions;
		else
			p->a += g->executions;
		forboth(r, g->relations, d, g->relation_dbids)
		{
			char	   *label = psprintf("%s (%s)",
										 capq_relation_name(lfirst_oid(d), lfirst_oid(r), true),
										 capq_kind_name(g->kind));

			p = count_pair(relations, label);
			if (second)
				p->b += g->executions;
			else
				p->a += g->executions;
		}
	}
}

/* heading, then "  label: a != b" for each pair whose counts differ */
static void
append_differing_pairs(StringInfo detail, const char *heading, List *pairs)
{
	ListCell   *lc;

	appendStringInfoString(detail, heading);
	foreach(lc, pairs)
	{
		CountPair  *p = lfirst(lc);

		if (p->a != p->b)
			appendStringInfo(detail, "\n  %s: " UINT64_FORMAT " != " UINT64_FORMAT,
							 p->label, p->a, p->b);
	}
}

/*
 * capq_assert_same_count's detail: per shape, then per relation and kind,
 * the counts that differ between captures a and b, in order of first
 * appearance.
 */
char *
capq_count_differences(CapqReader *a, CapqReader *b, bool have_kind,
					   CapqKind kind)
{
	List	   *shapes = NIL;
	List	   *relations = NIL;
	StringInfoData detail;

	count_capture(a, have_kind, kind, false, &shapes, &relations);
	count_capture(b, have_kind, kind, true, &shapes, &relations);
	initStringInfo(&detail);
	append_differing_pairs(&detail, "Per shape:", shapes);
	append_differing_pairs(&detail, "\nPer relation:", relations);
	return detail.data;
}
