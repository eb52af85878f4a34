/*-------------------------------------------------------------------------
 *
 * hooks.c
 *		Executor and utility hooks: decide cheaply, record, chain.
 *
 * A statement is recorded once, when it starts (ExecutorStart, or
 * ProcessUtility for utility statements), so the ring is in execution
 * order; its rows and duration are filled in when it ends (ExecutorEnd).
 * Between the two, the open statement is remembered by its QueryDesc, which
 * is what makes a portal fetched in several batches, or a cursor, count
 * once.
 *
 * Utility statements that only name an executor statement are transparent:
 * EXECUTE and DECLARE CURSOR are recorded as the statement they run (with
 * its kind), PREPARE (like a protocol Parse), FETCH, MOVE and CLOSE are not
 * recorded at all.
 *
 * Nesting.  nesting_level counts the executor, utility and planner calls
 * running now: each raises it on the way in and lowers it on the way out,
 * as pg_stat_statements counts.  Beyond pg_stat_statements 15 it covers
 * what runs on a statement's behalf before it starts or after it ended:
 * - planning: constant folding evaluates an IMMUTABLE function called with
 *   constants, its statements included, so the planner hook raises it;
 * - executor startup, while something is captured: initial partition
 *   pruning evaluates a STABLE function compared with the partition key;
 * - EXECUTE's arguments, evaluated before its prepared statement starts: it
 *   is raised until that statement starts (at the EXECUTE's own level);
 * - an executor started at level 0 outside any portal (deferred triggers
 *   at commit, a domain check in the protocol's Bind) runs one level down
 *   (statement_level): derived from ActivePortal, nothing to remember.
 *
 * Errors.  An error that escapes a call leaves the level raised, and no
 * PG_CATCH or PG_FINALLY here repairs it; one mechanism does, because
 * PostgreSQL resumes after an error only through the abort of the
 * (sub)transaction that catches it -- but for one case: in a transaction
 * block that already failed, where only ROLLBACK, COMMIT and ROLLBACK TO
 * run, a ROLLBACK TO that fails (no such savepoint) aborts nothing, so the
 * utility hook, which has PG_TRY anyway, puts its level back itself.  A
 * subtransaction begins and aborts in
 * the frame that catches (a PL/pgSQL exception block, a savepoint at the top
 * level): its abort puts the level back to where the subtransaction began.
 * A transaction that aborts with no portal running was caught at the top
 * level: its abort puts the level back to 0.  A transaction that aborts
 * inside a running portal is a procedure's ROLLBACK (or its failed COMMIT,
 * whose error goes on up to the top level): the calls around it still run,
 * and the level is left alone.  So the hooks need PG_TRY only to attribute
 * an error to the statement it ends, and nothing when nothing is captured.
 *
 * Open statements end with their executor: a recorded statement registers
 * a reset callback on its executor's memory, which goes at ExecutorEnd or,
 * when an error abandons the statement, with the portal or SPI call it ran
 * in, at the abort.  Nothing else forgets them, and none outlives its
 * executor.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "nodes/nodeFuncs.h"
#include "nodes/params.h"
#include "optimizer/planner.h"
#include "parser/scansup.h"
#include "portability/instr_time.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"

#include "capquery.h"
#include "capture.h"
#include "failures.h"
#include "plans.h"
#include "render.h"
#include "repeats.h"

/*---- Saved hook values ----*/
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static planner_hook_type prev_planner = NULL;

/*---- Local state ----*/

/* current nesting level of executor, utility and planner calls */
static int	nesting_level = 0;

/* nesting_level when each open subtransaction began, by its nest level */
static int *subxact_levels = NULL;
static int	max_subxact_levels = 0;

/* A statement recorded at its start and not yet ended. */
typedef struct OpenStatement
{
	QueryDesc  *query_desc;		/* identifies it until ExecutorEnd */
	uint64		pos;			/* its ring record */
	CapqKind	kind;			/* its kind, for retracting it once evicted */
	CapqPlans	plans;			/* plan to capture at its end */
	uint64		rows;			/* es_processed summed over ExecutorRun calls */
	instr_time	start;			/* for its duration */
	CapqStrictMark strict;		/* what strict mode counted for it */
} OpenStatement;

static OpenStatement *open_statements = NULL;
static int	num_open = 0;
static int	max_open = 0;

/*
 * running[level]: the ring record of the statement executing at that level,
 * so that a capq_* call can retract the statements that called it, and its
 * kind (running_kind), which retraction needs once the ring has evicted it.
 */
static uint64 *running = NULL;
static uint8 *running_kind = NULL;
static int	max_running = 0;

/*
 * The EXECUTE or DECLARE CURSOR running now, whose statement the executor
 * start at its level records:
 * - DECLARE: the executor sees the cursor's query with a copy of the whole
 *   source string; the entry gets the DECLARE statement's own span.
 * - EXECUTE evaluates its arguments one level down, before its prepared
 *   statement starts, in a portal of its own, at the EXECUTE's level.  A
 *   capq_* call among the arguments must keep the statement out, though it
 *   is not yet recorded when the call happens.
 */
typedef struct TransparentUtility
{
	int			level;			/* its nesting level, -1 when none runs */
	bool		is_execute;		/* EXECUTE, else DECLARE CURSOR */
	bool		in_arguments;	/* EXECUTE: evaluating arguments, at level + 1 */
	bool		called_capq;	/* EXECUTE: an argument called capq_* */
	Portal		portal;			/* EXECUTE: the portal that runs it */
	const char *source;			/* DECLARE: its source string */
	int			location;		/* DECLARE: its span in source */
	int			len;
} TransparentUtility;

static TransparentUtility transparent = {-1};

/*
 * Registered on a recorded statement's executor memory: when that memory
 * goes, the statement is no longer open (see the file header).
 */
typedef struct OpenStatementGuard
{
	MemoryContextCallback callback;
	uint64		pos;			/* the statement's ring record */
} OpenStatementGuard;

/* scratch memory for parameter output functions, reset after each use */
static MemoryContext scratch_context = NULL;

#define level_tracked(level) \
	((level) == 0 || capq_track == CAPQ_TRACK_ALL)

/*---- Function declarations ----*/
static void capq_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void capq_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
							 uint64 count, bool execute_once);
static void capq_ExecutorFinish(QueryDesc *queryDesc);
static void capq_ExecutorEnd(QueryDesc *queryDesc);
static void capq_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
								bool readOnlyTree,
								ProcessUtilityContext context,
								ParamListInfo params,
								QueryEnvironment *queryEnv,
								DestReceiver *dest, QueryCompletion *qc);
static PlannedStmt *capq_planner(Query *parse, const char *query_string,
								 int cursorOptions, ParamListInfo boundParams);
static void capq_xact_callback(XactEvent event, void *arg);
static void capq_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								  SubTransactionId parentSubid, void *arg);

/* Install the hooks, saving each previous value (called by _PG_init). */
void
capq_install_hooks(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = capq_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = capq_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = capq_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = capq_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = capq_ProcessUtility;
	prev_planner = planner_hook;
	planner_hook = capq_planner;

	RegisterXactCallback(capq_xact_callback, NULL);
	RegisterSubXactCallback(capq_subxact_callback, NULL);
}

/*---- Building a record ----*/

/*
 * The statement's own text within a (possibly multi-statement) source
 * string, trimmed of surrounding white space, as pg_stat_statements cuts it.
 */
static const char *
statement_span(const char *source, int location, int len, int *span_len)
{
	if (source == NULL)
	{
		*span_len = 0;
		return "";
	}
	if (location >= 0)
	{
		source += location;
		if (len <= 0)
			len = strlen(source);
	}
	else
		len = strlen(source);

	while (len > 0 && scanner_isspace(source[0]))
	{
		source++;
		len--;
	}
	while (len > 0 && scanner_isspace(source[len - 1]))
		len--;
	*span_len = len;
	return source;
}

/*
 * Fill in parts' text, cutting it at capquery.max_query_length on a
 * character boundary.  The ring also bounds it (capq_ring_max_payload).
 */
static void
set_text(CapqRecordParts *parts, const char *text, int len)
{
	Size		limit = capq_ring_payload_limit(capq_max_query_length);

	parts->text = text;
	if ((Size) len > limit)
	{
		len = pg_mbcliplen(text, len, (int) limit);
		parts->flags |= CAPQ_FLAG_QUERY_TRUNCATED;
	}
	parts->text_len = (uint32) len;
}

/*
 * The output text of a parameter, computed on at most what can be kept:
 * for text-like and bytea values only a prefix of the datum is formatted
 * (a 100 MB bytea is not turned into a 200 MB string to keep 1 kB of it).
 * *clipped is set when the value was cut here.
 */
static char *
param_output(Oid type, Datum value, Size room, bool *clipped)
{
	Oid			typoutput;
	bool		typisvarlena;

	*clipped = false;
	getTypeOutputInfo(type, &typoutput, &typisvarlena);
	if (typisvarlena &&
		(type == TEXTOID || type == VARCHAROID || type == BPCHAROID ||
		 type == BYTEAOID) &&
		toast_raw_datum_size(value) > room + VARHDRSZ)
	{
		/* text keeps bytes; bytea output is "\x" plus two digits a byte */
		Size		keep = type == BYTEAOID ? room / 2 + 1 : room + 1;
		struct varlena *slice = pg_detoast_datum_slice((struct varlena *) DatumGetPointer(value),
													   0, (int32) keep);

		*clipped = true;
		return OidOutputFunctionCall(typoutput, PointerGetDatum(slice));
	}
	return OidOutputFunctionCall(typoutput, value);
}

/*
 * Copy bound parameters (extended protocol, EXECUTE) as type OID plus
 * output text, bounded by capquery.max_params_length: the values are
 * needed exactly as sent, and the output function is the only way to get
 * them from a Datum.  Rendering them as "$1 = '...'" happens at read time
 * (render.c).  Whatever
 * is cut -- a value, or parameters past the limit -- is marked.
 */
static void
set_params(CapqRecordParts *parts, ParamListInfo params, StringInfo buf)
{
	Size		limit = capq_ring_payload_limit(capq_max_params_length);
	MemoryContext oldcontext;

	if (params == NULL || params->numParams <= 0 ||
		params->paramFetch != NULL || limit == 0)
		return;

	if (scratch_context == NULL)
		scratch_context = AllocSetContextCreate(TopMemoryContext,
												"capquery scratch",
												ALLOCSET_SMALL_SIZES);
	oldcontext = MemoryContextSwitchTo(scratch_context);
	initStringInfo(buf);

	for (int i = 0; i < params->numParams; i++)
	{
		ParamExternData *prm = &params->params[i];
		char	   *value = NULL;
		Size		value_len = 0;
		Size		room;
		bool		clipped = false;

		if ((Size) buf->len + CAPQ_PARAM_HEADER_SIZE > limit)
		{
			parts->flags |= CAPQ_FLAG_PARAMS_TRUNCATED;
			break;
		}
		room = limit - buf->len - CAPQ_PARAM_HEADER_SIZE;
		if (!prm->isnull && OidIsValid(prm->ptype))
		{
			value = param_output(prm->ptype, prm->value, room, &clipped);
			value_len = strlen(value);
		}
		if (value != NULL && value_len > room)
		{
			value_len = pg_mbcliplen(value, (int) value_len, (int) room);
			clipped = true;
		}
		if (clipped)
			parts->flags |= CAPQ_FLAG_PARAMS_TRUNCATED;
		capq_params_append(buf, prm->ptype, value, (int) value_len);
		parts->nparams++;
	}
	MemoryContextSwitchTo(oldcontext);

	parts->params = buf->data;
	parts->params_len = (uint32) buf->len;
}

/* Relation OIDs of the plan's range table, without duplicates. */
static void
set_relations(CapqRecordParts *parts, PlannedStmt *pstmt, Oid *relations)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, pstmt->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		bool		seen = false;

		if (rte->rtekind != RTE_RELATION)
			continue;
		for (int i = 0; i < n && !seen; i++)
			seen = relations[i] == rte->relid;
		if (!seen && n < CAPQ_MAX_RELATIONS)
			relations[n++] = rte->relid;
	}
	parts->relations = relations;
	parts->nrelations = n;
}

static CapqKind
executor_kind(CmdType operation)
{
	switch (operation)
	{
		case CMD_INSERT:
			return CAPQ_KIND_INSERT;
		case CMD_UPDATE:
			return CAPQ_KIND_UPDATE;
		case CMD_DELETE:
			return CAPQ_KIND_DELETE;
		case CMD_MERGE:
			return CAPQ_KIND_MERGE;
		default:
			return CAPQ_KIND_SELECT;
	}
}

/* Append a statement record for every current target. */
static inline uint64
append_statement(CapqRecordParts *parts)
{
	return capq_ring_append(parts, capq_targets, capq_ntargets);
}

/* Grow running[] and running_kind[] to hold level. */
static pg_noinline void
running_grow(int level)
{
	int			newmax = Max(16, level * 2);

	if (running == NULL)
	{
		running = MemoryContextAllocZero(TopMemoryContext,
										 newmax * sizeof(uint64));
		running_kind = MemoryContextAllocZero(TopMemoryContext, newmax);
	}
	else
	{
		running = repalloc(running, newmax * sizeof(uint64));
		memset(running + max_running, 0,
			   (newmax - max_running) * sizeof(uint64));
		running_kind = repalloc(running_kind, newmax);
	}
	max_running = newmax;
}

/* Remember the recorded statement (or none) running at level. */
static inline void
running_set(int level, uint64 pos, CapqKind kind)
{
	if (unlikely(level >= max_running))
		running_grow(level);
	running[level] = pos;
	running_kind[level] = (uint8) kind;
}

/* The index in open_statements[] of an open statement, or -1. */
static inline int
find_open(QueryDesc *queryDesc)
{
	for (int i = num_open - 1; i >= 0; i--)
	{
		if (open_statements[i].query_desc == queryDesc)
			return i;
	}
	return -1;
}

/* The statement at open_statements[i] is no longer open. */
static void
forget_open(int i)
{
	num_open--;
	memmove(&open_statements[i], &open_statements[i + 1],
			(num_open - i) * sizeof(OpenStatement));
}

/* Reset callback of a recorded statement's executor memory. */
static void
open_statement_memory_gone(void *arg)
{
	uint64		pos = ((OpenStatementGuard *) arg)->pos;

	for (int i = num_open - 1; i >= 0; i--)
	{
		if (open_statements[i].pos == pos)
		{
			forget_open(i);
			break;
		}
	}
}

/*
 * The open statement of queryDesc, just started, stays open as long as its
 * executor's memory: ExecutorEnd frees it after ending the statement; an
 * abort that abandons the statement frees it with the portal or SPI call.
 */
static void
guard_open_statement(QueryDesc *queryDesc)
{
	int			i = find_open(queryDesc);
	OpenStatementGuard *guard;

	if (i < 0 || queryDesc->estate == NULL)
		return;
	guard = MemoryContextAlloc(queryDesc->estate->es_query_cxt,
							   sizeof(OpenStatementGuard));
	guard->pos = open_statements[i].pos;
	guard->callback.func = open_statement_memory_gone;
	guard->callback.arg = guard;
	MemoryContextRegisterResetCallback(queryDesc->estate->es_query_cxt,
									   &guard->callback);
}

/*
 * The level of a statement starting now at nesting_level "level".  An
 * executor or utility call at level 0 outside any portal does not run a
 * client's statement (they all run in portals) but works on behalf of one:
 * a deferred trigger or constraint check firing at commit, or a domain's
 * CHECK on a parameter the extended protocol's Bind converts.  It is one
 * level down.  (Planning is the exception: a client's statement is
 * planned before its portal starts, so the planner hook counts from the
 * level itself.)
 */
static inline int
statement_level(int level)
{
	return level == 0 && ActivePortal == NULL ? 1 : level;
}

/*---- Statements that call capq_* directly ----*/

/* Does an expression call a capq_* function? */
static bool
calls_capq_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr))
	{
		char	   *name = get_func_name(((FuncExpr *) node)->funcid);

		if (name != NULL && strncmp(name, "capq_", 5) == 0)
			return true;
	}
	return expression_tree_walker(node, calls_capq_walker, context);
}

/* ... in a plan node's target list, quals or inputs? */
static bool
plan_calls_capq(Plan *plan)
{
	if (plan == NULL)
		return false;
	if (calls_capq_walker((Node *) plan->targetlist, NULL) ||
		calls_capq_walker((Node *) plan->qual, NULL))
		return true;
	if (IsA(plan, Result) &&
		calls_capq_walker(((Result *) plan)->resconstantqual, NULL))
		return true;
	return plan_calls_capq(plan->lefttree) || plan_calls_capq(plan->righttree);
}

/*
 * Does the text spell "capq_", in any case?  memchr finds each '_' (most
 * statements have few), then the four letters before it are compared.
 */
static inline bool
spells_capq(const char *text, int len)
{
	const char *end = text + len;
	const char *p = text + 4;

	while (p < end && (p = memchr(p, '_', end - p)) != NULL)
	{
		if ((p[-4] | 0x20) == 'c' && (p[-3] | 0x20) == 'a' &&
			(p[-2] | 0x20) == 'p' && (p[-1] | 0x20) == 'q')
			return true;
		p++;
	}
	return false;
}

/*
 * Does this statement call a capq_* function itself (SELECT capq_count(),
 * SELECT * FROM capq_queries(), SELECT is(capq_count(), 3))?  Such a
 * statement would be retracted when the call runs; it is not appended at
 * all, so that reading a capture never evicts what it reads.  Only a text
 * that spells capq_ (in any case) pays for looking at the plan.  A call made
 * through a function of the application's is still appended, then
 * retracted.
 */
static bool
calls_capq_directly(PlannedStmt *pstmt, const char *text, int len)
{
	ListCell   *lc;

	if (!spells_capq(text, len))
		return false;
	foreach(lc, pstmt->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_FUNCTION &&
			calls_capq_walker((Node *) rte->functions, NULL))
			return true;
	}
	return plan_calls_capq(pstmt->planTree);
}

/* Record an executor statement when it starts, at "level". */
static void
record_executor_start(QueryDesc *queryDesc, int level)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	CapqRecordParts parts;
	StringInfoData params_buf;
	Oid			relations[CAPQ_MAX_RELATIONS];
	const char *text;
	int			text_len;
	OpenStatement *open;
	uint64		pos;
	CapqStrictMark strict = {0};

	if (transparent.level == level && transparent.called_capq)
		return;

	memset(&parts, 0, sizeof(parts));
	parts.type = CAPQ_REC_STATEMENT;
	parts.kind = executor_kind(queryDesc->operation);
	parts.nesting = level;

	if (transparent.level == level && !transparent.is_execute)
		text = statement_span(transparent.source, transparent.location,
							  transparent.len,
							  &text_len);
	else
		text = statement_span(queryDesc->sourceText, pstmt->stmt_location,
							  pstmt->stmt_len, &text_len);
	if (calls_capq_directly(pstmt, text, text_len))
		return;
	if (capq_max_repeats > 0)
		capq_strict_check(text, text_len, parts.kind, &strict);
	set_text(&parts, text, text_len);
	set_relations(&parts, pstmt, relations);
	set_params(&parts, queryDesc->params, &params_buf);

	pos = append_statement(&parts);
	if (scratch_context != NULL && parts.params != NULL)
		MemoryContextReset(scratch_context);
	if (level == 0)
		capq_failure_note_statement(text + text_len);
	if (pos == CAPQ_NO_POS)
		return;

	if (num_open >= max_open)
	{
		int			newmax = Max(8, max_open * 2);

		if (open_statements == NULL)
			open_statements = MemoryContextAlloc(TopMemoryContext,
												 newmax * sizeof(OpenStatement));
		else
			open_statements = repalloc(open_statements,
									   newmax * sizeof(OpenStatement));
		max_open = newmax;
	}
	open = &open_statements[num_open++];
	open->query_desc = queryDesc;
	open->pos = pos;
	open->kind = parts.kind;
	open->plans = capq_plans_wanted;
	open->rows = 0;
	open->strict = strict;
	INSTR_TIME_SET_CURRENT(open->start);
}

/*---- Hooks ----*/

static inline void
call_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* The error being raised ends the recorded statement of queryDesc. */
static void
failed_while_running(QueryDesc *queryDesc)
{
	int			i = find_open(queryDesc);

	capq_failure_while_running(i >= 0 ? open_statements[i].pos : CAPQ_NO_POS);
}

/*
 * While something is captured: record a starting statement if the capture
 * wants its level, prepare its plan if one is wanted, and start it one level
 * down: executor startup can run the application's code on the statement's
 * behalf (a STABLE function in a partition key comparison, evaluated for
 * initial pruning), nested like what the statement runs later.  A failure
 * to start (permissions, locks) is the recorded statement's.  Once started,
 * it stays open as long as its executor (guard_open_statement).
 */
static pg_noinline void
capture_executor_start(QueryDesc *queryDesc, int eflags)
{
	int			saved_level = nesting_level;
	int			level = statement_level(saved_level);

	if (!level_tracked(level) || (eflags & EXEC_FLAG_EXPLAIN_ONLY) != 0)
	{
		nesting_level = level + 1;
		call_executor_start(queryDesc, eflags);
		nesting_level = saved_level;
		return;
	}

	record_executor_start(queryDesc, level);
	if (capq_plans_wanted != CAPQ_PLANS_OFF)
		capq_plan_prepare(queryDesc, capq_plans_wanted);

	nesting_level = level + 1;
	PG_TRY();
	{
		call_executor_start(queryDesc, eflags);
	}
	PG_CATCH();
	{
		int			i = find_open(queryDesc);

		failed_while_running(queryDesc);
		if (i >= 0)
			forget_open(i);
		PG_RE_THROW();
	}
	PG_END_TRY();
	nesting_level = saved_level;
	guard_open_statement(queryDesc);
}

/*
 * While an EXECUTE evaluates its arguments (one level down), is this the
 * start of its prepared statement?  ExecuteQuery runs that in a new portal,
 * hidden from pg_cursors, once the arguments are evaluated; what the
 * arguments run is in the EXECUTE's own portal, or in a cursor's (visible)
 * portal.  The statement then runs at the EXECUTE's level.
 */
static pg_noinline void
leave_execute_arguments(void)
{
	Portal		portal = ActivePortal;

	if (nesting_level == transparent.level + 1 && portal != NULL &&
		portal != transparent.portal && !portal->visible)
	{
		transparent.in_arguments = false;
		nesting_level = transparent.level;
	}
}

/* ExecutorStart hook: record the statement if a capture wants it. */
static void
capq_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (unlikely(transparent.in_arguments))
		leave_execute_arguments();
	if (capq_active_targets() > 0)
	{
		capture_executor_start(queryDesc, eflags);
		return;
	}
	call_executor_start(queryDesc, eflags);
}

/*
 * Around a nested executor call: remember which recorded statement runs at
 * its level (for retraction), and count the nesting.
 */
static inline void
enter_level(QueryDesc *queryDesc, int level)
{
	int			i = find_open(queryDesc);

	if (i >= 0)
		running_set(level, open_statements[i].pos, open_statements[i].kind);
	else
		running_set(level, CAPQ_NO_POS, CAPQ_KIND_SELECT);
	nesting_level = level + 1;
}

static inline void
leave_level(int saved_level, int level)
{
	nesting_level = saved_level;
	running[level] = CAPQ_NO_POS;
}

/*
 * Nothing to remember at this level: no recorded statement is open, so
 * none is running here to be retracted or to add up rows.  Then the nesting
 * is counted without PG_TRY, and from the level itself, not
 * statement_level(): an executor outside any portal that is not recorded
 * puts what it runs at 1 rather than 2, which no count tells apart (track
 * 'top' counts level 0 only, 'all' every level) -- and under 'all' it is
 * recorded, so not quiet.  That spares the idle path a test of ActivePortal.
 * Statements nested below are still recorded if a capture wants them:
 * ExecutorStart decides that.
 */
static inline bool
level_is_quiet(void)
{
	return num_open == 0;
}

/*
 * Does this run start the query over?  Committing a WITH HOLD cursor copies
 * what is left of its result into a store (PersistHoldablePortal): a
 * scrollable cursor's executor is rewound first and runs over the whole
 * result again, so its rows so far are produced again; a NO SCROLL one just
 * goes on where its fetches stopped.
 */
static bool
persists_from_start(QueryDesc *queryDesc)
{
	Portal		portal = ActivePortal;

	return portal != NULL && portal->queryDesc == queryDesc &&
		portal->holdStore != NULL &&
		(portal->cursorOptions & CURSOR_OPT_HOLD) != 0 &&
		(portal->cursorOptions & CURSOR_OPT_SCROLL) != 0 &&
		queryDesc->dest != NULL && queryDesc->dest->mydest == DestTuplestore;
}

/*
 * ExecutorRun with PG_TRY, for when something here is captured: an error
 * ends the statement that runs here.
 */
static pg_noinline void
run_protected(QueryDesc *queryDesc, ScanDirection direction, uint64 count,
			  bool execute_once)
{
	int			saved_level = nesting_level;
	volatile int level = statement_level(saved_level);
	bool		from_start = persists_from_start(queryDesc);

	enter_level(queryDesc, level);
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_CATCH();
	{
		failed_while_running(queryDesc);
		PG_RE_THROW();
	}
	PG_END_TRY();
	leave_level(saved_level, level);

	if (num_open > 0)
	{
		int			i = find_open(queryDesc);

		if (i >= 0 && from_start)
			open_statements[i].rows = queryDesc->estate->es_processed;
		else if (i >= 0)
			open_statements[i].rows += queryDesc->estate->es_processed;
	}
}

/*
 * ExecutorRun hook: count nesting, and add up rows, since a portal fetched
 * in batches runs once per batch and each run restarts es_processed.
 */
static void
capq_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count,
				 bool execute_once)
{
	int			saved_level = nesting_level;

	if (!level_is_quiet())
	{
		run_protected(queryDesc, direction, count, execute_once);
		return;
	}
	nesting_level = saved_level + 1;
	if (prev_ExecutorRun)
		prev_ExecutorRun(queryDesc, direction, count, execute_once);
	else
		standard_ExecutorRun(queryDesc, direction, count, execute_once);
	nesting_level = saved_level;
}

/* ExecutorFinish with PG_TRY, for when something here is captured. */
static pg_noinline void
finish_protected(QueryDesc *queryDesc)
{
	int			saved_level = nesting_level;
	volatile int level = statement_level(saved_level);

	enter_level(queryDesc, level);
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_CATCH();
	{
		failed_while_running(queryDesc);
		PG_RE_THROW();
	}
	PG_END_TRY();
	leave_level(saved_level, level);
}

/* ExecutorFinish hook: AFTER triggers run here, so count nesting too. */
static void
capq_ExecutorFinish(QueryDesc *queryDesc)
{
	int			saved_level = nesting_level;

	if (!level_is_quiet())
	{
		finish_protected(queryDesc);
		return;
	}
	nesting_level = saved_level + 1;
	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
	nesting_level = saved_level;
}

/* Fill in rows, duration and plan of a recorded statement that ends. */
static pg_noinline void
finish_open_statement(QueryDesc *queryDesc)
{
	int			i = find_open(queryDesc);
	OpenStatement *open;
	instr_time	duration;

	if (i < 0)
		return;
	open = &open_statements[i];
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, open->start);
	if (open->plans != CAPQ_PLANS_OFF)
		capq_plan_record(queryDesc, open->pos, open->plans);
	capq_ring_finish(open->pos, open->rows, INSTR_TIME_GET_MICROSEC(duration));
	forget_open(i);
}

static inline void
call_executor_end(QueryDesc *queryDesc)
{
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/* ExecutorEnd hook: complete the statement's record, if it has one. */
static void
capq_ExecutorEnd(QueryDesc *queryDesc)
{
	if (unlikely(num_open > 0))
		finish_open_statement(queryDesc);
	call_executor_end(queryDesc);
}

/* Utility statements that stand for an executor statement, or nothing. */
static inline bool
utility_is_transparent(Node *parsetree)
{
	return IsA(parsetree, ExecuteStmt) ||
		IsA(parsetree, PrepareStmt) ||
		IsA(parsetree, DeclareCursorStmt) ||
		IsA(parsetree, FetchStmt) ||
		IsA(parsetree, ClosePortalStmt);
}

static inline void
call_process_utility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/*
 * Run a transparent utility statement; for EXECUTE and DECLARE CURSOR, tell
 * the executor start below what it stands for.  EXECUTE's arguments are
 * evaluated one level down, until its statement starts (see
 * leave_execute_arguments).
 */
static pg_noinline void
process_transparent_utility(PlannedStmt *pstmt, const char *queryString,
							bool readOnlyTree, ProcessUtilityContext context,
							ParamListInfo params, QueryEnvironment *queryEnv,
							DestReceiver *dest, QueryCompletion *qc)
{
	TransparentUtility saved = transparent;
	int			saved_level = nesting_level;
	int			level = statement_level(saved_level);

	transparent.level = level;
	transparent.is_execute = IsA(pstmt->utilityStmt, ExecuteStmt);
	transparent.in_arguments = transparent.is_execute;
	transparent.called_capq = false;
	transparent.portal = ActivePortal;
	transparent.source = queryString;
	transparent.location = pstmt->stmt_location;
	transparent.len = pstmt->stmt_len;
	if (transparent.is_execute)
		nesting_level = level + 1;
	PG_TRY();
	{
		call_process_utility(pstmt, queryString, readOnlyTree, context,
							 params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		/* which EXECUTE runs is this frame's to say, error or not */
		transparent = saved;
	}
	PG_END_TRY();
	nesting_level = saved_level;
}

/* Record a utility or transaction statement, and run it a level down. */
static pg_noinline void
process_utility(PlannedStmt *pstmt, const char *queryString,
				bool readOnlyTree, ProcessUtilityContext context,
				ParamListInfo params, QueryEnvironment *queryEnv,
				DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	int			saved_level = nesting_level;
	volatile int level = statement_level(saved_level);
	volatile uint64 pos = CAPQ_NO_POS;	/* read after PG_TRY */
	CapqKind	kind = CAPQ_KIND_UTILITY;
	instr_time	start;

	if (capq_track_utility && capq_active_targets() > 0 &&
		level_tracked(level))
	{
		CapqRecordParts parts;
		const char *text;
		int			text_len;

		memset(&parts, 0, sizeof(parts));
		parts.type = CAPQ_REC_STATEMENT;
		if (IsA(parsetree, TransactionStmt))
			kind = CAPQ_KIND_TRANSACTION;
		parts.kind = kind;
		parts.nesting = level;
		text = statement_span(queryString, pstmt->stmt_location,
							  pstmt->stmt_len, &text_len);
		set_text(&parts, text, text_len);
		pos = append_statement(&parts);
		if (level == 0)
			capq_failure_note_statement(text + text_len);
		INSTR_TIME_SET_CURRENT(start);
	}

	running_set(level, pos, kind);
	nesting_level = level + 1;
	PG_TRY();
	{
		call_process_utility(pstmt, queryString, readOnlyTree, context,
							 params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		/*
		 * A transaction block that already failed aborts nothing more when
		 * its ROLLBACK TO fails (the savepoint does not exist), so no abort
		 * would put this level back: this frame does, having PG_TRY anyway.
		 */
		leave_level(saved_level, level);
		capq_failure_while_running(pos);
		PG_RE_THROW();
	}
	PG_END_TRY();
	leave_level(saved_level, level);

	if (pos != CAPQ_NO_POS)
	{
		instr_time	duration;

		INSTR_TIME_SET_CURRENT(duration);
		INSTR_TIME_SUBTRACT(duration, start);
		capq_ring_finish(pos, qc ? qc->nprocessed : 0,
						 INSTR_TIME_GET_MICROSEC(duration));
	}
}

/* ProcessUtility hook: record utility and transaction statements. */
static void
capq_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					bool readOnlyTree, ProcessUtilityContext context,
					ParamListInfo params, QueryEnvironment *queryEnv,
					DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	/* a prepared statement that rules turned into a utility statement */
	if (unlikely(transparent.in_arguments))
		leave_execute_arguments();
	if (utility_is_transparent(parsetree))
	{
		/*
		 * With no capture active there is nothing to tell the executor
		 * start below, and no argument nesting to count: EXECUTE (the
		 * common form of a bound-parameter statement from psql, pgbench -M
		 * prepared and some drivers), DECLARE, FETCH and the others just
		 * run, with no PG_TRY and no state saved.
		 */
		if (capq_active_targets() > 0 &&
			(IsA(parsetree, ExecuteStmt) || IsA(parsetree, DeclareCursorStmt)))
			process_transparent_utility(pstmt, queryString, readOnlyTree,
										context, params, queryEnv, dest, qc);
		else
			call_process_utility(pstmt, queryString, readOnlyTree, context,
								 params, queryEnv, dest, qc);
		return;
	}
	process_utility(pstmt, queryString, readOnlyTree, context, params,
					queryEnv, dest, qc);
}

/*
 * Planner hook: what planning runs (an IMMUTABLE function called with
 * constants is evaluated by the executor here) is nested in the statement
 * being planned.  No recorded statement runs at the raised level, so no
 * PG_TRY: an error is repaired as the file header says.  The level goes up
 * and back down (what runs below is balanced when planning returns), which
 * spares saving it: this runs for every statement.
 */
static PlannedStmt *
capq_planner(Query *parse, const char *query_string, int cursorOptions,
			 ParamListInfo boundParams)
{
	PlannedStmt *result;

	nesting_level++;
	if (prev_planner)
		result = prev_planner(parse, query_string, cursorOptions, boundParams);
	else
		result = standard_planner(parse, query_string, cursorOptions,
								  boundParams);
	nesting_level--;
	return result;
}

/*---- Transaction boundaries: where an error's unwinding ends ----*/

/*
 * The calls above level were abandoned by an error that a (sub)transaction
 * abort now recovers from: this is the one place the level goes down
 * without the call that raised it (see the file header).
 */
static void
unwind_to_level(int level)
{
	nesting_level = level;
	for (int l = level; l < max_running; l++)
		running[l] = CAPQ_NO_POS;
}

/*
 * A transaction aborts.  With no portal running, the top level caught an
 * error (or ended a failed transaction block): nothing runs any more.
 * Inside a running portal it is a procedure's ROLLBACK, or its COMMIT that
 * failed and whose error goes on up to the top level: the procedure's calls
 * still run, so the level stays.
 */
static void
capq_xact_callback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	if (ActivePortal == NULL)
		unwind_to_level(0);
	capq_failure_forget();
}

/*
 * A subtransaction begins and aborts in the frame that catches an error in
 * it (a PL/pgSQL exception block, ROLLBACK TO SAVEPOINT at the top level),
 * so its abort puts the level back to where it began.
 */
static void
capq_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			xact_level = GetCurrentTransactionNestLevel();

	if (event == SUBXACT_EVENT_START_SUB)
	{
		if (xact_level >= max_subxact_levels)
		{
			int			newmax = Max(16, xact_level * 2);

			subxact_levels = subxact_levels == NULL ?
				MemoryContextAlloc(TopMemoryContext, newmax * sizeof(int)) :
				repalloc(subxact_levels, newmax * sizeof(int));
			max_subxact_levels = newmax;
		}
		subxact_levels[xact_level] = nesting_level;
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		capq_failure_forget();
		if (xact_level < max_subxact_levels)
			unwind_to_level(subxact_levels[xact_level]);
	}
}

/*---- Retraction ----*/

/*
 * Called by every capq_* function: the statements executing around this
 * call (its caller, and the callers of that) are not captured.
 */
void
capq_retract_calling_statements(void)
{
	if (transparent.level >= 0 && transparent.is_execute)
		transparent.called_capq = true;
	capq_failure_capq_called();
	if (capq_shared == NULL || running == NULL)
		return;
	for (int level = 0; level < nesting_level && level < max_running; level++)
	{
		uint64		pos = running[level];

		if (pos == CAPQ_NO_POS)
			continue;
		capq_ring_retract(pos, (CapqKind) running_kind[level],
						  capq_targets, capq_ntargets);
		running[level] = CAPQ_NO_POS;

		/* strict mode counts only what the capture counts */
		for (int i = 0; i < num_open; i++)
		{
			if (open_statements[i].pos == pos)
				capq_strict_uncount(&open_statements[i].strict);
		}
	}
}
