/*-------------------------------------------------------------------------
 *
 * reader.h
 *		Reading a capture back out of the ring, one statement at a time,
 *		into backend-local memory that is reused chunk by chunk.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQ_READER_H
#define CAPQ_READER_H

#include "datatype/timestamp.h"

#include "capture.h"

/* One captured statement, copied out of the ring. */
typedef struct CapqEntry
{
	uint64		pos;			/* ring position: identifies the statement */
	uint64		seq;			/* 1-based order within the capture */
	int32		phase;			/* phase number */
	const char *phase_name;		/* NULL when the phase has none */
	int32		pid;
	Oid			userid;
	Oid			dbid;
	int32		nesting;
	CapqKind	kind;
	uint8		flags;			/* CAPQ_FLAG_* */
	char	   *text;			/* as captured (without truncation mark) */
	uint32		text_len;
	char	   *params;			/* blob, see render.h */
	uint32		params_len;
	int			nparams;
	uint64		rows;
	double		duration_ms;
	Oid		   *relations;
	int			nrelations;
	char	   *plan;			/* NULL when none was captured (or wanted) */
	char		sqlstate[6];	/* SQLSTATE of a failed statement, "" if none */
	char	   *error_message;	/* its error message, NULL when none */
	TimestampTz started_at;		/* when it started; 0 when not recorded */
} CapqEntry;

/*
 * What a reader wants attached to each statement besides its own record:
 * both come in records of their own after the statement's, so each costs
 * the first pass a position per statement that has one.
 */
#define CAPQ_READ_PLANS		0x01	/* its plan */
#define CAPQ_READ_ERRORS	0x02	/* the message of a statement that failed
									 * while running (one that failed before
									 * it ran carries its own) */

typedef struct CapqReader CapqReader;
typedef struct CapqReadRef CapqReadRef;
typedef struct CapqPhaseName CapqPhaseName;

/*
 * A capture being read, statement by statement (capq_read_next).  The
 * entries of one chunk live until the next chunk is read: a reader keeps
 * what it needs of them by copying.
 */
struct CapqReader
{
	CapqSlot	slot;			/* the capture (as of the end, once read) */
	CapqLedger	ledger;			/* what the ring counted for it, likewise */
	TimestampTz first_started_at;	/* earliest start of its statements; 0
									 * when some has none recorded */
	uint64		nread;			/* statements returned so far */
	MemoryContext context;		/* everything below */

	/* a converter applied to each entry (render.c: encodings), in chunk */
	void		(*convert) (CapqReader *rd, CapqEntry *e);
	void	   *convert_state;

	/* reader.c's own */
	int			wants;			/* CAPQ_READ_* */
	uint64		start;			/* ring range of the capture's records */
	uint64		end;
	uint64		pos;			/* next record */
	bool		at_end;			/* no record left in range */
	bool		checked;		/* for lost statements, at the end */
	CapqPhaseName *phases;		/* sorted by phase, then order recorded */
	int			nphases;
	CapqReadRef *plans;			/* sorted by statement, then position */
	Size		nplans;
	Size		next_plan;
	CapqReadRef *errors;
	Size		nerrors;
	Size		next_error;
	MemoryContext chunk;		/* the entries of the current chunk */
	CapqEntry  *entries;
	int			nentries;
	int			maxentries;
	int			next_entry;
};

extern CapqReader *capq_read_open(bool have_id, uint64 capture_id, int wants);
extern CapqEntry *capq_read_next(CapqReader *rd);
extern void capq_read_rewind(CapqReader *rd);
extern void capq_read_close(CapqReader *rd);
extern void capq_read_map_phase_names(CapqReader *rd,
									  char *(*convert) (const char *name, void *arg),
									  void *arg);
extern void capq_check_not_lost(const CapqLedger *ledger);

#endif							/* CAPQ_READER_H */
