/*-------------------------------------------------------------------------
 *
 * plans.h
 *		Plan capture for capq_begin(plans => 'on' | 'analyze').
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQ_PLANS_H
#define CAPQ_PLANS_H

#include "executor/execdesc.h"

#include "capture.h"

extern void capq_plan_prepare(QueryDesc *queryDesc, CapqPlans plans);
extern void capq_plan_record(QueryDesc *queryDesc, uint64 statement_pos,
							 CapqPlans plans);

#endif							/* CAPQ_PLANS_H */
