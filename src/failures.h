/*-------------------------------------------------------------------------
 *
 * failures.h
 *		Failed statements as entries: recorded from the error path only
 *		(emit_log_hook, and the hooks' PG_CATCH blocks).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQ_FAILURES_H
#define CAPQ_FAILURES_H

#include "postgres.h"

extern void capq_install_failure_hooks(void);
extern void capq_failure_note_statement(const char *text_end);
extern void capq_failure_while_running(uint64 pos);
extern void capq_failure_capq_called(void);
extern void capq_failure_forget(void);

#endif							/* CAPQ_FAILURES_H */
