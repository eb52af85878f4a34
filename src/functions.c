/*-------------------------------------------------------------------------
 *
 * functions.c
 *		SQL-callable functions: argument checks, error messages, result
 *		rows.  The work is done by capture.c, reader.c and render.c.
 *
 * Every function first retracts the statements that are calling it, so
 * that a test's own capq_* calls never count (see hooks.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "capquery.h"
#include "capture.h"
#include "reader.h"
#include "render.h"
#include "repeats.h"
#include "report.h"
#include "shape.h"
#include "snapshot.h"

/*---- Argument helpers ----*/

static void
require_not_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
}

static void
require_not_negative(int64 value, const char *argname)
{
	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be negative", argname),
				 errdetail("The value given was " INT64_FORMAT ".", value)));
}

/*
 * A text argument that must be one of names[]: its index.  The caller has
 * checked it is not NULL.
 */
static int
name_argument(FunctionCallInfo fcinfo, int argno, const char *const *names,
			  int n, const char *what, const char *hint)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	int			i = capq_name_index(names, n, name);

	if (i < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown %s \"%s\"", what,
						capq_clip_text(name, CAPQ_MAX_NAME_BYTES)),
				 errhint("%s", hint)));
	return i;
}

/*
 * Labels and phase names are bounded (CAPQ_MAX_NAME_BYTES) so that a ring
 * record, and every message that repeats them, stays small.  NULL name:
 * known to be too long already.
 */
static void
require_name_length(const char *name, const char *what)
{
	if (name == NULL || strlen(name) > CAPQ_MAX_NAME_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", what),
				 errdetail("Labels and phase names are limited to %d bytes.",
						   CAPQ_MAX_NAME_BYTES)));
}

/*
 * The optional kind argument: false when NULL (all kinds).  Besides the
 * kinds, 'error' (CAPQ_FILTER_ERROR) means the statements that failed.
 */
static bool
kind_argument(FunctionCallInfo fcinfo, int argno, CapqKind *kind)
{
	if (PG_ARGISNULL(argno))
		return false;
	*kind = (CapqKind) name_argument(fcinfo, argno, capq_kind_names,
									 CAPQ_NUM_FILTERS, "statement kind",
									 "Use one of select, insert, update, delete, merge, utility, transaction, invalid, error (the failed statements), or NULL for all.");
	return true;
}

/* The optional capture argument: false when NULL (the default capture). */
static bool
capture_argument(FunctionCallInfo fcinfo, int argno, uint64 *capture_id)
{
	int64		id;

	if (PG_ARGISNULL(argno))
		return false;
	id = PG_GETARG_INT64(argno);
	if (id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("capture id must be positive"),
				 errdetail("The value given was " INT64_FORMAT ".", id)));
	*capture_id = (uint64) id;
	return true;
}

/* "select " (or "failed ") before "statement(s)" when counting one kind or the failed ones, else "" */
static const char *
kind_prefix(bool have_kind, CapqKind kind)
{
	if (!have_kind)
		return "";
	if (kind == CAPQ_FILTER_ERROR)
		return "failed ";
	return psprintf("%s ", capq_kind_name(kind));
}

/*
 * The capture a caller means, open for reading with the attachments it
 * wants (CAPQ_READ_*), its texts in this database's encoding (a scope 'all'
 * capture holds text of databases in other encodings).
 */
static CapqReader *
read_capture(bool have_id, uint64 capture_id, int wants)
{
	CapqReader *rd = capq_read_open(have_id, capture_id, wants);

	capq_read_in_reader_encoding(rd);
	return rd;
}

/*
 * How many statements (of a kind, or failed) the capture a caller means
 * holds, from its ledger: refused if it lost some.
 */
static uint64
captured_count(bool have_id, uint64 capture_id, bool have_kind, CapqKind kind)
{
	CapqSlot	slot;
	CapqLedger	ledger;

	capq_capture_resolve(have_id, capture_id, &slot, &ledger);
	capq_check_not_lost(&ledger);
	if (!have_kind)
		return ledger.statements;
	if (kind == CAPQ_FILTER_ERROR)
		return ledger.failed;
	return ledger.kind_counts[kind];
}

/*---- Lifecycle ----*/

PG_FUNCTION_INFO_V1(capq_begin);
PG_FUNCTION_INFO_V1(capq_phase);
PG_FUNCTION_INFO_V1(capq_end);
PG_FUNCTION_INFO_V1(capq_reset);

/* capq_begin(label, scope, plans): start a capture, return its id. */
Datum
capq_begin(PG_FUNCTION_ARGS)
{
	char	   *label = NULL;
	CapqScope	scope;
	CapqPlans	plans;

	capq_retract_calling_statements();

	require_not_null(fcinfo, 1, "scope");
	require_not_null(fcinfo, 2, "plans");
	if (!PG_ARGISNULL(0))
	{
		label = text_to_cstring(PG_GETARG_TEXT_PP(0));
		if (label[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("capture label must not be empty"),
					 errhint("Pass NULL for a capture without a label.")));
		require_name_length(label, "capture label");
	}

	scope = (CapqScope) name_argument(fcinfo, 1, capq_scope_names,
									  CAPQ_NUM_SCOPES, "capture scope",
									  "Use 'backend', 'database' or 'all'.");
	plans = (CapqPlans) name_argument(fcinfo, 2, capq_plans_names,
									  CAPQ_NUM_PLANS, "plans setting",
									  "Use 'off', 'on' or 'analyze'.");
	PG_RETURN_INT64((int64) capq_capture_begin(label, scope, plans));
}

/* capq_phase(name): start the next phase, return its number. */
Datum
capq_phase(PG_FUNCTION_ARGS)
{
	char	   *name = NULL;

	capq_retract_calling_statements();
	if (!PG_ARGISNULL(0))
	{
		text	   *arg = PG_GETARG_TEXT_PP(0);

		/* checked before the copy: a 1 GB name is refused, not copied */
		if (VARSIZE_ANY_EXHDR(arg) > CAPQ_MAX_NAME_BYTES)
			require_name_length(NULL, "phase name");
		name = text_to_cstring(arg);
		require_name_length(name, "phase name");
	}
	PG_RETURN_INT32(capq_capture_phase(name));
}

/* capq_end(): end the active capture, return its statement count. */
Datum
capq_end(PG_FUNCTION_ARGS)
{
	capq_retract_calling_statements();
	PG_RETURN_INT64((int64) capq_capture_end());
}

/*
 * capq_reset(): drop every capture.  Who may call it is decided by EXECUTE
 * privilege, as for pg_stat_statements_reset(): the install script revokes
 * it from PUBLIC, so superusers and roles granted it may.
 */
Datum
capq_reset(PG_FUNCTION_ARGS)
{
	capq_retract_calling_statements();
	capq_capture_reset();
	PG_RETURN_VOID();
}

/*---- Counting and asserting ----*/

PG_FUNCTION_INFO_V1(capq_count);
PG_FUNCTION_INFO_V1(capq_assert_count);
PG_FUNCTION_INFO_V1(capq_assert_max);

/* capq_count(kind, capture): statements captured. */
Datum
capq_count(PG_FUNCTION_ARGS)
{
	CapqKind	kind = CAPQ_KIND_SELECT;
	bool		have_kind;
	uint64		capture_id = 0;
	bool		have_id;

	capq_retract_calling_statements();
	have_kind = kind_argument(fcinfo, 0, &kind);
	have_id = capture_argument(fcinfo, 1, &capture_id);
	PG_RETURN_INT64((int64) captured_count(have_id, capture_id, have_kind, kind));
}

/*
 * Raise P0004 for a failed count assertion: the message compares, the
 * detail lists the statements, the hint names repeated shapes.
 */
static void
count_assertion_failed(const char *expectation, int64 expected,
					   bool have_kind, CapqKind kind, uint64 captured)
{
	CapqReader *rd = read_capture(false, 0, 0);
	CapqStatementList list;
	CapqGrouping *gr = capq_repeats_grouping();
	CapqEntry  *e;
	char	   *repeats;

	/* one read for both the statement list and the repeated shapes */
	capq_statement_list_init(&list, have_kind, kind);
	while ((e = capq_read_next(rd)) != NULL)
	{
		capq_statement_list_add(&list, e);
		capq_grouping_add(gr, e);
	}
	repeats = capq_repeated_shapes_hint(gr, rd);

	ereport(ERROR,
			(errcode(ERRCODE_ASSERT_FAILURE),
			 errmsg_plural("expected %s" INT64_FORMAT " %sstatement, captured " UINT64_FORMAT,
						   "expected %s" INT64_FORMAT " %sstatements, captured " UINT64_FORMAT,
						   (unsigned long) expected,	/* not negative: checked */
						   expectation, expected, kind_prefix(have_kind, kind),
						   captured),
			 errdetail_internal("%s", capq_statement_list_finish(&list)),
			 repeats ? errhint("%s", capq_bounded_message(repeats)) : 0));
}

/*
 * capq_assert_count(expected, kind) and capq_assert_max(max, kind): compare
 * the active (or last ended) capture's count with the first argument.
 */
static void
assert_statement_count(FunctionCallInfo fcinfo, const char *argname,
					   bool at_most)
{
	int64		limit;
	CapqKind	kind = CAPQ_KIND_SELECT;
	bool		have_kind;
	uint64		captured;

	capq_retract_calling_statements();
	require_not_null(fcinfo, 0, argname);
	limit = PG_GETARG_INT64(0);
	require_not_negative(limit, argname);
	have_kind = kind_argument(fcinfo, 1, &kind);

	captured = captured_count(false, 0, have_kind, kind);
	if (at_most ? captured > (uint64) limit : captured != (uint64) limit)
		count_assertion_failed(at_most ? "at most " : "", limit, have_kind,
							   kind, captured);
}

Datum
capq_assert_count(PG_FUNCTION_ARGS)
{
	assert_statement_count(fcinfo, "expected", false);
	PG_RETURN_VOID();
}

Datum
capq_assert_max(PG_FUNCTION_ARGS)
{
	assert_statement_count(fcinfo, "max", true);
	PG_RETURN_VOID();
}

/*---- Reading ----*/

PG_FUNCTION_INFO_V1(capq_queries);
PG_FUNCTION_INFO_V1(capq_queries_1_1);
PG_FUNCTION_INFO_V1(capq_sessions);

/* A relation's name, looked up once per OID and read: see relations_array. */
typedef struct RelationNameEntry
{
	Oid			relid;			/* MUST BE FIRST */
	Datum		name;			/* text */
} RelationNameEntry;

/*
 * Relation names (or OIDs, for other databases and dropped ones), each
 * resolved once per read through the cache (a capture names the same few
 * relations over and over).
 */
static Datum
relations_array(const CapqEntry *e, HTAB *names_by_oid, MemoryContext keep)
{
	Datum	   *names = palloc(Max(e->nrelations, 1) * sizeof(Datum));

	for (int i = 0; i < e->nrelations; i++)
	{
		RelationNameEntry *entry;
		bool		found;

		/* another database's relations as bare OIDs: the row names the
		 * database (and the cache is keyed by OID alone) */
		if (e->dbid != MyDatabaseId)
		{
			names[i] = CStringGetTextDatum(capq_relation_name(e->dbid,
															  e->relations[i],
															  false));
			continue;
		}
		entry = hash_search(names_by_oid, &e->relations[i], HASH_ENTER, &found);
		if (!found)
		{
			/* cached names outlive the row */
			MemoryContext row = MemoryContextSwitchTo(keep);

			entry->name = CStringGetTextDatum(capq_relation_name(e->dbid,
																 e->relations[i],
																 false));
			MemoryContextSwitchTo(row);
		}
		names[i] = entry->name;
	}
	return PointerGetDatum(construct_array(names, e->nrelations, TEXTOID,
										   -1, false, TYPALIGN_INT));
}

/*
 * *datum, the name column of a role or database, replaced by name's (NULL:
 * dropped, *have false).  The previous one is freed and so is name: roles
 * and databases may alternate all along a capture.
 */
static void
replace_name_datum(char *name, bool *have, Datum *datum)
{
	if (*have)
		pfree(DatumGetPointer(*datum));
	*have = name != NULL;
	if (name != NULL)
	{
		*datum = DirectFunctionCall1(namein, CStringGetDatum(name));
		pfree(name);
	}
}

/*
 * capq_queries' result columns in each version of the SQL interface: the
 * library serves an installation that has not been updated yet, as
 * pg_stat_statements does.
 */
typedef enum CapqQueriesVersion
{
	CAPQ_QUERIES_V1_0,
	CAPQ_QUERIES_V1_1
} CapqQueriesVersion;

#define CAPQ_QUERIES_COLS_V1_0	15
#define CAPQ_QUERIES_COLS_V1_1	18	/* + error, error_message, started_at */
#define CAPQ_QUERIES_COLS		18	/* the most of any version */

/*
 * every captured statement, in order, as the version's columns: rows go to
 * the tuplestore (which spills past work_mem) as they are read, each built
 * in a context reset after it, so memory does not grow with the capture
 */
static void
queries_rows(FunctionCallInfo fcinfo, CapqQueriesVersion version)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			ncols = version == CAPQ_QUERIES_V1_0 ?
		CAPQ_QUERIES_COLS_V1_0 : CAPQ_QUERIES_COLS_V1_1;
	uint64		capture_id = 0;
	bool		have_id;
	CapqReader *rd;
	CapqEntry  *e;
	bool		first = true;
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext rowcxt;
	HASHCTL		ctl;
	HTAB	   *names_by_oid;
	Oid			last_userid = InvalidOid;
	Oid			last_dbid = InvalidOid;
	bool		last_visible = false;
	bool		have_username = false;
	bool		have_dbname = false;
	Datum		username_datum = (Datum) 0;
	Datum		dbname_datum = (Datum) 0;
	Datum		kind_datums[CAPQ_NUM_KINDS];

	capq_retract_calling_statements();
	have_id = capture_argument(fcinfo, 0, &capture_id);
	rd = read_capture(have_id, capture_id, CAPQ_READ_PLANS |
					  (version >= CAPQ_QUERIES_V1_1 ? CAPQ_READ_ERRORS : 0));
	for (int k = 0; k < CAPQ_NUM_KINDS; k++)
		kind_datums[k] = CStringGetTextDatum(capq_kind_name((CapqKind) k));

	/* names of roles and databases: looked up when they change from one
	 * statement to the next (rarely), relations once per OID */
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(RelationNameEntry);
	ctl.hcxt = CurrentMemoryContext;
	names_by_oid = hash_create("capquery relation names", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != ncols)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("capq_queries() is declared with %d result columns, but its C function returns %d",
						rsinfo->setDesc->natts, ncols),
				 errhint("The SQL definition does not match the capquery library: run ALTER EXTENSION capquery UPDATE.")));

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "capquery row",
								   ALLOCSET_DEFAULT_SIZES);
	while ((e = capq_read_next(rd)) != NULL)
	{
		Datum		values[CAPQ_QUERIES_COLS];
		bool		nulls[CAPQ_QUERIES_COLS];
		bool		visible;
		char	   *params;
		int			col = 0;

		if (first || e->userid != last_userid)
		{
			last_userid = e->userid;
			replace_name_datum(GetUserNameFromId(e->userid, true),
							   &have_username, &username_datum);
			last_visible = capq_entry_visible(e);
		}
		visible = last_visible;
		if (first || e->dbid != last_dbid)
		{
			last_dbid = e->dbid;
			replace_name_datum(get_database_name(e->dbid),
							   &have_dbname, &dbname_datum);
		}
		first = false;

		MemoryContextSwitchTo(rowcxt);
		params = visible ? capq_params_render(e) : NULL;

		memset(nulls, 0, sizeof(nulls));
		values[col++] = Int64GetDatum((int64) rd->slot.capture_id);
		values[col++] = Int64GetDatum((int64) e->seq);
		values[col++] = Int32GetDatum(e->phase);
		if (e->phase_name)
			values[col++] = CStringGetTextDatum(e->phase_name);
		else
			nulls[col++] = true;
		values[col++] = Int32GetDatum(e->pid);
		if (have_username)
			values[col++] = username_datum;
		else
			nulls[col++] = true;
		if (have_dbname)
			values[col++] = dbname_datum;
		else
			nulls[col++] = true;
		values[col++] = Int32GetDatum(e->nesting);
		values[col++] = kind_datums[e->kind];
		if (visible && !(e->flags & CAPQ_FLAG_QUERY_TRUNCATED))
			values[col++] = PointerGetDatum(cstring_to_text_with_len(e->text, e->text_len));
		else
			values[col++] = CStringGetTextDatum(capq_entry_text(e));
		if (!visible && e->nparams > 0)
			values[col++] = CStringGetTextDatum(CAPQ_HIDDEN_TEXT);
		else if (params)
			values[col++] = CStringGetTextDatum(params);
		else
			nulls[col++] = true;
		/* rows and duration are known once the statement ended */
		if (e->flags & CAPQ_FLAG_DONE)
		{
			values[col++] = Int64GetDatum((int64) e->rows);
			values[col++] = Float8GetDatum(e->duration_ms);
		}
		else
		{
			nulls[col++] = true;
			nulls[col++] = true;
		}
		/* which relations and which plan are the statement's too */
		if (visible)
			values[col++] = relations_array(e, names_by_oid, outer);
		else
			nulls[col++] = true;
		if (e->plan)
			values[col++] = CStringGetTextDatum(visible ? e->plan : CAPQ_HIDDEN_TEXT);
		else
			nulls[col++] = true;

		if (version >= CAPQ_QUERIES_V1_1)
		{
			char	   *message = capq_entry_error_message(e);

			/* the SQLSTATE is shown to all; the message is masked */
			if (e->sqlstate[0] != '\0')
				values[col++] = CStringGetTextDatum(e->sqlstate);
			else
				nulls[col++] = true;
			if (message)
				values[col++] = CStringGetTextDatum(message);
			else
				nulls[col++] = true;
			if (e->started_at != 0)
				values[col++] = TimestampTzGetDatum(e->started_at);
			else
				nulls[col++] = true;
		}
		Assert(col == ncols);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(outer);
		MemoryContextReset(rowcxt);
	}
	MemoryContextDelete(rowcxt);
	capq_read_close(rd);
}

/* capq_queries(capture), interface 1.0: the library's original symbol. */
Datum
capq_queries(PG_FUNCTION_ARGS)
{
	queries_rows(fcinfo, CAPQ_QUERIES_V1_0);
	return (Datum) 0;
}

/* capq_queries(capture), interface 1.1: with error columns and start time. */
Datum
capq_queries_1_1(PG_FUNCTION_ARGS)
{
	queries_rows(fcinfo, CAPQ_QUERIES_V1_1);
	return (Datum) 0;
}

#define CAPQ_SESSIONS_COLS 7

/* capq_sessions(): active and retained captures. */
Datum
capq_sessions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CapqSlot   *slots;
	CapqLedger *ledgers;
	int			n;

	capq_retract_calling_statements();
	n = capq_capture_list(&slots, &ledgers);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n; i++)
	{
		const CapqSlot *slot = &slots[i];
		Datum		values[CAPQ_SESSIONS_COLS];
		bool		nulls[CAPQ_SESSIONS_COLS];

		memset(nulls, 0, sizeof(nulls));
		values[0] = Int64GetDatum((int64) slot->capture_id);
		if (slot->label[0] != '\0')
			values[1] = CStringGetTextDatum(capq_label_to_reader(slot));
		else
			nulls[1] = true;
		values[2] = Int32GetDatum(slot->owner_pid);
		values[3] = CStringGetTextDatum(capq_scope_name(slot->scope));
		values[4] = CStringGetTextDatum(slot->state == CAPQ_SLOT_ACTIVE ?
										"active" : "ended");
		values[5] = Int64GetDatum((int64) ledgers[i].statements);
		values[6] = Int64GetDatum((int64) ledgers[i].lost);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*---- Snapshots ----*/

PG_FUNCTION_INFO_V1(capq_snapshot);
PG_FUNCTION_INFO_V1(capq_assert_snapshot);

/* capq_snapshot(capture, plans): deterministic text of a capture. */
Datum
capq_snapshot(PG_FUNCTION_ARGS)
{
	uint64		capture_id = 0;
	bool		have_id;
	bool		with_plans;
	CapqReader *rd;

	capq_retract_calling_statements();
	have_id = capture_argument(fcinfo, 0, &capture_id);
	require_not_null(fcinfo, 1, "plans");
	with_plans = PG_GETARG_BOOL(1);
	rd = read_capture(have_id, capture_id, with_plans ? CAPQ_READ_PLANS : 0);
	PG_RETURN_TEXT_P(capq_snapshot_datum(rd, with_plans));
}

/* capq_assert_snapshot(expected, capture): P0004 with a diff on mismatch. */
Datum
capq_assert_snapshot(PG_FUNCTION_ARGS)
{
	char	   *expected;
	uint64		capture_id = 0;
	bool		have_id;
	bool		with_plans;
	CapqReader *rd;
	char	   *diff;

	capq_retract_calling_statements();
	require_not_null(fcinfo, 0, "expected");
	expected = text_to_cstring(PG_GETARG_TEXT_PP(0));
	have_id = capture_argument(fcinfo, 1, &capture_id);

	/* a snapshot with plans is compared with plans */
	with_plans = strstr(expected, "\n-- PLAN:\n") != NULL ||
		strncmp(expected, "-- PLAN:\n", 9) == 0;
	rd = read_capture(have_id, capture_id, with_plans ? CAPQ_READ_PLANS : 0);
	diff = capq_snapshot_diff(expected, capq_snapshot_text(rd, with_plans));
	if (diff != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_ASSERT_FAILURE),
				 errmsg("capture " UINT64_FORMAT " does not match the expected snapshot",
						rd->slot.capture_id),
				 errdetail_internal("%s", capq_bounded_message(diff)),
				 errhint("If the change is intended, replace the expected snapshot with capq_snapshot()'s output.")));
	PG_RETURN_VOID();
}

/*---- Shapes and N+1 ----*/

PG_FUNCTION_INFO_V1(capq_fingerprint);
PG_FUNCTION_INFO_V1(capq_summary);
PG_FUNCTION_INFO_V1(capq_assert_no_repeats);
PG_FUNCTION_INFO_V1(capq_assert_same_count);

/* capq_fingerprint(query): the shape identifier of a query text. */
Datum
capq_fingerprint(PG_FUNCTION_ARGS)
{
	char	   *query;
	CapqShape	shape;

	capq_retract_calling_statements();
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	capq_shape_scan(&shape, query, strlen(query), true);
	PG_RETURN_TEXT_P(cstring_to_text(capq_shape_fingerprint(&shape)));
}

static Datum
string_list_array(List *strings)
{
	Datum	   *items = palloc(Max(1, list_length(strings)) * sizeof(Datum));
	ListCell   *lc;
	int			n = 0;

	foreach(lc, strings)
		items[n++] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(items, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/* A relation of some database, and its name: see relation_names. */
typedef struct NamedRelation
{
	Oid			dbid;			/* key: MUST BE FIRST */
	Oid			relid;			/* key */
	char	   *name;
} NamedRelation;

/*
 * The names of a group's relations, each looked up once per call through
 * cache (thousands of shapes name the same few relations).
 */
static List *
relation_names(const CapqShapeGroup *g, HTAB *cache)
{
	List	   *names = NIL;
	ListCell   *r;
	ListCell   *d;

	forboth(r, g->relations, d, g->relation_dbids)
	{
		Oid			key[2] = {lfirst_oid(d), lfirst_oid(r)};
		bool		found;
		NamedRelation *rel = hash_search(cache, key, HASH_ENTER, &found);

		if (!found)
			rel->name = capq_relation_name(key[0], key[1], true);
		names = lappend(names, rel->name);
	}
	return names;
}

#define CAPQ_SUMMARY_COLS 9

/* capq_summary(capture): one row per shape and phase. */
Datum
capq_summary(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		capture_id = 0;
	bool		have_id;
	CapqReader *rd;
	CapqShapeGroup *groups;
	int			n;
	HASHCTL		ctl;
	HTAB	   *names;

	capq_retract_calling_statements();
	have_id = capture_argument(fcinfo, 0, &capture_id);
	rd = read_capture(have_id, capture_id, 0);
	ctl.keysize = 2 * sizeof(Oid);
	ctl.entrysize = sizeof(NamedRelation);
	ctl.hcxt = CurrentMemoryContext;
	names = hash_create("capquery relation names", 64, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	/* the summary shows no example values: none are formatted */
	n = capq_group_shapes_shown(rd, true, false, CAPQ_KIND_SELECT, 0, false,
								&groups);
	capq_read_close(rd);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n; i++)
	{
		const CapqShapeGroup *g = &groups[i];
		Datum		values[CAPQ_SUMMARY_COLS];
		bool		nulls[CAPQ_SUMMARY_COLS];

		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(g->phase);
		values[1] = CStringGetTextDatum(g->fingerprint);
		values[2] = CStringGetTextDatum(g->normalized ? g->normalized : CAPQ_HIDDEN_TEXT);
		values[3] = CStringGetTextDatum(capq_kind_name(g->kind));
		values[4] = Int64GetDatum((int64) g->executions);
		values[5] = Int64GetDatum((int64) g->rows);
		values[6] = Float8GetDatum(g->total_ms);
		values[7] = string_list_array(relation_names(g, names));
		values[8] = string_list_array(g->call_sites);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Detail of a repeated shape: statement, examples, call sites. */
static void
append_group_detail(StringInfo buf, const CapqShapeGroup *g)
{
	ListCell   *lc;

	appendStringInfo(buf, "Shape %s (%s), " UINT64_FORMAT " executions in phase %d: %s",
					 g->fingerprint, capq_kind_name(g->kind), g->executions,
					 g->phase, g->normalized ? g->normalized : CAPQ_HIDDEN_TEXT);
	foreach(lc, g->examples)
		appendStringInfo(buf, "\n  example: %s", (char *) lfirst(lc));
	foreach(lc, g->call_sites)
		appendStringInfo(buf, "\n  call site: %s", (char *) lfirst(lc));
}

/* capq_assert_no_repeats(max_repeats, capture) */
Datum
capq_assert_no_repeats(PG_FUNCTION_ARGS)
{
	int32		max_repeats;
	uint64		capture_id = 0;
	bool		have_id;
	CapqReader *rd;
	CapqShapeGroup *groups;
	CapqShapeGroup *worst = NULL;
	int			n;
	int			offending = 0;
	StringInfoData detail;

	capq_retract_calling_statements();
	require_not_null(fcinfo, 0, "max_repeats");
	max_repeats = PG_GETARG_INT32(0);
	require_not_negative(max_repeats, "max_repeats");
	have_id = capture_argument(fcinfo, 1, &capture_id);
	rd = read_capture(have_id, capture_id, 0);
	/* only the shapes over the limit are named: only they are rendered */
	n = capq_group_shapes_shown(rd, true, false, CAPQ_KIND_SELECT,
								(uint64) max_repeats + 1, true, &groups);
	capq_read_close(rd);

	initStringInfo(&detail);
	for (int i = 0; i < n; i++)
	{
		CapqShapeGroup *g = &groups[i];

		if (!capq_group_over(g, (uint64) max_repeats))
			continue;
		if (worst == NULL || g->executions > worst->executions)
			worst = g;
		if (offending++ > 0)
			appendStringInfoChar(&detail, '\n');
		append_group_detail(&detail, g);
	}
	if (worst != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_ASSERT_FAILURE),
				 errmsg("statement shape %s ran " UINT64_FORMAT " times in phase %d, more than %d",
						worst->fingerprint, worst->executions, worst->phase,
						max_repeats),
				 errdetail_internal("%s", capq_bounded_message(detail.data)),
				 errhint(CAPQ_EAGER_LOADING_HINT)));
	PG_RETURN_VOID();
}

/* capq_assert_same_count(capture_a, capture_b, kind) */
Datum
capq_assert_same_count(PG_FUNCTION_ARGS)
{
	uint64		id_a = 0,
				id_b = 0;
	CapqKind	kind = CAPQ_KIND_SELECT;
	bool		have_kind;
	CapqReader *rd_a;
	CapqReader *rd_b;
	uint64		count_a = 0,
				count_b = 0;
	char	   *detail;

	capq_retract_calling_statements();
	require_not_null(fcinfo, 0, "capture_a");
	require_not_null(fcinfo, 1, "capture_b");
	capture_argument(fcinfo, 0, &id_a);
	capture_argument(fcinfo, 1, &id_b);
	have_kind = kind_argument(fcinfo, 2, &kind);
	/* the counts are the ledgers': statements are read only to explain a
	 * difference */
	count_a = captured_count(true, id_a, have_kind, kind);
	count_b = captured_count(true, id_b, have_kind, kind);
	if (count_a == count_b)
		PG_RETURN_VOID();

	rd_a = read_capture(true, id_a, 0);
	rd_b = read_capture(true, id_b, 0);
	detail = capq_count_differences(rd_a, rd_b, have_kind, kind);
	ereport(ERROR,
			(errcode(ERRCODE_ASSERT_FAILURE),
			 errmsg("captures " UINT64_FORMAT " and " UINT64_FORMAT " differ in %sstatements: " UINT64_FORMAT " != " UINT64_FORMAT,
					id_a, id_b, kind_prefix(have_kind, kind), count_a, count_b),
			 errdetail_internal("%s", capq_bounded_message(detail)),
			 errhint("A statement count that grows with the data is a likely N+1. " CAPQ_EAGER_LOADING_HINT)));
	PG_RETURN_VOID();
}

/*---- Review report ----*/

PG_FUNCTION_INFO_V1(capq_report);

/* capq_report(capture, format): the capture as an HTML, Markdown or text document. */
Datum
capq_report(PG_FUNCTION_ARGS)
{
	uint64		capture_id = 0;
	bool		have_id;
	CapqReportFormat format;
	CapqReader *rd;

	capq_retract_calling_statements();
	have_id = capture_argument(fcinfo, 0, &capture_id);
	require_not_null(fcinfo, 1, "format");
	format = (CapqReportFormat) name_argument(fcinfo, 1, capq_report_format_names,
											  CAPQ_NUM_REPORT_FORMATS, "report format",
											  "Use 'html', 'markdown' or 'text'.");
	rd = read_capture(have_id, capture_id, CAPQ_READ_PLANS | CAPQ_READ_ERRORS);
	PG_RETURN_TEXT_P(cstring_to_text(capq_report_render(rd, format)));
}
