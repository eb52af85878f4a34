/*-------------------------------------------------------------------------
 *
 * snapshot.h
 *		Snapshot text of a capture and snapshot diffs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQ_SNAPSHOT_H
#define CAPQ_SNAPSHOT_H

#include "reader.h"

extern text *capq_snapshot_datum(CapqReader *rd, bool with_plans);
extern char *capq_snapshot_text(CapqReader *rd, bool with_plans);
extern char *capq_snapshot_diff(const char *expected, const char *captured);

#endif							/* CAPQ_SNAPSHOT_H */
