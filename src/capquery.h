/*-------------------------------------------------------------------------
 *
 * capquery.h
 *		Declarations shared by every capquery module: settings, statement
 *		kinds, and the entry points each module offers the others.
 *
 * One captured statement travels hooks.c -> ring.c (append) and comes back
 * ring.c -> reader.c (collect) -> render.c (text) -> functions.c (SQL).
 * capture.c decides which captures a backend's statements belong to.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQUERY_H
#define CAPQUERY_H

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

/*---- GUC variables (capquery.c) ----*/
extern CAPQ_INTERNAL int	capq_buffer_size_kb;
extern CAPQ_INTERNAL int	capq_max_captures;
extern CAPQ_INTERNAL int	capq_max_query_length;
extern CAPQ_INTERNAL int	capq_max_params_length;
extern CAPQ_INTERNAL int	capq_track;
extern CAPQ_INTERNAL bool capq_track_utility;
extern CAPQ_INTERNAL char *capq_session_name;
extern CAPQ_INTERNAL int	capq_max_repeats;

/* true once _PG_init ran in the postmaster (shared_preload_libraries) */
extern CAPQ_INTERNAL bool capq_preloaded;

/*---- kinds (render.c) ----*/
extern const char *const capq_kind_names[CAPQ_NUM_FILTERS];
extern const char *capq_kind_name(CapqKind kind);
extern int	capq_name_index(const char *const *names, int n, const char *name);

/*---- hooks.c ----*/
extern void capq_install_hooks(void);
extern void capq_retract_calling_statements(void);

/*---- failures.c ----*/
extern void capq_install_failure_hooks(void);
extern void capq_failure_note_statement(const char *text_end);
extern void capq_failure_while_running(uint64 pos);
extern void capq_failure_capq_called(void);
extern void capq_failure_forget(void);

#endif							/* CAPQUERY_H */
