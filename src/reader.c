/*-------------------------------------------------------------------------
 *
 * reader.c
 *		Copy one capture's records out of the ring: statements in order,
 *		with their phase names and plans attached.
 *
 * The ring lock is held exclusively only to apply pending finishes, then in
 * shared mode for one chunk of CAPQ_READ_CHUNK_BYTES of ring at a time (see
 * the locking protocol in ring.c), so a long read never stops appends for
 * more than a chunk.  Everything a caller renders afterwards works on the
 * copy.  A capture whose statements were overwritten, before or during the
 * copy, is refused with 53400 rather than read short.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "capture.h"
#include "reader.h"
#include "settings.h"

/* A phase name seen while scanning. */
typedef struct PhaseName
{
	int32		phase;
	int			order;			/* of its record: a later name wins */
	char	   *name;
} PhaseName;

static int
phase_name_cmp(const void *a, const void *b)
{
	const PhaseName *x = a;
	const PhaseName *y = b;

	if (x->phase != y->phase)
		return x->phase < y->phase ? -1 : 1;
	return x->order - y->order;
}

/* The name of a phase (the last one recorded), or NULL: binary search. */
static const char *
phase_name(const PhaseName *phases, int n, int32 phase)
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

/* Binary search of entries (sorted by pos) for the statement at pos. */
static CapqEntry *
find_entry(CapqEntry *entries, Size n, uint64 pos)
{
	Size		lo = 0,
				hi = n;

	while (lo < hi)
	{
		Size		mid = lo + (hi - lo) / 2;

		if (entries[mid].pos == pos)
			return &entries[mid];
		if (entries[mid].pos < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Read the capture a caller means (see capq_capture_resolve) with all its
 * counted statements.
 */
CapqCapture *
capq_read_capture(bool have_id, uint64 capture_id)
{
	CapqCapture *cap = palloc0(sizeof(CapqCapture));
	CapqShared *s;
	PhaseName  *phases = NULL;
	int			nphases = 0,
				maxphases = 0;
	Size		maxentries;
	uint64		pos;
	uint64		end;
	CapqRecord *rec = NULL;

	capq_capture_resolve(have_id, capture_id, &cap->slot, &cap->ledger);
	capq_check_not_lost(&cap->ledger);
	s = capq_shared;
	capture_id = cap->slot.capture_id;

	/* huge: a capture of millions of statements passes 1 GB of entries */
	maxentries = Max(16, Min(cap->ledger.statements + 16, (uint64) 1 << 20));
	cap->entries = MemoryContextAllocHuge(CurrentMemoryContext,
										  maxentries * sizeof(CapqEntry));

	/* statements that ended since their backend's last append get their
	 * rows and duration first (bounded work, exclusively) */
	capq_lock(LW_EXCLUSIVE);
	capq_ring_apply_all_finishes();
	end = cap->ledger.end_pos != CAPQ_NO_POS ? cap->ledger.end_pos : s->head;
	capq_unlock();

	pos = Max(cap->ledger.first_pos, CAPQ_FIRST_POS);
	while (pos < end)
	{
		uint64		chunk_end = pos + CAPQ_READ_CHUNK_BYTES;

		capq_lock(LW_SHARED);
		while (pos < chunk_end && (rec = capq_ring_next(&pos, end)) != NULL)
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
					if (cap->nentries >= maxentries)
					{
						maxentries *= 2;
						cap->entries = repalloc_huge(cap->entries,
													 maxentries * sizeof(CapqEntry));
					}
					copy_statement(&cap->entries[cap->nentries++], rec,
								   rec_pos, phase);
					break;
				case CAPQ_REC_PHASE:
					if (rec->text_len == 0)
						break;
					if (nphases >= maxphases)
					{
						maxphases = Max(8, maxphases * 2);
						phases = phases ? repalloc(phases, maxphases * sizeof(PhaseName))
							: palloc(maxphases * sizeof(PhaseName));
					}
					phases[nphases].phase = phase;
					phases[nphases].order = nphases;
					phases[nphases].name = pstrdup(capq_record_text(rec));
					nphases++;
					break;
				case CAPQ_REC_PLAN:
					{
						CapqEntry  *e = find_entry(cap->entries, cap->nentries,
												   rec->ref);

						if (e != NULL)
							e->plan = pnstrdup(capq_record_text(rec), rec->text_len);
					}
					break;
				case CAPQ_REC_ERROR:
					{
						/* the message of a statement that failed running */
						CapqEntry  *e = find_entry(cap->entries, cap->nentries,
												   rec->ref);

						if (e != NULL && e->error_message == NULL)
						{
							strlcpy(e->sqlstate, unpack_sql_state(rec->error_code),
									sizeof(e->sqlstate));
							e->error_message = pnstrdup(capq_record_text(rec),
														rec->text_len);
							if (rec->flags & CAPQ_FLAG_ERROR_TRUNCATED)
								e->flags |= CAPQ_FLAG_ERROR_TRUNCATED;
						}
					}
					break;
				case CAPQ_REC_PAD:
					break;
			}
		}
		capq_unlock();
		if (rec == NULL)
			break;				/* reached end (or the head) */
		CHECK_FOR_INTERRUPTS();
		capq_reader_step_aside();
	}

	/* the copy may have raced with the ring wrapping: check again */
	capq_capture_resolve(true, capture_id, &cap->slot, &cap->ledger);
	capq_check_not_lost(&cap->ledger);

	/* names by phase: a sort and a search per statement, not a loop over
	 * every phase for every statement */
	if (nphases > 1)
		qsort(phases, nphases, sizeof(PhaseName), phase_name_cmp);
	for (Size i = 0; i < cap->nentries; i++)
	{
		CapqEntry  *e = &cap->entries[i];

		e->seq = i + 1;
		e->phase_name = nphases > 0 ? phase_name(phases, nphases, e->phase) : NULL;
	}
	return cap;
}
