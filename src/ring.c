/*-------------------------------------------------------------------------
 *
 * ring.c
 *		The capture ring: append, finish, retract, iterate, and the
 *		accounting of records that a wrapping ring overwrites.
 *
 * Layout.  The ring is a byte buffer of ring_size bytes holding
 * variable-length, MAXALIGN'd records (CapqRecord).  Positions are absolute
 * byte offsets that only grow (uint64: they do not wrap in the life of a
 * server); a record at position p sits at data[p % ring_size].  A record
 * never straddles the physical end: when it would, a PAD record fills the
 * rest and the record starts at offset 0.  [tail, head) holds the records
 * still stored; a position below tail is gone.
 *
 * Locking protocol.  One LWLock (capq_shared->lock) protects the ring
 * (head, tail, the bytes), its ledger of each capture and the capture
 * slots (capture.c).
 *	- Appending, retracting, evicting, and any change to a ledger or a slot
 *	  take it exclusively.  A record is written completely under the lock, so
 *	  readers never see half a record, and two backends' records never
 *	  interleave: each append is one contiguous reservation.
 *	- A statement's end (rows, duration) takes no lock: the backend publishes
 *	  it in its own finish queue (ring.h), and the next exclusive holder --
 *	  that backend's next append, or a reader of statements -- applies
 *	  queued finishes to records still in the ring.  So a captured statement
 *	  costs one lock acquisition, not two.
 *	- Readers of statements (reader.c) take the lock exclusively only to
 *	  apply pending finishes (at most CAPQ_PENDING_FINISHES per backend),
 *	  then copy a capture's records under the lock in shared mode, in
 *	  chunks of bounded size, releasing it between chunks: a writer waits
 *	  for at most one chunk, however large the capture or the ring.  A
 *	  record overwritten between two chunks is charged to its captures'
 *	  "lost" as always, so the reader's final check sees it.  LWLocks let
 *	  a shared locker in ahead of a waiting exclusive one, so appenders
 *	  count themselves in appenders_waiting while they wait, and a reader
 *	  steps aside between chunks while any does (a few short sleeps at
 *	  most).  Readers of slots alone (capture.c) take the lock shared.
 *	- generation is an atomic that writers bump (under the lock) whenever the
 *	  set of active captures changes, so the hooks can tell without the lock
 *	  that nothing changed.
 * No ereport() is raised while the lock is held, but for out of memory in
 * a reader's copy (the error's cleanup releases the lock); the error path
 * (failures.c) appends without raising anything, and never while this
 * backend holds the lock already (an error raised inside a locked section
 * is not recorded).  No loop under
 * the lock depends on input: eviction stops at an empty ring, finishes are
 * bounded per queue, a reader's chunk by CAPQ_READ_CHUNK_BYTES.  In a backend that did not
 * preload capquery the state is backend-local and lock is NULL.
 *
 * Failed statements.  A statement that fails before it runs (parse,
 * analysis, planning, an aborted transaction) is appended once, as a
 * STATEMENT record that carries its SQLSTATE and message after its
 * parameters.  A statement that fails while running already has its record:
 * capq_ring_fail sets error_code and CAPQ_FLAG_FAILED in that record in
 * place (under the lock, as a retraction does) and appends an ERROR record
 * whose ref names it and whose text is the message, since a record cannot
 * grow; reader.c attaches it as it attaches a PLAN record.  Either way the
 * statement counts once in its captures' "failed".
 *
 * Lost accounting.  When an append needs room, the oldest records are
 * evicted; each counted statement evicted adds one to "lost" of every
 * capture it belonged to, and each phase name evicted one to its capture's
 * "names_lost" (a phase's statements can outlive its PHASE record).
 * Readers refuse (53400) to read a capture with lost > 0 instead of
 * returning a short list, as pg_tracing counts what its buffer drops, and
 * readers of statements refuse one with names_lost > 0 rather than list
 * statements without their phase's name.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/timestamp.h"

#include "ring.h"

CapqShared *capq_shared = NULL;

/* Bytes needed for the ring's state: ledgers, finish queues and bytes. */
Size
capq_shared_size(int nslots, int nqueues, Size ring_bytes)
{
	Size		size = MAXALIGN(sizeof(CapqShared));

	size = add_size(size, MAXALIGN(mul_size(nslots, sizeof(CapqLedger))));
	size = add_size(size, MAXALIGN(mul_size(nqueues, sizeof(CapqFinishQueue))));
	size = add_size(size, MAXALIGN(ring_bytes));
	return size;
}

/* Lay out the state in mem (capq_shared_size bytes) and make it empty. */
void
capq_shared_init(CapqShared *s, void *mem, int nslots, int nqueues,
				 Size ring_bytes, LWLock *lock)
{
	char	   *p = (char *) mem + MAXALIGN(sizeof(CapqShared));

	s->lock = lock;
	pg_atomic_init_u64(&s->generation, 1);
	pg_atomic_init_u32(&s->appenders_waiting, 0);
	s->nslots = nslots;
	s->ledgers = (CapqLedger *) p;
	memset(s->ledgers, 0, nslots * sizeof(CapqLedger));
	p += MAXALIGN(nslots * sizeof(CapqLedger));
	s->nqueues = nqueues;
	s->queues = (CapqFinishQueue *) p;
	for (int i = 0; i < nqueues; i++)
	{
		pg_atomic_init_u64(&s->queues[i].written, 0);
		pg_atomic_init_u64(&s->queues[i].applied, 0);
	}
	p += MAXALIGN(nqueues * sizeof(CapqFinishQueue));
	s->ring_size = ring_bytes & ~((uint64) MAXIMUM_ALIGNOF - 1);
	s->data = p;
	s->head = CAPQ_FIRST_POS;
	s->tail = CAPQ_FIRST_POS;
}

static inline CapqRecord *
record_at(uint64 pos)
{
	return (CapqRecord *) (capq_shared->data + pos % capq_shared->ring_size);
}

/*
 * Bytes of a record with ntargets targets, laid out as ring.h says: header,
 * relation OIDs, text and its terminator, parameters, then error_bytes (a
 * failed statement's message and its terminator, or 0).
 */
static inline Size
record_size(int ntargets, int nrelations, uint32 text_len, uint32 params_len,
			Size error_bytes)
{
	return MAXALIGN(CAPQ_RECORD_HEADER_SIZE(ntargets) +
					(Size) nrelations * sizeof(Oid) +
					(Size) text_len + 1 + (Size) params_len + error_bytes);
}

/*
 * Forget the oldest record, charging its captures if it was counted, or if
 * it named a phase: the statements of that phase may all still be in the
 * ring, and would be read without their phase's name.
 */
static void
evict_oldest(void)
{
	CapqShared *s = capq_shared;
	CapqRecord *rec = record_at(s->tail);

	if (rec->type == CAPQ_REC_STATEMENT &&
		(rec->flags & CAPQ_FLAG_RETRACTED) == 0)
	{
		for (int i = 0; i < rec->ntargets; i++)
		{
			CapqLedger *ledger = &s->ledgers[rec->targets[i].slot];

			if (ledger->capture_id == rec->targets[i].capture_id)
				ledger->lost++;
		}
	}
	else if (rec->type == CAPQ_REC_PHASE && rec->text_len > 0)
	{
		for (int i = 0; i < rec->ntargets; i++)
		{
			CapqLedger *ledger = &s->ledgers[rec->targets[i].slot];

			if (ledger->capture_id == rec->targets[i].capture_id)
				ledger->names_lost++;
		}
	}
	s->tail += rec->len;
}

/*
 * Make room for len bytes at head, padding to the physical start when the
 * record would straddle the end.  Returns the record's position.  len is
 * at most capq_ring_max_record(), half the ring, so padding plus the record
 * always fit once enough is evicted: the loop ends at an empty ring at the
 * latest (the tail < head test only guards that bound).
 */
static uint64
reserve(uint32 len)
{
	CapqShared *s = capq_shared;
	uint64		phys = s->head % s->ring_size;
	uint64		pad = (phys + len > s->ring_size) ? s->ring_size - phys : 0;

	Assert(len <= capq_ring_max_record());
	while (s->head + pad + len - s->tail > s->ring_size && s->tail < s->head)
		evict_oldest();

	if (pad > 0)
	{
		CapqRecord *filler = record_at(s->head);

		filler->len = (uint32) pad;
		filler->type = CAPQ_REC_PAD;
		s->head += pad;
	}
	return s->head;
}

/* This backend's finish queue. */
static inline CapqFinishQueue *
my_finish_queue(void)
{
	CapqShared *s = capq_shared;

	if (s->lock == NULL || MyProc == NULL)
		return &s->queues[0];
	Assert(MyProc->pgprocno < s->nqueues);
	return &s->queues[MyProc->pgprocno];
}

/* Apply a queue's published finishes (lock held exclusively). */
static void
apply_finishes(CapqFinishQueue *q)
{
	CapqShared *s = capq_shared;
	uint64		applied = pg_atomic_read_u64(&q->applied);
	uint64		written = pg_atomic_read_u64(&q->written);

	if (applied == written)
		return;
	pg_read_barrier();			/* entries were written before "written" */
	for (; applied < written; applied++)
	{
		CapqFinish *f = &q->finishes[applied % CAPQ_PENDING_FINISHES];

		if (f->pos >= s->tail)
		{
			CapqRecord *rec = record_at(f->pos);

			rec->rows = f->rows;
			rec->duration_us = f->duration_us;
			rec->flags |= CAPQ_FLAG_DONE;
		}
	}
	/* the entries were read before the producer may reuse their places */
	pg_memory_barrier();
	pg_atomic_write_u64(&q->applied, written);
}

/* The ledger of the target's capture if it is still active (lock held). */
static inline CapqLedger *
accepting_ledger(const CapqTarget *target)
{
	CapqLedger *ledger = &capq_shared->ledgers[target->slot];

	if (ledger->capture_id != target->capture_id || !ledger->accepting)
		return NULL;
	return ledger;
}

/*
 * Append one record for the targets whose capture is still active, and
 * return its position; CAPQ_NO_POS when none is.  A statement counts in
 * every such capture; past CAPQ_MAX_TARGETS of them it is counted as lost
 * in the rest, so that no capture reads short without knowing.
 *
 * A record larger than capq_ring_max_record() is refused before anything
 * is evicted: callers bound text and params (capq_ring_max_payload) so that
 * a statement always fits, and names are bounded where they are given, so
 * this only guards against a caller's mistake -- a refused statement still
 * counts, as lost, in its captures.
 */
uint64
capq_ring_append(const CapqRecordParts *parts, const CapqTarget *targets,
				 int ntargets)
{
	CapqShared *s = capq_shared;
	bool		statement = parts->type == CAPQ_REC_STATEMENT;
	int			live = 0;
	int			n = 0;
	Size		len;
	bool		fits;
	uint64		pos;
	CapqRecord *rec;
	char	   *p;

	TimestampTz now = GetCurrentTimestamp();	/* not under the lock */
	Size		error_bytes = parts->error_code != 0 ? (Size) parts->error_len + 1 : 0;

	/* the largest size this record can take: every target kept */
	len = record_size(Min(ntargets, CAPQ_MAX_TARGETS), parts->nrelations,
					  parts->text_len, parts->params_len, error_bytes);
	fits = len <= capq_ring_max_record();

	capq_lock_to_append();
	apply_finishes(my_finish_queue());

	for (int i = 0; i < ntargets; i++)
	{
		CapqLedger *ledger = accepting_ledger(&targets[i]);

		if (ledger == NULL)
			continue;
		if (statement)
		{
			ledger->statements++;
			ledger->kind_counts[parts->kind]++;
			if (parts->error_code != 0)
				ledger->failed++;
		}
		if (live < CAPQ_MAX_TARGETS && fits)
			live++;
		else if (statement)
			ledger->lost++;
	}
	if (live == 0)
	{
		capq_unlock();
		return CAPQ_NO_POS;
	}

	len = record_size(live, parts->nrelations, parts->text_len,
					  parts->params_len, error_bytes);
	pos = reserve((uint32) len);
	rec = record_at(pos);

	rec->len = (uint32) len;
	rec->type = (uint8) parts->type;
	rec->kind = (uint8) parts->kind;
	rec->flags = parts->flags;
	if (parts->error_code != 0 && statement)
		rec->flags |= CAPQ_FLAG_FAILED;
	rec->ntargets = (uint8) live;
	rec->pid = MyProcPid;
	rec->userid = GetUserId();
	rec->dbid = MyDatabaseId;
	rec->nesting = parts->nesting;
	rec->text_len = parts->text_len;
	rec->params_len = parts->params_len;
	rec->nrelations = (uint16) parts->nrelations;
	rec->nparams = parts->nparams;
	rec->rows = 0;
	rec->duration_us = 0;
	rec->ref = parts->ref;
	rec->started_at = now;
	rec->error_code = parts->error_code;
	rec->error_len = error_bytes > 0 ? parts->error_len : 0;
	for (int i = 0; i < ntargets && n < live; i++)
	{
		CapqLedger *ledger = accepting_ledger(&targets[i]);

		if (ledger == NULL)
			continue;
		rec->targets[n] = targets[i];
		rec->targets[n].phase = ledger->phase;
		n++;
	}

	p = (char *) capq_record_relations(rec);
	if (parts->nrelations > 0)
		memcpy(p, parts->relations, parts->nrelations * sizeof(Oid));
	p = capq_record_text(rec);
	if (parts->text_len > 0)
		memcpy(p, parts->text, parts->text_len);
	p[parts->text_len] = '\0';
	if (parts->params_len > 0)
		memcpy(capq_record_params(rec), parts->params, parts->params_len);
	if (error_bytes > 0)
	{
		p = capq_record_error(rec);
		if (parts->error_len > 0)
			memcpy(p, parts->error, parts->error_len);
		p[parts->error_len] = '\0';
	}

	s->head = pos + len;
	capq_unlock();

	return pos;
}

/*
 * Between two chunks of a read (lock not held): while appenders wait for the
 * lock, give them the turn -- a short sleep, at most CAPQ_STEP_ASIDE_MAX
 * times a chunk, so a reader is slowed by writers but never stopped.
 */
#define CAPQ_STEP_ASIDE_MAX		10

void
capq_reader_step_aside(void)
{
	for (int i = 0; i < CAPQ_STEP_ASIDE_MAX &&
		 pg_atomic_read_u32(&capq_shared->appenders_waiting) > 0; i++)
		pg_usleep(10L);
}

/* Apply every backend's published finishes (lock held exclusively). */
void
capq_ring_apply_all_finishes(void)
{
	for (int i = 0; i < capq_shared->nqueues; i++)
		apply_finishes(&capq_shared->queues[i]);
}

/*
 * A statement ended: publish its rows and duration, without the lock.  Only
 * when the queue is full (many statements ended since this backend's last
 * append) does it take the lock to apply them first.
 */
void
capq_ring_finish(uint64 pos, uint64 rows, int64 duration_us)
{
	CapqFinishQueue *q = my_finish_queue();
	uint64		written = pg_atomic_read_u64(&q->written);
	CapqFinish *f;

	if (written - pg_atomic_read_u64(&q->applied) >= CAPQ_PENDING_FINISHES)
	{
		capq_lock_to_append();
		apply_finishes(q);
		capq_unlock();
	}
	/* "applied" was read before the entry it frees is overwritten */
	pg_memory_barrier();
	f = &q->finishes[written % CAPQ_PENDING_FINISHES];
	f->pos = pos;
	f->rows = rows;
	f->duration_us = duration_us;
	pg_write_barrier();			/* the entry before the count */
	pg_atomic_write_u64(&q->written, written + 1);
}

/*
 * The statement at pos failed while running: mark its record failed (once;
 * a later error for the same record is ignored) and append an ERROR record
 * with the message, for the same captures.  message_len is bounded by the
 * caller (capq_ring_max_payload).  Returns false when the statement is no
 * longer in the ring, was retracted, or had failed already.  Called on the
 * error path: it raises nothing.
 */
bool
capq_ring_fail(uint64 pos, int32 error_code, const char *message,
			   uint32 message_len, uint8 flags)
{
	CapqShared *s = capq_shared;
	TimestampTz now = GetCurrentTimestamp();
	CapqTarget	targets[CAPQ_MAX_TARGETS];
	int			ntargets = 0;
	CapqRecord *rec;
	Size		len;
	uint64		err_pos;
	char	   *p;

	len = record_size(CAPQ_MAX_TARGETS, 0, message_len, 0, 0);
	if (len > capq_ring_max_record())
		return false;

	capq_lock_to_append();
	rec = pos >= s->tail ? record_at(pos) : NULL;
	if (rec == NULL || rec->type != CAPQ_REC_STATEMENT ||
		(rec->flags & (CAPQ_FLAG_RETRACTED | CAPQ_FLAG_FAILED)) != 0)
	{
		capq_unlock();
		return false;
	}
	rec->flags |= CAPQ_FLAG_FAILED;
	rec->error_code = error_code;
	for (int i = 0; i < rec->ntargets; i++)
	{
		CapqLedger *ledger = accepting_ledger(&rec->targets[i]);

		targets[ntargets++] = rec->targets[i];
		if (ledger != NULL)
			ledger->failed++;
	}

	/* the statement's record may be evicted here: its targets are copied */
	len = record_size(ntargets, 0, message_len, 0, 0);
	err_pos = reserve((uint32) len);
	rec = record_at(err_pos);
	memset(rec, 0, CAPQ_RECORD_HEADER_SIZE(0));
	rec->len = (uint32) len;
	rec->type = CAPQ_REC_ERROR;
	rec->flags = flags;
	rec->ntargets = (uint8) ntargets;
	rec->pid = MyProcPid;
	rec->userid = GetUserId();
	rec->dbid = MyDatabaseId;
	rec->ref = pos;
	rec->started_at = now;
	rec->error_code = error_code;
	rec->text_len = message_len;
	memcpy(rec->targets, targets, ntargets * sizeof(CapqTarget));
	p = capq_record_text(rec);
	if (message_len > 0)
		memcpy(p, message, message_len);
	p[message_len] = '\0';
	s->head = err_pos + len;
	capq_unlock();
	return true;
}

/*
 * Mark a statement as one that called capq_* functions: it stays in the
 * ring (positions do not move) but is no longer counted or listed.
 *
 * If the ring already evicted it, its captures counted it and charged it as
 * lost; both are taken back for the captures that took it -- those among
 * targets (the backend's captures, which are the ones it was appended for,
 * unless they began after it or ended before it).  So a capq_end() on a busy
 * ring does not count itself.
 */
void
capq_ring_retract(uint64 pos, CapqKind kind, const CapqTarget *targets,
				  int ntargets)
{
	CapqShared *s = capq_shared;

	capq_lock(LW_EXCLUSIVE);
	if (pos >= s->tail)
	{
		CapqRecord *rec = record_at(pos);

		if ((rec->flags & CAPQ_FLAG_RETRACTED) == 0)
		{
			rec->flags |= CAPQ_FLAG_RETRACTED;
			for (int i = 0; i < rec->ntargets; i++)
			{
				CapqLedger *ledger = &s->ledgers[rec->targets[i].slot];

				if (ledger->capture_id != rec->targets[i].capture_id)
					continue;
				ledger->statements--;
				ledger->kind_counts[rec->kind]--;
				if (rec->flags & CAPQ_FLAG_FAILED)
					ledger->failed--;
			}
		}
	}
	else
	{
		for (int i = 0; i < ntargets; i++)
		{
			CapqLedger *ledger = &s->ledgers[targets[i].slot];

			if (ledger->capture_id != targets[i].capture_id ||
				ledger->first_pos > pos ||
				(ledger->end_pos != CAPQ_NO_POS && ledger->end_pos <= pos) ||
				ledger->statements == 0 || ledger->lost == 0)
				continue;
			ledger->statements--;
			ledger->kind_counts[kind]--;
			ledger->lost--;
		}
	}
	capq_unlock();
}

/*
 * Empty the ring and forget every capture's ledger (capq_reset, lock held
 * exclusively); positions keep growing so stale ones stay invalid.
 */
void
capq_ring_clear(void)
{
	memset(capq_shared->ledgers, 0, capq_shared->nslots * sizeof(CapqLedger));
	capq_shared->tail = capq_shared->head;
}

/*
 * Return the record at *pos (skipping padding) and advance *pos past it;
 * NULL at end (or head, if sooner).  The caller holds the lock; a *pos
 * below tail (overwritten meanwhile) moves up to tail.
 */
CapqRecord *
capq_ring_next(uint64 *pos, uint64 end)
{
	CapqShared *s = capq_shared;

	if (*pos < s->tail)
		*pos = s->tail;
	end = Min(end, s->head);
	while (*pos < end)
	{
		CapqRecord *rec = record_at(*pos);

		*pos += rec->len;
		if (rec->type != CAPQ_REC_PAD)
			return rec;
	}
	return NULL;
}

/* Does rec belong to the capture?  Sets *phase to its phase there. */
bool
capq_record_has_capture(const CapqRecord *rec, uint64 capture_id,
						int32 *phase)
{
	for (int i = 0; i < rec->ntargets; i++)
	{
		if (rec->targets[i].capture_id == capture_id)
		{
			if (phase)
				*phase = rec->targets[i].phase;
			return true;
		}
	}
	return false;
}
