/*-------------------------------------------------------------------------
 *
 * reader.c
 *		Read one capture's statements out of the ring, in order, with
 *		their phase names, plans and error messages attached, one chunk
 *		of backend-local copies at a time.
 *
 * The ring lock is held exclusively only to apply pending finishes, then in
 * shared mode for one chunk of CAPQ_READ_CHUNK_BYTES of ring at a time (see
 * the locking protocol in ring.c), so a long read never stops appends for
 * more than a chunk.  A capture whose statements were overwritten, before
 * or during the read, is refused with 53400 rather than read short; so is
 * one whose phase names were, before the first pass collected them.
 *
 * Two passes over the capture's range of the ring.  Phase names, plans and
 * error messages come in records of their own, after the statements they
 * belong to (a statement of a new phase may even precede the phase's
 * record), so the first pass collects only the phase names and where the
 * plans and errors a reader wants are: a position each, not their text.
 * The second pass copies a chunk of statements at a time, each with its
 * plan and error message read from where the first pass found them (still
 * in the ring: they follow the statement being copied), and hands them out
 * one by one; the next chunk reuses the memory.  So, whatever the size of
 * the capture, a read holds one chunk, the phase names, and 16 bytes per
 * plan or error message its reader wants; the reader keeps what it needs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "capture.h"
#include "reader.h"
#include "settings.h"

/* A phase name seen in the first pass. */
struct CapqPhaseName
{
	int32		phase;
	int			order;			/* of its record: a later name wins */
	char	   *name;
};

/* A PLAN or ERROR record: the statement it names, and where it is. */
struct CapqReadRef
{
	uint64		ref;			/* the statement's position */
	uint64		pos;			/* the record's */
};

/* An array the first pass appends to. */
#define GROW(array, n, max, type) \
	do { \
		if ((n) >= (max)) \
		{ \
			(max) = Max(16, (max) * 2); \
			(array) = (array) ? repalloc_huge((array), (max) * sizeof(type)) \
				: MemoryContextAllocHuge(CurrentMemoryContext, (max) * sizeof(type)); \
		} \
	} while (0)

static int
phase_name_cmp(const void *a, const void *b)
{
	const CapqPhaseName *x = a;
	const CapqPhaseName *y = b;

	if (x->phase != y->phase)
		return x->phase < y->phase ? -1 : 1;
	return x->order - y->order;
}

static int
read_ref_cmp(const void *a, const void *b)
{
	const CapqReadRef *x = a;
	const CapqReadRef *y = b;

	if (x->ref != y->ref)
		return x->ref < y->ref ? -1 : 1;
	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return 0;
}

/* The name of a phase (the last one recorded), or NULL: binary search. */
static const char *
phase_name(const CapqPhaseName *phases, int n, int32 phase)
{
	int			lo = 0,
				hi = n;

	/* first element with a greater phase; the one before it is the last
	 * of this phase, if any */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (phases[mid].phase <= phase)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && phases[lo - 1].phase == phase ? phases[lo - 1].name : NULL;
}

/* Refuse to read a capture that lost statements to the ring wrapping. */
void
capq_check_not_lost(const CapqLedger *ledger)
{
	if (ledger->lost > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("capture " UINT64_FORMAT " lost " UINT64_FORMAT " of its " UINT64_FORMAT " statements",
						ledger->capture_id, ledger->lost, ledger->statements),
				 errdetail("The capture ring overwrote them before they were read (or they belonged to more than %d captures at once); counts and lists would be wrong.",
						   CAPQ_MAX_TARGETS),
				 errhint("Raise capquery.buffer_size (currently %d kB), or capture fewer statements at a time.",
						 capq_buffer_size_kb)));
}

/*
 * Refuse to read the statements of a capture that lost a phase name: they
 * would be listed without it (a snapshot would no longer match), though
 * none of them was lost.
 */
static void
check_names_not_lost(const CapqLedger *ledger)
{
	if (ledger->names_lost > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg_plural("capture " UINT64_FORMAT " lost the name of " UINT64_FORMAT " phase",
							   "capture " UINT64_FORMAT " lost the names of " UINT64_FORMAT " phases",
							   ledger->names_lost,
							   ledger->capture_id, ledger->names_lost),
				 errdetail("The capture ring overwrote the records naming them before the capture was read; its statements would be listed without their phase names."),
				 errhint("Raise capquery.buffer_size (currently %d kB), or capture fewer statements at a time.",
						 capq_buffer_size_kb)));
}

/*
 * The capture again, refused if it lost statements since it was opened
 * (or, while the first pass still collects them, phase names).
 */
static void
recheck_not_lost(CapqReader *rd, bool names)
{
	capq_capture_resolve(true, rd->slot.capture_id, &rd->slot, &rd->ledger);
	capq_check_not_lost(&rd->ledger);
	if (names)
		check_names_not_lost(&rd->ledger);
}

/* Note where a PLAN or ERROR record is, and the statement it names. */
static void
add_ref(CapqReadRef **refs, Size *n, Size *max, const CapqRecord *rec,
		uint64 pos)
{
	GROW(*refs, *n, *max, CapqReadRef);
	(*refs)[*n].ref = rec->ref;
	(*refs)[*n].pos = pos;
	(*n)++;
}

/*
 * The first pass: phase names, the earliest start time, and where the
 * plans and error messages wanted are.  Under the shared lock a chunk at a
 * time; records overwritten meanwhile are caught as in the second pass.
 */
static void
scan_attachments(CapqReader *rd)
{
	uint64		capture_id = rd->slot.capture_id;
	uint64		pos = rd->start;
	CapqRecord *rec = NULL;
	int			maxphases = 0;
	Size		maxplans = 0;
	Size		maxerrors = 0;
	bool		clocked = true;
	TimestampTz first = 0;

	while (pos < rd->end)
	{
		uint64		chunk_end = pos + CAPQ_READ_CHUNK_BYTES;
		bool		skipped;

		capq_lock(LW_SHARED);
		skipped = pos < capq_shared->tail;
		while (pos < chunk_end && (rec = capq_ring_next(&pos, rd->end)) != NULL)
		{
			uint64		rec_pos = pos - rec->len;
			int32		phase;

			if (!capq_record_has_capture(rec, capture_id, &phase))
				continue;
			switch ((CapqRecordType) rec->type)
			{
				case CAPQ_REC_STATEMENT:
					if (rec->flags & CAPQ_FLAG_RETRACTED)
						break;
					if (rec->started_at == 0)
						clocked = false;
					else if (first == 0 || rec->started_at < first)
						first = rec->started_at;
					break;
				case CAPQ_REC_PHASE:
					if (rec->text_len == 0)
						break;
					GROW(rd->phases, rd->nphases, maxphases, CapqPhaseName);
					rd->phases[rd->nphases].phase = phase;
					rd->phases[rd->nphases].order = rd->nphases;
					rd->phases[rd->nphases].name = pstrdup(capq_record_text(rec));
					rd->nphases++;
					break;
				case CAPQ_REC_PLAN:
					if (rd->wants & CAPQ_READ_PLANS)
						add_ref(&rd->plans, &rd->nplans, &maxplans, rec, rec_pos);
					break;
				case CAPQ_REC_ERROR:
					if (rd->wants & CAPQ_READ_ERRORS)
						add_ref(&rd->errors, &rd->nerrors, &maxerrors, rec, rec_pos);
					break;
				case CAPQ_REC_PAD:
					break;
			}
		}
		capq_unlock();
		if (skipped)
			recheck_not_lost(rd, true);
		if (rec == NULL)
			break;				/* reached end (or the head) */
		CHECK_FOR_INTERRUPTS();
		capq_reader_step_aside();
	}
	rd->first_started_at = clocked ? first : 0;

	/* names by phase: a sort and a search per statement, not a loop over
	 * every phase for every statement; plans and errors in the order of
	 * their statements, which the second pass meets in order */
	if (rd->nphases > 1)
		qsort(rd->phases, rd->nphases, sizeof(CapqPhaseName), phase_name_cmp);
	if (rd->nplans > 1)
		qsort(rd->plans, rd->nplans, sizeof(CapqReadRef), read_ref_cmp);
	if (rd->nerrors > 1)
		qsort(rd->errors, rd->nerrors, sizeof(CapqReadRef), read_ref_cmp);
}

/*
 * Open the capture a caller means (see capq_capture_resolve) for reading,
 * with the attachments it wants (CAPQ_READ_*).  Its statements are those in
 * the ring when it is opened: an active capture's later ones are not read.
 */
CapqReader *
capq_read_open(bool have_id, uint64 capture_id, int wants)
{
	CapqReader *rd = palloc0(sizeof(CapqReader));
	MemoryContext outer;

	capq_capture_resolve(have_id, capture_id, &rd->slot, &rd->ledger);
	capq_check_not_lost(&rd->ledger);
	check_names_not_lost(&rd->ledger);
	rd->wants = wants;
	rd->context = AllocSetContextCreate(CurrentMemoryContext, "capquery read",
										ALLOCSET_DEFAULT_SIZES);
	/* a chunk's copies mostly fit in the block kept across resets */
	rd->chunk = AllocSetContextCreate(rd->context, "capquery read chunk",
									  CAPQ_READ_CHUNK_BYTES,
									  CAPQ_READ_CHUNK_BYTES,
									  ALLOCSET_DEFAULT_MAXSIZE);

	/* statements that ended since their backend's last append get their
	 * rows and duration first (bounded work, exclusively) */
	capq_lock(LW_EXCLUSIVE);
	capq_ring_apply_all_finishes();
	rd->end = rd->ledger.end_pos != CAPQ_NO_POS ? rd->ledger.end_pos : capq_shared->head;
	capq_unlock();
	rd->start = Max(rd->ledger.first_pos, CAPQ_FIRST_POS);

	outer = MemoryContextSwitchTo(rd->context);
	scan_attachments(rd);
	MemoryContextSwitchTo(outer);
	capq_read_rewind(rd);
	return rd;
}

/* Read the statements from the start again (same range, same attachments). */
void
capq_read_rewind(CapqReader *rd)
{
	rd->pos = rd->start;
	rd->at_end = false;
	rd->checked = false;
	rd->nread = 0;
	rd->next_plan = 0;
	rd->next_error = 0;
	rd->nentries = 0;
	rd->next_entry = 0;
	MemoryContextReset(rd->chunk);
}

/* Replace each phase name by convert(name, arg), allocated in rd's context. */
void
capq_read_map_phase_names(CapqReader *rd,
						  char *(*convert) (const char *name, void *arg),
						  void *arg)
{
	MemoryContext outer = MemoryContextSwitchTo(rd->context);

	for (int i = 0; i < rd->nphases; i++)
		rd->phases[i].name = convert(rd->phases[i].name, arg);
	MemoryContextSwitchTo(outer);
}

static void
copy_statement(CapqEntry *e, CapqRecord *rec, uint64 pos, int32 phase)
{
	memset(e, 0, sizeof(CapqEntry));
	e->pos = pos;
	e->phase = phase;
	e->pid = rec->pid;
	e->userid = rec->userid;
	e->dbid = rec->dbid;
	e->nesting = rec->nesting;
	e->kind = (CapqKind) rec->kind;
	e->flags = rec->flags;
	e->text_len = rec->text_len;
	e->text = pnstrdup(capq_record_text(rec), rec->text_len);
	e->params_len = rec->params_len;
	e->nparams = rec->nparams;
	if (rec->params_len > 0)
	{
		e->params = palloc(rec->params_len);
		memcpy(e->params, capq_record_params(rec), rec->params_len);
	}
	e->rows = rec->rows;
	e->duration_ms = rec->duration_us / 1000.0;
	e->started_at = rec->started_at;
	if (rec->error_code != 0)
		strlcpy(e->sqlstate, unpack_sql_state(rec->error_code),
				sizeof(e->sqlstate));
	if (rec->error_code != 0 && rec->error_len > 0)
		e->error_message = pnstrdup(capq_record_error(rec), rec->error_len);
	e->nrelations = rec->nrelations;
	if (rec->nrelations > 0)
	{
		e->relations = palloc(rec->nrelations * sizeof(Oid));
		memcpy(e->relations, capq_record_relations(rec),
			   rec->nrelations * sizeof(Oid));
	}
}

/*
 * The record of the first pass's refs[*next..] that names the statement at
 * pos (the last such when last, else the first), or NULL; *next moves past
 * them.  The record follows the statement, which is being copied under the
 * lock: it is still in the ring.
 */
static CapqRecord *
attached_record(const CapqReadRef *refs, Size n, Size *next, uint64 pos,
				bool last)
{
	Size		found = n;

	while (*next < n && refs[*next].ref < pos)
		(*next)++;
	while (*next < n && refs[*next].ref == pos)
	{
		if (found == n || last)
			found = *next;
		(*next)++;
	}
	if (found < n)
	{
		uint64		at = refs[found].pos;

		return capq_ring_next(&at, refs[found].pos + 1);
	}
	return NULL;
}

/* Attach a statement's plan and error message; returns the bytes copied. */
static Size
attach(CapqReader *rd, CapqEntry *e)
{
	Size		copied = 0;
	CapqRecord *rec;

	/* the last plan recorded for it */
	rec = attached_record(rd->plans, rd->nplans, &rd->next_plan, e->pos, true);
	if (rec != NULL && rec->type == CAPQ_REC_PLAN)
	{
		e->plan = pnstrdup(capq_record_text(rec), rec->text_len);
		copied += rec->text_len;
	}

	/* the message of a statement that failed running: the first one (its
	 * SQLSTATE is in its own record, set when it failed) */
	rec = attached_record(rd->errors, rd->nerrors, &rd->next_error, e->pos, false);
	if (rec != NULL && rec->type == CAPQ_REC_ERROR && e->error_message == NULL)
	{
		e->error_message = pnstrdup(capq_record_text(rec), rec->text_len);
		if (rec->flags & CAPQ_FLAG_ERROR_TRUNCATED)
			e->flags |= CAPQ_FLAG_ERROR_TRUNCATED;
		copied += rec->text_len;
	}
	return copied;
}

/*
 * Copy the next chunk of statements (at least one, unless none is left)
 * into the chunk context, which the previous chunk's copies leave.
 */
static void
read_chunk(CapqReader *rd)
{
	uint64		capture_id = rd->slot.capture_id;
	MemoryContext outer;
	CapqRecord *rec = NULL;

	MemoryContextReset(rd->chunk);
	rd->nentries = 0;
	rd->next_entry = 0;
	outer = MemoryContextSwitchTo(rd->chunk);
	while (rd->nentries == 0 && !rd->at_end)
	{
		uint64		chunk_start = rd->pos;
		Size		attached = 0;	/* plans and errors count too */
		bool		skipped;

		capq_lock(LW_SHARED);
		skipped = rd->pos < capq_shared->tail;
		while (rd->pos - chunk_start + attached < CAPQ_READ_CHUNK_BYTES &&
			   (rec = capq_ring_next(&rd->pos, rd->end)) != NULL)
		{
			int32		phase;
			CapqEntry  *e;

			if (rec->type != CAPQ_REC_STATEMENT ||
				(rec->flags & CAPQ_FLAG_RETRACTED) ||
				!capq_record_has_capture(rec, capture_id, &phase))
				continue;
			if (rd->nentries >= rd->maxentries)
			{
				rd->maxentries = Max(64, rd->maxentries * 2);
				rd->entries = rd->entries ?
					repalloc(rd->entries, rd->maxentries * sizeof(CapqEntry)) :
					MemoryContextAlloc(rd->context, rd->maxentries * sizeof(CapqEntry));
			}
			e = &rd->entries[rd->nentries++];
			copy_statement(e, rec, rd->pos - rec->len, phase);
			attached += attach(rd, e);
		}
		capq_unlock();
		if (rec == NULL)
			rd->at_end = true;	/* reached end (or the head) */
		/* records were overwritten while the lock was free: any of ours? */
		if (skipped)
			recheck_not_lost(rd, false);
		if (!rd->at_end)
		{
			CHECK_FOR_INTERRUPTS();
			capq_reader_step_aside();
		}
	}

	for (int i = 0; i < rd->nentries; i++)
	{
		CapqEntry  *e = &rd->entries[i];

		e->seq = rd->nread + i + 1;
		e->phase_name = rd->nphases > 0 ?
			phase_name(rd->phases, rd->nphases, e->phase) : NULL;
		if (rd->convert)
			rd->convert(rd, e);
	}
	MemoryContextSwitchTo(outer);
}

/*
 * The next statement of the capture, or NULL after the last one.  It lives
 * until the next call reads another chunk.  At the end the capture is
 * checked again: one that lost statements while it was read is refused.
 */
CapqEntry *
capq_read_next(CapqReader *rd)
{
	if (rd->next_entry >= rd->nentries)
	{
		if (!rd->at_end)
			read_chunk(rd);
		if (rd->next_entry >= rd->nentries)
		{
			/* the copy may have raced with the ring wrapping */
			if (!rd->checked)
			{
				rd->checked = true;
				recheck_not_lost(rd, false);
			}
			return NULL;
		}
	}
	rd->nread++;
	return &rd->entries[rd->next_entry++];
}

/* Free what the read holds; rd->slot stays readable. */
void
capq_read_close(CapqReader *rd)
{
	MemoryContextDelete(rd->context);
	rd->context = rd->chunk = NULL;
	rd->entries = NULL;
	rd->nentries = rd->next_entry = 0;
	rd->at_end = rd->checked = true;	/* capq_read_next returns NULL */
}
