/*-------------------------------------------------------------------------
 *
 * capquery.h
 *		The module's top header: its settings and the hooks' entry points,
 *		for capquery.c (start-up) and the SQL functions.
 *
 * One captured statement travels hooks.c -> ring.c (append) and comes back
 * ring.c -> reader.c (collect) -> render.c (text) -> functions.c (SQL).
 * capture.c decides which captures a backend's statements belong to.
 * Lower layers include only what they use: capq_types.h (the leaf),
 * settings.h, ring.h, capture.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQUERY_H
#define CAPQUERY_H

#include "postgres.h"

#include "settings.h"

/*---- hooks.c ----*/
extern void capq_install_hooks(void);
extern void capq_retract_calling_statements(void);

#endif							/* CAPQUERY_H */
