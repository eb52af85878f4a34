/*-------------------------------------------------------------------------
 *
 * plans.c
 *		Capturing plans, as auto_explain logs them: decide at executor start
 *		(instrumentation only for 'analyze'), render at executor end.
 *
 * Plans are EXPLAIN text with COSTS OFF; 'analyze' adds actual rows and
 * loops with TIMING OFF and no summary, so the text depends only on the
 * plan and the data, never on the clock.  The text goes into its own ring
 * record (CAPQ_REC_PLAN) pointing at the statement, since the statement's
 * record was written, with a fixed size, when it started.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/explain.h"
#include "executor/instrument.h"

#include "capture.h"
#include "plans.h"

/* Before standard_ExecutorStart: ask for row counts when analyzing. */
void
capq_plan_prepare(QueryDesc *queryDesc, CapqPlans plans)
{
	if (plans == CAPQ_PLANS_ANALYZE)
		queryDesc->instrument_options |= INSTRUMENT_ROWS;
}

/*
 * In ExecutorEnd, before the standard one: render the plan and append it
 * for the captures of this backend that asked for plans.
 */
void
capq_plan_record(QueryDesc *queryDesc, uint64 statement_pos, CapqPlans plans)
{
	MemoryContext oldcontext;
	ExplainState *es;
	CapqTarget *targets;
	int			ntargets = 0;
	CapqRecordParts parts;

	if (capq_active_targets() == 0)
		return;
	oldcontext = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);
	targets = palloc(capq_active_targets() * sizeof(CapqTarget));
	ntargets = capq_plan_targets(targets);
	if (ntargets == 0)
	{
		MemoryContextSwitchTo(oldcontext);
		return;
	}

	es = NewExplainState();
	es->analyze = plans == CAPQ_PLANS_ANALYZE &&
		(queryDesc->instrument_options & INSTRUMENT_ROWS) != 0;
	es->costs = false;
	es->timing = false;
	es->summary = false;
	es->format = EXPLAIN_FORMAT_TEXT;
	ExplainBeginOutput(es);
	ExplainPrintPlan(es, queryDesc);
	if (es->analyze)
		ExplainPrintTriggers(es, queryDesc);
	ExplainEndOutput(es);
	while (es->str->len > 0 && es->str->data[es->str->len - 1] == '\n')
		es->str->data[--es->str->len] = '\0';

	memset(&parts, 0, sizeof(parts));
	parts.type = CAPQ_REC_PLAN;
	parts.kind = CAPQ_KIND_SELECT;
	parts.ref = statement_pos;
	parts.text = es->str->data;
	parts.text_len = (uint32) Min((Size) es->str->len, capq_ring_max_payload());
	capq_ring_append(&parts, targets, ntargets);

	MemoryContextSwitchTo(oldcontext);
}
