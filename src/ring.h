/*-------------------------------------------------------------------------
 *
 * ring.h
 *		The capture ring: one buffer of variable-length records that every
 *		capturing backend appends to, and its ledger of each capture.
 *
 * The layout, the locking protocol and the accounting of overwritten
 * records are described at the top of ring.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQ_RING_H
#define CAPQ_RING_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "capq_types.h"

/* a ring position: absolute byte offset, never reused; 0 means "none" */
#define CAPQ_NO_POS		((uint64) 0)
/* records start past this offset so that no record sits at position 0 */
#define CAPQ_FIRST_POS	((uint64) MAXIMUM_ALIGNOF)

#define CAPQ_MAX_TARGETS	16	/* captures one record names; a statement
									 * that more captures want counts as lost
									 * in the others */
#define CAPQ_MAX_RELATIONS	32	/* relation OIDs kept per statement */

typedef enum CapqRecordType
{
	CAPQ_REC_PAD = 0,			/* filler up to the physical end of the ring */
	CAPQ_REC_STATEMENT,			/* one captured statement */
	CAPQ_REC_PHASE,				/* capq_phase(): number and name */
	CAPQ_REC_PLAN,				/* plan text of the statement at "ref" */
	CAPQ_REC_ERROR				/* error message of the statement at "ref",
								 * which failed while running */
} CapqRecordType;

/* record flags */
#define CAPQ_FLAG_RETRACTED			0x01	/* it called capq_*: not counted */
#define CAPQ_FLAG_DONE				0x02	/* rows and duration are final */
#define CAPQ_FLAG_QUERY_TRUNCATED	0x04	/* text cut at max_query_length */
#define CAPQ_FLAG_PARAMS_TRUNCATED	0x08	/* params cut at max_params_length */
#define CAPQ_FLAG_FAILED			0x10	/* STATEMENT: error_code is set */
#define CAPQ_FLAG_ERROR_TRUNCATED	0x20	/* message cut at max_query_length */

/* One capture a record belongs to. */
typedef struct CapqTarget
{
	uint64		capture_id;		/* the capture's id */
	int32		slot;			/* its slot number: index of the ring's
								 * ledgers and of capture.c's slots */
	int32		phase;			/* the capture's phase when appended */
} CapqTarget;

/*
 * A ring record.  Statements are appended when they start, so the ring is
 * in execution order; rows, duration and the DONE flag are filled in when
 * they end (capq_ring_finish).
 */
typedef struct CapqRecord
{
	uint32		len;			/* whole record, MAXALIGN'd: MUST BE FIRST */
	uint8		type;			/* CapqRecordType */
	uint8		kind;			/* CapqKind */
	uint8		flags;			/* CAPQ_FLAG_* */
	uint8		ntargets;		/* entries in targets[] */
	int32		pid;			/* backend that ran the statement */
	Oid			userid;			/* role that ran it */
	Oid			dbid;			/* database it ran in */
	int32		nesting;		/* 0 for top level */
	uint32		text_len;		/* bytes of text, without its terminator */
	uint32		params_len;		/* bytes of the parameter blob */
	uint16		nrelations;		/* entries of the relation OID array */
	uint32		nparams;		/* parameters in the blob */
	uint64		rows;			/* rows processed, when DONE */
	int64		duration_us;	/* start to end, when DONE */
	uint64		ref;			/* PLAN, ERROR: position of its statement */
	TimestampTz started_at;		/* clock when appended */
	int32		error_code;		/* packed SQLSTATE (MAKE_SQLSTATE), 0 if none */
	uint32		error_len;		/* bytes of the error message, without its
								 * terminator; 0 when none */
	CapqTarget	targets[FLEXIBLE_ARRAY_MEMBER];	/* MUST BE LAST */

	/*
	 * Then: Oid relations[nrelations]; char text[text_len + 1];
	 * char params[params_len] (see capq_params_* in render.c);
	 * char error[error_len + 1] (a STATEMENT that failed before it ran).
	 * An ERROR record keeps its message in text[].
	 */
} CapqRecord;

#define CAPQ_RECORD_HEADER_SIZE(ntargets) \
	(offsetof(CapqRecord, targets) + (ntargets) * sizeof(CapqTarget))

static inline Oid *
capq_record_relations(CapqRecord *rec)
{
	return (Oid *) ((char *) rec + CAPQ_RECORD_HEADER_SIZE(rec->ntargets));
}

static inline char *
capq_record_text(CapqRecord *rec)
{
	return (char *) (capq_record_relations(rec) + rec->nrelations);
}

static inline char *
capq_record_params(CapqRecord *rec)
{
	return capq_record_text(rec) + rec->text_len + 1;
}

static inline char *
capq_record_error(CapqRecord *rec)
{
	return capq_record_params(rec) + rec->params_len;
}

/*
 * The ring's account of one capture, by slot number: whether appends still
 * count in it, the phase they are stamped with, the span of ring it covers
 * and what it counted.  The capture layer keeps the rest of a capture (its
 * owner, scope, label: capture.h) in the slot of the same number.  Both are
 * protected by the ring lock.
 */
typedef struct CapqLedger
{
	uint64		capture_id;		/* 0 when the slot is free */
	bool		accepting;		/* active: appends count in it */
	int32		phase;			/* current phase, from 1 */
	uint64		first_pos;		/* ring head when it began */
	uint64		end_pos;		/* ring head when it ended; 0 while active */
	uint64		statements;		/* counted statements, all kinds */
	uint64		kind_counts[CAPQ_NUM_KINDS];	/* per kind */
	uint64		failed;			/* counted statements that failed */
	uint64		lost;			/* counted statements overwritten */
	uint64		names_lost;		/* phase names overwritten (PHASE records) */
} CapqLedger;

/*
 * What a statement's end adds to its record.  A backend publishes these in
 * its own queue without the lock; whoever next holds the lock exclusively
 * (the backend's next append, or a reader) applies them to the records.
 * Single producer (the backend), single consumer (the lock holder).
 */
#define CAPQ_PENDING_FINISHES	16

/* ring bytes a reader copies per hold of the lock (reader.c) */
#define CAPQ_READ_CHUNK_BYTES	(64 * 1024)

typedef struct CapqFinish
{
	uint64		pos;			/* the statement's record */
	uint64		rows;			/* rows processed */
	int64		duration_us;	/* start to end */
} CapqFinish;

typedef struct CapqFinishQueue
{
	pg_atomic_uint64 written;	/* finishes published by the backend */
	pg_atomic_uint64 applied;	/* finishes applied (ring lock held) */
	CapqFinish	finishes[CAPQ_PENDING_FINISHES];	/* by count % size */
} CapqFinishQueue;

/*
 * The ring's shared state: control fields, then the ledgers, the finish
 * queues (one per PGPROC), then the ring bytes.  In a backend that did not
 * preload capquery the same struct lives in backend-local memory, with
 * lock == NULL.  The lock also protects the capture slots (capture.h).
 */
typedef struct CapqShared
{
	LWLock	   *lock;			/* protects everything below; NULL if local */
	pg_atomic_uint64 generation;	/* bumped when active captures change */
	pg_atomic_uint32 appenders_waiting;	/* appends waiting for the lock:
										 * readers step aside for them */
	int			nslots;			/* entries in ledgers[]: capture slots */
	CapqLedger *ledgers;		/* by slot number */
	int			nqueues;		/* entries in queues[] */
	CapqFinishQueue *queues;	/* per backend, by pgprocno */
	uint64		ring_size;		/* bytes of ring data, MAXALIGN'd */
	uint64		head;			/* position of the next record */
	uint64		tail;			/* position of the oldest record kept */
	char	   *data;			/* ring bytes */
} CapqShared;

/* the state this backend uses: shared memory, or local; NULL until known */
extern CAPQ_INTERNAL CapqShared *capq_shared;

/* Everything a statement record is built from (hooks.c fills it). */
typedef struct CapqRecordParts
{
	CapqRecordType type;
	CapqKind	kind;
	uint8		flags;
	int32		nesting;
	uint64		ref;
	const char *text;			/* need not be terminated */
	uint32		text_len;
	const Oid  *relations;
	int			nrelations;
	const char *params;			/* blob, see render.c */
	uint32		params_len;
	uint32		nparams;
	int32		error_code;		/* packed SQLSTATE, 0 when it did not fail */
	const char *error;			/* its message, need not be terminated */
	uint32		error_len;
} CapqRecordParts;

/*
 * The largest record the ring takes: half of it, so that a record always
 * fits after padding to the physical start.  Anything larger is refused
 * before anything is evicted: capq_ring_fail returns before taking the
 * lock, capq_ring_append counts the statement as lost in its captures.
 */
static inline Size
capq_ring_max_record(void)
{
	return (Size) Min(capq_shared->ring_size / 2, (uint64) PG_UINT32_MAX / 2);
}

/*
 * Bytes of text, parameters or error message one record may carry: a
 * quarter of the ring, less room for its header.  A record carries at most
 * two of them (a statement that failed before it ran has no parameters),
 * so it stays within capq_ring_max_record().
 */
static inline Size
capq_ring_max_payload(void)
{
	Size		quarter = capq_ring_max_record() / 2;

	return quarter > 1024 ? quarter - 1024 : 0;
}

/*
 * Bytes of text, parameters or an error message kept under a length
 * setting (capquery.max_query_length, max_params_length): the setting,
 * within what a record may carry.
 */
static inline Size
capq_ring_payload_limit(int setting)
{
	return Min((Size) setting, capq_ring_max_payload());
}

extern Size capq_shared_size(int nslots, int nqueues, Size ring_bytes);
extern void capq_shared_init(CapqShared *s, void *mem, int nslots,
							 int nqueues, Size ring_bytes, LWLock *lock);

static inline void
capq_lock(LWLockMode mode)
{
	if (capq_shared->lock)
		LWLockAcquire(capq_shared->lock, mode);
}

/*
 * Take the lock exclusively to append.  LWLocks let a shared holder in while
 * an exclusive waiter waits, so two readers taking turns with their chunks
 * could hold the lock shared without a gap; an appender says it is waiting,
 * and readers let it go first (capq_reader_step_aside).
 */
static inline void
capq_lock_to_append(void)
{
	if (capq_shared->lock)
	{
		pg_atomic_fetch_add_u32(&capq_shared->appenders_waiting, 1);
		LWLockAcquire(capq_shared->lock, LW_EXCLUSIVE);
		pg_atomic_fetch_sub_u32(&capq_shared->appenders_waiting, 1);
	}
}

static inline void
capq_unlock(void)
{
	if (capq_shared->lock)
		LWLockRelease(capq_shared->lock);
}

/*
 * Does this backend hold the lock already?  The error path (failures.c)
 * records nothing then: the error was raised inside a locked section.
 */
static inline bool
capq_lock_held_by_me(void)
{
	return capq_shared->lock != NULL && LWLockHeldByMe(capq_shared->lock);
}

extern void capq_reader_step_aside(void);
extern uint64 capq_ring_append(const CapqRecordParts *parts,
							   const CapqTarget *targets, int ntargets);
extern void capq_ring_finish(uint64 pos, uint64 rows, int64 duration_us);
extern bool capq_ring_fail(uint64 pos, int32 error_code, const char *message,
						   uint32 message_len, uint8 flags);
extern void capq_ring_apply_all_finishes(void);
extern void capq_ring_retract(uint64 pos, CapqKind kind,
							  const CapqTarget *targets, int ntargets);
extern void capq_ring_clear(void);

/* Read-side iteration; caller holds the lock. Returns NULL at the end. */
extern CapqRecord *capq_ring_next(uint64 *pos, uint64 end);
extern bool capq_record_has_capture(const CapqRecord *rec, uint64 capture_id,
									int32 *phase);

#endif							/* CAPQ_RING_H */
