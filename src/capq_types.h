/*-------------------------------------------------------------------------
 *
 * capq_types.h
 *		The small types every layer of capquery shares: statement kinds and
 *		their names, the track setting, the visibility attribute.
 *
 * A leaf: it includes nothing of capquery's, so the ring (the lowest
 * layer) and everything above can use it.  The names are the contract's
 * spellings; names.c holds the tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQ_TYPES_H
#define CAPQ_TYPES_H

#include "postgres.h"

/*---- Statement kinds (stored in one byte of each ring record) ----*/
typedef enum CapqKind
{
	CAPQ_KIND_SELECT = 0,
	CAPQ_KIND_INSERT,
	CAPQ_KIND_UPDATE,
	CAPQ_KIND_DELETE,
	CAPQ_KIND_MERGE,
	CAPQ_KIND_UTILITY,
	CAPQ_KIND_TRANSACTION,
	CAPQ_KIND_INVALID,			/* failed to parse (1.1) */
	CAPQ_NUM_KINDS
} CapqKind;

/*
 * Kind filters of capq_count() and the assertions: a kind, or 'error' for
 * the statements that failed, whatever their kind.
 */
#define CAPQ_FILTER_ERROR		((CapqKind) CAPQ_NUM_KINDS)
#define CAPQ_NUM_FILTERS		(CAPQ_NUM_KINDS + 1)

/* what capquery.track may say */
typedef enum CapqTrack
{
	CAPQ_TRACK_TOP,
	CAPQ_TRACK_ALL
} CapqTrack;

/*
 * Variables shared between capquery's own files are hidden from other
 * modules, so the hooks read them directly rather than through the GOT.
 */
#define CAPQ_INTERNAL __attribute__((visibility("hidden")))

/*---- Names (names.c): the contract's spellings, indexed by the enums ----*/
extern const char *const capq_kind_names[CAPQ_NUM_FILTERS];
extern const char *capq_kind_name(CapqKind kind);
extern int	capq_name_index(const char *const *names, int n, const char *name);

#endif							/* CAPQ_TYPES_H */
