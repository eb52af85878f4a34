/*-------------------------------------------------------------------------
 *
 * reader.h
 *		Reading a capture back out of the ring into backend-local memory.
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
	char	   *plan;			/* NULL when none was captured */
	char		sqlstate[6];	/* SQLSTATE of a failed statement, "" if none */
	char	   *error_message;	/* its error message, NULL when none */
	TimestampTz started_at;		/* when it started; 0 when not recorded */
} CapqEntry;

/* A capture: its slot and ledger (copies) and its statements in order. */
typedef struct CapqCapture
{
	CapqSlot	slot;
	CapqLedger	ledger;
	CapqEntry  *entries;
	Size		nentries;		/* entries[] in use */
} CapqCapture;

extern CapqCapture *capq_read_capture(bool have_id, uint64 capture_id);
extern void capq_check_not_lost(const CapqLedger *ledger);

#endif							/* CAPQ_READER_H */
