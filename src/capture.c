/*-------------------------------------------------------------------------
 *
 * capture.c
 *		Capture sessions: their slots, lifecycle, ownership and scopes, and
 *		the per-backend cache of which captures take its statements.
 *
 * A capture is a slot (capture.h) and the ring's ledger of the same
 * number (ring.h), owned by the backend that began it.  Its statements are ring records tagged with its id.  It
 * is active until capq_end(), capq_reset() or its owner's exit; an ended
 * capture stays readable until its slot is needed by a newer one (the
 * oldest ended slot is reused first).
 *
 * Every change to the set of active captures bumps the shared generation;
 * each backend caches the captures it records into (capq_targets) and
 * recomputes them only when the generation moved.  That is what keeps a
 * hook's cost with no capture anywhere to one compare.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/acl.h"
#include "utils/memutils.h"

#include "capture.h"
#include "settings.h"

/*---- Local state ----*/

CapqCaptures *capq_captures = NULL;

uint64		capq_seen_generation = 0;	/* 0: refresh on next check */
int			capq_ntargets = 0;
CapqTarget *capq_targets = NULL;	/* room for every slot */
CapqPlans	capq_plans_wanted = CAPQ_PLANS_OFF;
int			capq_ncandidates = 0;
Oid			capq_targets_userid = InvalidOid;

/* per target: whether its capture wants plans (capq_plan_targets) */
static CapqPlans *target_plans = NULL;

/* per candidate of the last refresh: the capture owner's role */
static Oid *candidate_owners = NULL;

/* the capture this backend owns and is running; id 0 when none */
static uint64 my_active_id = 0;
static int	my_active_slot = -1;

/* the capture this backend ended last, for readers without an id */
static uint64 my_last_id = 0;
static int	my_last_slot = -1;

static bool exit_callback_registered = false;

/*---- Helpers ----*/

/*
 * The captures of this backend that want plans, for plans.c: copied into
 * out (room for capq_active_targets() entries); returns how many.
 */
int
capq_plan_targets(CapqTarget *out)
{
	int			n = 0;

	for (int i = 0; i < capq_ntargets; i++)
	{
		if (target_plans[i] != CAPQ_PLANS_OFF)
			out[n++] = capq_targets[i];
	}
	return n;
}

/*
 * The first capture this backend records into, and its current phase (read
 * without the lock: an aligned int32 the owner alone changes), for strict
 * mode.  False when there is none.
 */
bool
capq_first_target(CapqTarget *target, int32 *phase)
{
	if (capq_active_targets() == 0)
		return false;
	*target = capq_targets[0];
	*phase = capq_shared->ledgers[target->slot].phase;
	return true;
}

/* superuser or pg_read_all_stats: may use wide scopes */
bool
capq_role_reads_all_stats(void)
{
	return superuser() ||
		has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

/*
 * May statements run by "author" be read by "reader"?  Its own, those of
 * roles it has the privileges of, and all of them for superusers and
 * members of pg_read_all_stats: the rule of pg_stat_statements, used both
 * for showing text and for which captures a statement may join.  Reads the
 * catalogs unless the roles are the same.
 */
bool
capq_role_may_read(Oid reader, Oid author)
{
	if (reader == author)
		return true;
	return has_privs_of_role(reader, author) ||
		has_privs_of_role(reader, ROLE_PG_READ_ALL_STATS);
}

/*
 * Backends whose statements are never captured: parallel workers (their
 * leader's statement is already counted) and background processes.
 */
static bool
capture_allowed_here(void)
{
	if (IsParallelWorker())
		return false;
	return MyBackendType == B_BACKEND || !IsUnderPostmaster;
}

/* Does the capquery.session setting name this slot (label or id)? */
static bool
session_names_slot(const CapqSlot *slot)
{
	char		idbuf[32];

	if (capq_session_name == NULL || capq_session_name[0] == '\0')
		return false;
	if (slot->label[0] != '\0' && strcmp(slot->label, capq_session_name) == 0)
		return true;
	snprintf(idbuf, sizeof(idbuf), UINT64_FORMAT, slot->capture_id);
	return strcmp(idbuf, capq_session_name) == 0;
}

/*
 * Recompute the captures this backend's statements go to.  Called by
 * capq_active_targets() when the generation moved or, while some capture
 * names this backend, when the current role changed.
 *
 * A capture names this backend by its owner (the backend that began it),
 * its scope, or its label or id in capquery.session; it takes the
 * statements only if its owner may read them (capq_role_may_read), so no
 * label, setting or scope lets a role collect another role's statements
 * that it could not read anyway.  The privilege check reads the catalogs:
 * it runs here, outside the ring lock, once per change of captures or of
 * role, never per statement.  Without read_catalogs (the error path), a
 * capture whose owner is another role is left out for now.
 */
static void
refresh_targets(bool read_catalogs)
{
	CapqShared *s = capq_shared;
	CapqCaptures *c = capq_captures;
	uint64		generation;
	int			n = 0;
	int			kept = 0;
	bool		complete = true;
	Oid			me = GetUserId();
	CapqPlans	plans_wanted = CAPQ_PLANS_OFF;

	if (capq_targets == NULL)
	{
		capq_targets = MemoryContextAlloc(TopMemoryContext,
										  s->nslots * sizeof(CapqTarget));
		target_plans = MemoryContextAlloc(TopMemoryContext,
										  s->nslots * sizeof(CapqPlans));
		candidate_owners = MemoryContextAlloc(TopMemoryContext,
											  s->nslots * sizeof(Oid));
	}

	/* an error below leaves no targets and another refresh to do */
	capq_ntargets = 0;
	capq_ncandidates = 0;
	capq_seen_generation = 0;

	capq_lock(LW_SHARED);
	generation = pg_atomic_read_u64(&s->generation);
	if (capture_allowed_here())
	{
		for (int i = 0; i < c->nslots; i++)
		{
			CapqSlot   *slot = &c->slots[i];
			bool		match;

			if (slot->state != CAPQ_SLOT_ACTIVE)
				continue;
			match = slot->owner_pid == MyProcPid ||
				slot->scope == CAPQ_SCOPE_ALL ||
				(slot->scope == CAPQ_SCOPE_DATABASE &&
				 slot->dbid == MyDatabaseId) ||
				session_names_slot(slot);
			if (!match)
				continue;
			capq_targets[n].capture_id = slot->capture_id;
			capq_targets[n].slot = i;
			capq_targets[n].phase = 0;
			target_plans[n] = slot->plans;
			candidate_owners[n] = slot->owner_userid;
			n++;
		}
	}
	capq_unlock();

	for (int i = 0; i < n; i++)
	{
		bool		may_read;

		if (candidate_owners[i] == me)
			may_read = true;
		else if (IsTransactionState() && read_catalogs)
			may_read = capq_role_may_read(candidate_owners[i], me);
		else
		{
			/* no catalog access (ROLLBACK of a failed transaction): skip
			 * it for now and check again at the next statement */
			may_read = false;
			complete = false;
		}
		if (!may_read)
			continue;
		capq_targets[kept] = capq_targets[i];
		target_plans[kept] = target_plans[i];
		plans_wanted = Max(plans_wanted, target_plans[i]);
		kept++;
	}

	capq_ntargets = kept;
	capq_ncandidates = n;
	capq_targets_userid = me;
	capq_plans_wanted = plans_wanted;
	capq_seen_generation = complete ? generation : 0;
}

void
capq_refresh_targets(void)
{
	refresh_targets(true);
}

/*
 * capq_active_targets() for the error path (failures.c), where an error may
 * have come from anywhere and the catalogs must not be read: captures whose
 * owner is another role are left out until the next statement refreshes
 * the targets with the catalogs.  The caller checked that this backend
 * does not hold the ring lock.
 */
int
capq_targets_without_catalogs(void)
{
	if (capq_shared == NULL)
		return 0;
	if (capq_targets_stale())
		refresh_targets(false);
	return capq_ntargets;
}

/* Caller holds the lock exclusively. */
static void
bump_generation(void)
{
	pg_atomic_fetch_add_u64(&capq_shared->generation, 1);
}

/*
 * Make capq_shared usable.  Preloaded, it is the shared memory set up at
 * startup; otherwise a backend-local copy is made on first use, for scope
 * 'backend' only.
 */
static void
ensure_state(void)
{
	Size		ring_bytes;
	Size		size;
	void	   *mem;
	CapqShared *s;
	CapqCaptures *c;

	if (likely(capq_shared != NULL))
		return;
	if (capq_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("capquery shared memory is not initialized")));

	ring_bytes = (Size) capq_buffer_size_kb * 1024;
	size = capq_shared_size(capq_max_captures, 1, ring_bytes);
	mem = MemoryContextAllocExtended(TopMemoryContext, size, MCXT_ALLOC_HUGE);
	s = (CapqShared *) mem;
	capq_shared_init(s, mem, capq_max_captures, 1, ring_bytes, NULL);
	c = MemoryContextAlloc(TopMemoryContext,
						   capq_captures_size(capq_max_captures));
	capq_captures_init(c, capq_max_captures);
	capq_captures = c;
	capq_shared = s;
}

/* Bytes of the capture slots and their counters. */
Size
capq_captures_size(int nslots)
{
	return add_size(offsetof(CapqCaptures, slots),
					mul_size(nslots, sizeof(CapqSlot)));
}

/* Make nslots free slots; ids start at 1. */
void
capq_captures_init(CapqCaptures *c, int nslots)
{
	memset(c, 0, capq_captures_size(nslots));
	c->next_capture_id = 1;
	c->end_counter = 0;
	c->nslots = nslots;
}

/* The slot of this backend's active capture, or NULL (lock held). */
static CapqSlot *
my_active_slot_locked(void)
{
	CapqSlot   *slot;

	if (my_active_id == 0)
		return NULL;
	slot = &capq_captures->slots[my_active_slot];
	if (slot->capture_id != my_active_id || slot->state != CAPQ_SLOT_ACTIVE)
		return NULL;			/* reset by capq_reset() */
	return slot;
}

/* Forget the active capture if capq_reset() took it away. */
static void
check_active_still_exists(void)
{
	bool		exists;

	if (my_active_id == 0 || capq_shared == NULL)
		return;
	capq_lock(LW_SHARED);
	exists = my_active_slot_locked() != NULL;
	capq_unlock();
	if (!exists)
		my_active_id = 0;
}

/*
 * This backend no longer reads its previously ended capture by default, so
 * that slot may be reused before others' latest ones (lock held).
 */
static void
forget_last_capture_locked(void)
{
	CapqSlot   *slot;

	if (my_last_id == 0)
		return;
	slot = &capq_captures->slots[my_last_slot];
	if (slot->capture_id == my_last_id)
		slot->owner_reads = false;
}

/*
 * End the active capture in slot slotno: the ring stops counting for it at
 * its head, and it becomes reusable, after older ended ones (lock held
 * exclusively; the caller bumps the generation).
 */
static void
end_capture_locked(int slotno)
{
	CapqSlot   *slot = &capq_captures->slots[slotno];
	CapqLedger *ledger = &capq_shared->ledgers[slotno];

	slot->state = CAPQ_SLOT_ENDED;
	slot->end_order = ++capq_captures->end_counter;
	ledger->accepting = false;
	ledger->end_pos = capq_shared->head;
}

/* before_shmem_exit: a backend's captures end with it. */
static void
end_owned_captures(int code, Datum arg)
{
	CapqCaptures *c = capq_captures;
	bool		changed = false;

	if (c == NULL)
		return;
	capq_lock(LW_EXCLUSIVE);
	for (int i = 0; i < c->nslots; i++)
	{
		CapqSlot   *slot = &c->slots[i];

		if (slot->owner_pid != MyProcPid)
			continue;
		slot->owner_reads = false;
		if (slot->state == CAPQ_SLOT_ACTIVE)
		{
			end_capture_locked(i);
			changed = true;
		}
	}
	if (changed)
		bump_generation();
	capq_unlock();
}

/*---- Lifecycle ----*/

/*
 * Which slot capq_begin() takes, lowest first: a free one; the oldest ended
 * capture that no backend reads by default; then the oldest ended one.
 */
static uint64
reuse_rank(const CapqSlot *slot)
{
	if (slot->state == CAPQ_SLOT_FREE)
		return 0;
	if (!slot->owner_reads)
		return slot->end_order;
	return ((uint64) 1 << 62) + slot->end_order;
}

/*
 * A capture belongs to the session user of the backend that began it, and
 * collects that backend's statements.  Code running as another role (a
 * SECURITY DEFINER function or trigger, or after SET ROLE) must not begin,
 * end or step a capture in the caller's backend.
 */
static void
require_session_user(const char *function)
{
	if (GetUserId() != GetSessionUserId())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s cannot be called by a role other than the session user",
						function),
				 errdetail("The current user is not the session user, as inside a SECURITY DEFINER function or after SET ROLE; captures belong to the session user."),
				 errhint("Call %s outside SECURITY DEFINER code, after RESET ROLE.",
						 function)));
}

/* A role checked while looking for a label collision. */
typedef struct LabelOwner
{
	Oid			owner;
	bool		reads_me;		/* the owner may read the new owner's statements */
} LabelOwner;

/*
 * Begin a capture owned by this backend and return its id.  The caller has
 * validated scope and plans.
 *
 * Labels are how other backends join a capture (capquery.session), so an
 * active label is refused to a second capture whose statements could go
 * to the first: when the label's holder may read the new owner's
 * statements.  Roles that cannot read each other's statements share a
 * label without noticing each other (each capture takes only what its
 * owner may read).  The privilege check reads the catalogs, which is not
 * done under the ring lock: an owner met under the lock is checked after
 * releasing it, and the scan is repeated (at most once per distinct owner).
 */
uint64
capq_capture_begin(const char *label, CapqScope scope, CapqPlans plans)
{
	CapqShared *s;
	CapqCaptures *c;
	CapqSlot   *slot = NULL;
	CapqLedger *ledger;
	int			slotno = -1;
	uint64		id;
	Oid			me = GetUserId();
	LabelOwner *owners;
	int			nowners = 0;

	require_session_user("capq_begin()");
	if (scope != CAPQ_SCOPE_BACKEND && !capq_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("capture scope \"%s\" requires capquery to be preloaded",
						capq_scope_name(scope)),
				 errdetail("Without preloading, captures live in this backend's memory and see only its statements."),
				 errhint("Add capquery to shared_preload_libraries and restart the server.")));
	if (scope != CAPQ_SCOPE_BACKEND && !capq_role_reads_all_stats())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to begin a capture with scope \"%s\"",
						capq_scope_name(scope)),
				 errdetail("Only superusers and roles with privileges of pg_read_all_stats may capture other sessions' statements."),
				 errhint("Use scope 'backend', or join the capture from other sessions with capquery.session.")));

	ensure_state();
	s = capq_shared;
	c = capq_captures;
	check_active_still_exists();
	if (my_active_id != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a capture is already active in this session"),
				 errdetail("Capture " UINT64_FORMAT " is active.", my_active_id),
				 errhint("Call capq_end() before beginning another capture.")));

	owners = palloc(c->nslots * sizeof(LabelOwner));
	for (;;)
	{
		Oid			unchecked = InvalidOid;
		CapqSlot   *holder = NULL;

		slot = NULL;
		slotno = -1;
		capq_lock(LW_EXCLUSIVE);
		for (int i = 0; i < c->nslots; i++)
		{
			CapqSlot   *candidate = &c->slots[i];

			if (label != NULL && candidate->state == CAPQ_SLOT_ACTIVE &&
				strcmp(candidate->label, label) == 0)
			{
				bool		checked = candidate->owner_userid == me;
				bool		reads_me = checked;

				for (int j = 0; !checked && j < nowners; j++)
				{
					if (owners[j].owner == candidate->owner_userid)
					{
						checked = true;
						reads_me = owners[j].reads_me;
					}
				}
				/* past nslots distinct owners, assume the worst */
				if (!checked && nowners >= c->nslots)
					reads_me = true;
				else if (!checked)
					unchecked = candidate->owner_userid;
				if (reads_me && holder == NULL)
					holder = candidate;
			}
			if (candidate->state != CAPQ_SLOT_ACTIVE &&
				(slot == NULL || reuse_rank(candidate) < reuse_rank(slot)))
			{
				slot = candidate;
				slotno = i;
			}
		}
		if (holder != NULL)
		{
			uint64		holder_id = holder->capture_id;
			int			holder_pid = holder->owner_pid;

			capq_unlock();
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("an active capture already has the label \"%s\"",
							label),
					 errdetail("Capture " UINT64_FORMAT " of backend %d uses it.",
							   holder_id, holder_pid),
					 errhint("Labels name captures for capquery.session, so active ones must differ.")));
		}
		if (unchecked == InvalidOid)
			break;
		capq_unlock();
		owners[nowners].owner = unchecked;
		owners[nowners].reads_me = capq_role_may_read(unchecked, me);
		nowners++;
	}
	if (slot == NULL)
	{
		capq_unlock();
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many active captures"),
				 errdetail("All %d capture slots hold active captures.",
						   c->nslots),
				 errhint("End captures with capq_end(), or raise capquery.max_captures.")));
	}

	id = c->next_capture_id++;
	memset(slot, 0, sizeof(CapqSlot));
	slot->capture_id = id;
	slot->state = CAPQ_SLOT_ACTIVE;
	slot->scope = scope;
	slot->plans = plans;
	slot->owner_pid = MyProcPid;
	slot->owner_userid = GetUserId();
	slot->dbid = MyDatabaseId;
	if (label != NULL)
		strlcpy(slot->label, label, NAMEDATALEN);
	ledger = &s->ledgers[slotno];
	memset(ledger, 0, sizeof(CapqLedger));
	ledger->capture_id = id;
	ledger->accepting = true;
	ledger->phase = 1;
	ledger->first_pos = s->head;
	bump_generation();
	capq_unlock();

	if (s->lock != NULL && !exit_callback_registered)
	{
		before_shmem_exit(end_owned_captures, (Datum) 0);
		exit_callback_registered = true;
	}
	my_active_id = id;
	my_active_slot = slotno;
	capq_invalidate_targets();
	return id;
}

static void no_active_capture(const char *function) pg_attribute_noreturn();

static void
no_active_capture(const char *function)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s requires an active capture", function),
			 errdetail("This session has no active capture."),
			 errhint("Call capq_begin() first.")));
}

/*
 * Lock the ring exclusively and return this backend's active capture slot;
 * ereport (unlocked) when there is none.
 */
static CapqSlot *
lock_my_active_slot(const char *function)
{
	CapqSlot   *slot;

	if (capq_shared == NULL)
		no_active_capture(function);
	capq_lock(LW_EXCLUSIVE);
	slot = my_active_slot_locked();
	if (slot == NULL)
	{
		capq_unlock();
		my_active_id = 0;
		no_active_capture(function);
	}
	return slot;
}

/* Start the next phase of this backend's active capture; return it. */
int32
capq_capture_phase(const char *name)
{
	int32		phase;
	CapqTarget	target;
	CapqRecordParts parts;

	require_session_user("capq_phase()");
	(void) lock_my_active_slot("capq_phase()");
	phase = ++capq_shared->ledgers[my_active_slot].phase;
	capq_unlock();

	/* a PHASE record carries the name; statements carry the number */
	memset(&parts, 0, sizeof(parts));
	parts.type = CAPQ_REC_PHASE;
	parts.kind = CAPQ_KIND_UTILITY;
	parts.text = name ? name : "";
	parts.text_len = name ? strlen(name) : 0;
	target.capture_id = my_active_id;
	target.slot = my_active_slot;
	target.phase = phase;
	capq_ring_append(&parts, &target, 1);
	return phase;
}

/* End this backend's active capture; return how many statements it holds. */
uint64
capq_capture_end(void)
{
	CapqSlot   *slot;
	uint64		statements;

	require_session_user("capq_end()");
	slot = lock_my_active_slot("capq_end()");
	end_capture_locked(my_active_slot);
	slot->owner_reads = true;
	statements = capq_shared->ledgers[my_active_slot].statements;
	forget_last_capture_locked();
	bump_generation();
	capq_unlock();

	my_last_id = my_active_id;
	my_last_slot = my_active_slot;
	my_active_id = 0;
	return statements;
}

/* Drop every capture and empty the ring.  The caller checked privileges. */
void
capq_capture_reset(void)
{
	CapqShared *s = capq_shared;

	if (s == NULL)
		return;
	capq_lock(LW_EXCLUSIVE);
	memset(capq_captures->slots, 0, capq_captures->nslots * sizeof(CapqSlot));
	capq_ring_clear();
	bump_generation();
	capq_unlock();
	my_active_id = 0;
	my_last_id = 0;
}

/*---- Readers ----*/

/* 42501 unless the current role may read the capture's statements. */
static void
require_may_read_capture(const CapqSlot *slot)
{
	if (!capq_role_may_read(GetUserId(), slot->owner_userid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read capture " UINT64_FORMAT,
						slot->capture_id),
				 errdetail("A capture can be read by its owner's role, by roles with that role's privileges, and by members of pg_read_all_stats.")));
}

/*
 * Copy the slot and ledger of the capture a reader means: the given id, or
 * else this backend's active capture, or else the one it ended last.  The
 * current role must be allowed to read it (42501).
 */
void
capq_capture_resolve(bool have_id, uint64 capture_id, CapqSlot *slot,
					 CapqLedger *ledger)
{
	CapqCaptures *c = capq_captures;
	int			slotno = -1;

	if (!have_id)
	{
		check_active_still_exists();
		if (my_active_id != 0)
		{
			capture_id = my_active_id;
			slotno = my_active_slot;
		}
		else if (my_last_id != 0)
		{
			capture_id = my_last_id;
			slotno = my_last_slot;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("no capture to read"),
					 errdetail("This session has neither an active capture nor one it ended."),
					 errhint("Call capq_begin() first.")));
	}

	if (c != NULL)
	{
		capq_lock(LW_SHARED);
		if (slotno < 0)
		{
			for (int i = 0; i < c->nslots; i++)
			{
				if (c->slots[i].capture_id == capture_id &&
					c->slots[i].state != CAPQ_SLOT_FREE)
				{
					slotno = i;
					break;
				}
			}
		}
		if (slotno >= 0 && c->slots[slotno].capture_id == capture_id &&
			c->slots[slotno].state != CAPQ_SLOT_FREE)
		{
			*slot = c->slots[slotno];
			*ledger = capq_shared->ledgers[slotno];
			capq_unlock();
			require_may_read_capture(slot);
			return;
		}
		capq_unlock();
	}

	if (c != NULL && capture_id > 0 && capture_id < c->next_capture_id)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("capture " UINT64_FORMAT " is no longer retained",
						capture_id),
				 errdetail("Its slot was reused by a newer capture or emptied by capq_reset(); %d captures are kept.",
						   c->nslots),
				 errhint("Read captures before beginning many others, or raise capquery.max_captures.")));
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("capture " UINT64_FORMAT " does not exist", capture_id)));
}

/*
 * Copy the slots and ledgers of every capture still kept into palloc'd
 * arrays, in id order; returns how many.
 */
int
capq_capture_list(CapqSlot **slots, CapqLedger **ledgers)
{
	CapqCaptures *c = capq_captures;
	int			n = 0;

	*slots = NULL;
	*ledgers = NULL;
	if (c == NULL)
		return 0;
	*slots = palloc(c->nslots * sizeof(CapqSlot));
	*ledgers = palloc(c->nslots * sizeof(CapqLedger));
	capq_lock(LW_SHARED);
	for (int i = 0; i < c->nslots; i++)
	{
		if (c->slots[i].state != CAPQ_SLOT_FREE)
		{
			(*slots)[n] = c->slots[i];
			(*ledgers)[n] = capq_shared->ledgers[i];
			n++;
		}
	}
	capq_unlock();

	/* insertion sort by id: at most max_captures entries */
	for (int i = 1; i < n; i++)
	{
		CapqSlot	slot = (*slots)[i];
		CapqLedger	ledger = (*ledgers)[i];
		int			j = i - 1;

		while (j >= 0 && (*slots)[j].capture_id > slot.capture_id)
		{
			(*slots)[j + 1] = (*slots)[j];
			(*ledgers)[j + 1] = (*ledgers)[j];
			j--;
		}
		(*slots)[j + 1] = slot;
		(*ledgers)[j + 1] = ledger;
	}
	return n;
}
