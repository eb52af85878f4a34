/*-------------------------------------------------------------------------
 *
 * capquery.c
 *		Module start-up: settings, the shared-memory request, hooks.
 *
 * Preloaded (shared_preload_libraries), capquery keeps one shared ring and
 * its capture slots for every backend.  Loaded later (by a function call
 * or LOAD), it installs the same hooks but keeps a backend-local ring,
 * created on first capq_begin(), which serves scope 'backend' only; the
 * functions that need shared memory then say so (capture.c).
 *
 * Capture ids never repeat in the life of a cluster: the postmaster saves
 * the next id in pg_stat/capquery.next_id whenever its shared memory goes
 * away -- at shutdown, and at the reset after a backend crash -- and reads
 * it back each time it creates shared memory again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "capquery.h"
#include "capture.h"
#include "failures.h"

PG_MODULE_MAGIC;

/*---- GUC variables ----*/
int			capq_buffer_size_kb = 32 * 1024;
int			capq_max_captures = 64;
int			capq_max_query_length = 4096;
int			capq_max_params_length = 1024;
int			capq_track = CAPQ_TRACK_TOP;
bool		capq_track_utility = true;
char	   *capq_session_name = NULL;
int			capq_max_repeats = 0;

bool		capq_preloaded = false;

static const struct config_enum_entry track_options[] = {
	{"top", CAPQ_TRACK_TOP, false},
	{"all", CAPQ_TRACK_ALL, false},
	{NULL, 0, false}
};

#define CAPQ_ID_FILE	PGSTAT_STAT_PERMANENT_DIRECTORY "/capquery.next_id"

/* the next id read at start-up: a saved id is never lower */
static uint64 loaded_next_id = 1;

/*---- Saved hook values ----*/
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*---- Function declarations ----*/
void		_PG_init(void);
static void capq_shmem_request(void);
static void capq_shmem_startup(void);
static void capq_load_next_id(CapqCaptures *c);
static void capq_save_next_id(int code, Datum arg);
static void capq_session_assign(const char *newval, void *extra);

/*
 * Module load: define the settings, request shared memory when preloaded,
 * install the hooks.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("capquery.max_query_length",
							"Longest statement text captured; longer texts are cut at a character boundary.",
							NULL,
							&capq_max_query_length,
							4096, 64, INT_MAX / 2,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("capquery.max_params_length",
							"Most bytes of bound parameter values captured per statement; 0 captures none.",
							NULL,
							&capq_max_params_length,
							1024, 0, INT_MAX / 2,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("capquery.track",
							 "Which statements are captured: top-level only, or also those nested in functions.",
							 NULL,
							 &capq_track,
							 CAPQ_TRACK_TOP, track_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("capquery.track_utility",
							 "Captures utility and transaction statements.",
							 NULL,
							 &capq_track_utility,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("capquery.session",
							   "Joins this session's statements to the active capture with this label or id.",
							   NULL,
							   &capq_session_name,
							   "",
							   PGC_USERSET, 0,
							   NULL, capq_session_assign, NULL);
	DefineCustomIntVariable("capquery.max_repeats",
							"While capturing, fail a statement whose shape ran more than this many times in the current phase; 0 disables.",
							"The statement fails with SQLSTATE P0004 before it runs.",
							&capq_max_repeats,
							0, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	/*
	 * The ring's size and slots are fixed at server start, so these exist
	 * only when preloaded (PostgreSQL refuses postmaster settings later); a
	 * backend-local ring uses their defaults.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("capquery.buffer_size",
								"Size of the capture ring, in shared memory.",
								"Holds captured statements with their texts and parameters.",
								&capq_buffer_size_kb,
								32 * 1024, 64, MAX_KILOBYTES,
								PGC_POSTMASTER, GUC_UNIT_KB,
								NULL, NULL, NULL);
		DefineCustomIntVariable("capquery.max_captures",
								"Captures kept at once, active or ended.",
								"Ended captures stay readable until their slot is reused, oldest first.",
								&capq_max_captures,
								64, 1, 100000,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);

		capq_preloaded = true;
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = capq_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = capq_shmem_startup;
	}
	MarkGUCPrefixReserved("capquery");

	capq_install_hooks();
	capq_install_failure_hooks();
}

/* One finish queue per PGPROC (MaxBackends is known at shmem request). */
static int
capq_finish_queues(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS;
}

static Size
capq_ring_memsize(void)
{
	return capq_shared_size(capq_max_captures, capq_finish_queues(),
							(Size) capq_buffer_size_kb * 1024);
}

/* shmem_request hook: the ring, the capture slots, one lock. */
static void
capq_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	RequestAddinShmemSpace(add_size(capq_ring_memsize(),
									capq_captures_size(capq_max_captures)));
	RequestNamedLWLockTranche("capquery", 1);
}

/* shmem_startup hook: attach, or create and initialize once. */
static void
capq_shmem_startup(void)
{
	bool		found;
	void	   *mem;
	CapqCaptures *captures;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	mem = ShmemInitStruct("capquery", capq_ring_memsize(), &found);
	if (!found)
		capq_shared_init((CapqShared *) mem, mem, capq_max_captures,
						 capq_finish_queues(),
						 (Size) capq_buffer_size_kb * 1024,
						 &(GetNamedLWLockTranche("capquery"))->lock);
	captures = ShmemInitStruct("capquery captures",
							   capq_captures_size(capq_max_captures), &found);
	if (!found)
	{
		capq_captures_init(captures, capq_max_captures);
		if (!IsUnderPostmaster)
			capq_load_next_id(captures);
	}
	capq_captures = captures;
	capq_shared = (CapqShared *) mem;
	LWLockRelease(AddinShmemInitLock);

	/*
	 * The postmaster (or a single-user backend) saves ids when shared memory
	 * goes.  A crash reset clears on_shmem_exit callbacks, and this hook runs
	 * again after it, so registering here each time keeps one registered.
	 */
	if (!IsUnderPostmaster)
		on_shmem_exit(capq_save_next_id, (Datum) 0);
}

/* Continue capture ids from where the last clean shutdown left them. */
static void
capq_load_next_id(CapqCaptures *c)
{
	FILE	   *file = AllocateFile(CAPQ_ID_FILE, PG_BINARY_R);
	uint64		next_id;

	if (file == NULL)
		return;
	if (fread(&next_id, sizeof(next_id), 1, file) == 1 && next_id > 0)
		c->next_capture_id = next_id;
	else
		ereport(LOG,
				(errmsg("could not read capture ids from \"%s\"; starting at 1",
						CAPQ_ID_FILE)));
	loaded_next_id = c->next_capture_id;
	FreeFile(file);
}

/*
 * on_shmem_exit in the postmaster: remember where capture ids got to.  It
 * also runs at the reset after a backend crash (code != 0); the counter is
 * then still read, but only saved when it has not gone below what was
 * loaded, in case the crash scribbled on it.
 */
static void
capq_save_next_id(int code, Datum arg)
{
	FILE	   *file;
	uint64		next_id;

	if (capq_captures == NULL)
		return;
	next_id = capq_captures->next_capture_id;
	if (next_id < loaded_next_id)
	{
		ereport(LOG,
				(errmsg("capquery: not saving capture id " UINT64_FORMAT ", below the " UINT64_FORMAT " loaded at start-up",
						next_id, loaded_next_id)));
		return;
	}
	file = AllocateFile(CAPQ_ID_FILE ".tmp", PG_BINARY_W);
	if (file == NULL)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", CAPQ_ID_FILE ".tmp")));
		return;
	}
	if (fwrite(&next_id, sizeof(uint64), 1, file) != 1)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", CAPQ_ID_FILE ".tmp")));
		FreeFile(file);
		return;
	}
	if (FreeFile(file) != 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", CAPQ_ID_FILE ".tmp")));
		return;
	}
	(void) durable_rename(CAPQ_ID_FILE ".tmp", CAPQ_ID_FILE, LOG);
	loaded_next_id = next_id;
}

/* capquery.session changed: recompute this backend's targets. */
static void
capq_session_assign(const char *newval, void *extra)
{
	capq_invalidate_targets();
}
