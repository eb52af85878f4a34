/*-------------------------------------------------------------------------
 *
 * repeats.h
 *		N+1 analysis: a capture grouped by statement shape.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQ_REPEATS_H
#define CAPQ_REPEATS_H

#include "nodes/pg_list.h"

#include "reader.h"

/* example parameter sets kept per shape */
#define CAPQ_SHAPE_EXAMPLES 3

/* The executions of one shape (in one phase, when grouped by phase). */
typedef struct CapqShapeGroup
{
	char		key[32];		/* hash key "phase:fingerprint": MUST BE FIRST */
	int32		phase;			/* 0 when not grouped by phase */
	char	   *fingerprint;
	char	   *normalized;		/* NULL when the role may not see it */
	CapqKind	kind;
	uint64		executions;
	uint64		failed;			/* executions that failed */
	uint64		rows;
	double		total_ms;
	double		max_ms;			/* its slowest execution's duration */
	uint64		slowest_seq;	/* seq of that execution */
	List	   *relations;		/* relation OIDs, distinct with their database */
	List	   *relation_dbids;	/* database OID of each of them */
	List	   *call_sites;		/* distinct sqlcommenter tags (char *) */
	List	   *examples;		/* parameter sets (char *), a few */
	uint64		first_seq;		/* seq of its first execution */
} CapqShapeGroup;

/*
 * Did the group run more than limit times?  Transaction control is left
 * out: BEGIN/COMMIT pairs are not N+1.  With limit 1: a likely N+1.
 */
static inline bool
capq_group_over(const CapqShapeGroup *g, uint64 limit)
{
	return g->executions > limit && g->kind != CAPQ_KIND_TRANSACTION;
}

/* Statements being grouped by shape, one at a time (repeats.c). */
typedef struct CapqGrouping CapqGrouping;

extern CapqGrouping *capq_grouping_begin(bool by_phase, bool have_kind,
										 CapqKind kind, uint64 show_from,
										 bool with_examples);
extern CapqShapeGroup *capq_grouping_add(CapqGrouping *gr, const CapqEntry *e);
extern int	capq_grouping_end(CapqGrouping *gr, CapqReader *rd,
							  CapqShapeGroup **groups);
extern int	capq_group_shapes_shown(CapqReader *rd, bool by_phase,
									bool have_kind, CapqKind kind,
									uint64 show_from, bool with_examples,
									CapqShapeGroup **groups);
extern CapqGrouping *capq_repeats_grouping(void);
extern char *capq_repeated_shapes_hint(CapqGrouping *gr, CapqReader *rd);
extern char *capq_relation_name(Oid dbid, Oid relid, bool mark_database);
extern char *capq_count_differences(CapqReader *a, CapqReader *b,
									bool have_kind, CapqKind kind);
extern char *capq_call_site(const char *comment);

/*---- Strict mode: capquery.max_repeats ----*/

/*
 * What strict mode counted for one statement, so that it can take it back
 * when the statement turns out to call capq_* (and is retracted).
 */
typedef struct CapqStrictMark
{
	uint64		capture_id;		/* the capture it was counted in, 0 if none */
	struct StrictCount *count;	/* its shape's count there */
} CapqStrictMark;

extern void capq_strict_check(const char *text, int len, CapqKind kind,
							  CapqStrictMark *mark);
extern void capq_strict_uncount(CapqStrictMark *mark);

#define CAPQ_EAGER_LOADING_HINT \
	"Load the related rows eagerly: a JOIN, or the two-query strategy (fetch the parents, then all their children with one IN (...) query)."

#endif							/* CAPQ_REPEATS_H */
