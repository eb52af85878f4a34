/*-------------------------------------------------------------------------
 *
 * capture.h
 *		Capture sessions: begin, phase, end, reset, which captures a
 *		backend's statements belong to, and finding a capture to read.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQ_CAPTURE_H
#define CAPQ_CAPTURE_H

#include "miscadmin.h"

#include "ring.h"

/*---- What capq_begin() asks for ----*/

/* which sessions a capture takes statements from */
typedef enum CapqScope
{
	CAPQ_SCOPE_BACKEND = 0,
	CAPQ_SCOPE_DATABASE,
	CAPQ_SCOPE_ALL,
	CAPQ_NUM_SCOPES
} CapqScope;

/* whether a capture keeps plans, and with run-time figures */
typedef enum CapqPlans
{
	CAPQ_PLANS_OFF = 0,
	CAPQ_PLANS_ON,
	CAPQ_PLANS_ANALYZE,
	CAPQ_NUM_PLANS
} CapqPlans;

/* the contract's spellings, indexed by the enums (names.c) */
extern const char *const capq_scope_names[CAPQ_NUM_SCOPES];
extern const char *const capq_plans_names[CAPQ_NUM_PLANS];
extern const char *capq_scope_name(CapqScope scope);

/*---- Capture slots (shared, under the ring lock) ----*/

typedef enum CapqSlotState
{
	CAPQ_SLOT_FREE = 0,
	CAPQ_SLOT_ACTIVE,
	CAPQ_SLOT_ENDED
} CapqSlotState;

/*
 * A capture: who began it, which sessions it takes statements from, and
 * whether it may be reused.  What the ring counted for it (phase, span,
 * statements, lost) is its ledger of the same slot number (ring.h).
 */
typedef struct CapqSlot
{
	uint64		capture_id;		/* 0 when free */
	CapqSlotState state;
	CapqScope	scope;
	CapqPlans	plans;
	int32		owner_pid;		/* backend that began it */
	Oid			owner_userid;	/* role that began it */
	Oid			dbid;			/* database it was begun in */
	uint64		end_order;		/* when ended: oldest is reused first */
	bool		owner_reads;	/* ended, and still its owner's latest */
	char		label[NAMEDATALEN];	/* "" when none */
} CapqSlot;

/* The capture slots and the counters that name and order captures. */
typedef struct CapqCaptures
{
	uint64		next_capture_id;	/* ids handed out by capq_begin */
	uint64		end_counter;	/* orders ended captures */
	int			nslots;			/* entries in slots[], as ring ledgers */
	CapqSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} CapqCaptures;

/* shared memory, or local beside a local ring; NULL until known */
extern CAPQ_INTERNAL CapqCaptures *capq_captures;

extern Size capq_captures_size(int nslots);
extern void capq_captures_init(CapqCaptures *c, int nslots);


/*---- The hooks' fast path: which captures take this backend's statements ----*/
extern CAPQ_INTERNAL uint64 capq_seen_generation;
extern CAPQ_INTERNAL int capq_ntargets;
extern CAPQ_INTERNAL CapqTarget *capq_targets;	/* capq_ntargets of them */
extern CAPQ_INTERNAL CapqPlans capq_plans_wanted;	/* the most any target asks for */
extern CAPQ_INTERNAL int capq_ncandidates;	/* captures naming this backend */
extern CAPQ_INTERNAL Oid capq_targets_userid;	/* role the targets are for */

extern void capq_refresh_targets(void);
extern int	capq_targets_without_catalogs(void);

/*
 * Must the cached targets be recomputed?  With no capture anywhere this is
 * one load and one compare: the generation only moves when a capture
 * begins, ends or is reset.  Which captures may take a statement depends on
 * the role running it (a capture's owner must be allowed to read it), so
 * while some capture names this backend a change of role (SET ROLE, a
 * SECURITY DEFINER function) recomputes the targets too.
 */
static inline bool
capq_targets_stale(void)
{
	return unlikely(pg_atomic_read_u64(&capq_shared->generation) !=
					capq_seen_generation) ||
		unlikely(capq_ncandidates > 0 && GetUserId() != capq_targets_userid);
}

/* Number of captures this backend's statements currently go to. */
static inline int
capq_active_targets(void)
{
	if (unlikely(capq_shared == NULL))
		return 0;
	if (capq_targets_stale())
		capq_refresh_targets();
	return capq_ntargets;
}

/* the targets whose capture wants plans, copied to out; returns how many */
extern int	capq_plan_targets(CapqTarget *out);

/* this backend's first target and its capture's current phase; false if none */
extern bool capq_first_target(CapqTarget *target, int32 *phase);

/* forget the cached targets (capquery.session changed) */
static inline void
capq_invalidate_targets(void)
{
	capq_seen_generation = 0;
}

/* longest label or phase name, in bytes (labels fill CapqSlot.label) */
#define CAPQ_MAX_NAME_BYTES		(NAMEDATALEN - 1)

/*---- Capture lifecycle (SQL functions call these) ----*/
extern uint64 capq_capture_begin(const char *label, CapqScope scope,
								 CapqPlans plans);
extern int32 capq_capture_phase(const char *name);
extern uint64 capq_capture_end(void);
extern void capq_capture_reset(void);

/*
 * Find the capture a reader means and copy its slot and ledger (taken
 * together under the lock); ereports when there is none.
 */
extern void capq_capture_resolve(bool have_id, uint64 capture_id,
								 CapqSlot *slot, CapqLedger *ledger);

/* Copy the slots and ledgers of every capture still kept, in id order. */
extern int	capq_capture_list(CapqSlot **slots, CapqLedger **ledgers);

extern bool capq_role_reads_all_stats(void);
extern bool capq_role_may_read(Oid reader, Oid author);

#endif							/* CAPQ_CAPTURE_H */
