/*-------------------------------------------------------------------------
 *
 * settings.h
 *		capquery's settings (GUC variables, defined in capquery.c), for the
 *		layers that read them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQ_SETTINGS_H
#define CAPQ_SETTINGS_H

#include "capq_types.h"

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

#endif							/* CAPQ_SETTINGS_H */
