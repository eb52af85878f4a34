/*-------------------------------------------------------------------------
 *
 * failures.c
 *		Failed statements: recorded from the error path only, so that a
 *		statement the application sent counts whether or not it succeeded.
 *
 * Nothing here runs for a statement that succeeds.  Two paths record:
 *
 * - A statement that fails while running already has its ring record (the
 *   executor or utility hook appended it at its start).  The hooks' PG_CATCH
 *   blocks -- which exist only while something is captured, or around
 *   utility statements as before -- call capq_failure_while_running(), which
 *   copies the error and marks the record failed (capq_ring_fail).  This is
 *   also how an error that a PL/pgSQL exception block catches reaches the
 *   nested statement that raised it: no emit_log_hook sees such an error.
 *
 * - A statement that fails before it runs -- at parse, analysis, rewrite or
 *   planning, or refused because the transaction is aborted (25P02) -- has
 *   no record.  emit_log_hook sees its error when PostgresMain reports it,
 *   and appends a STATEMENT record carrying the error.  Only errors that no
 *   hook's PG_CATCH saw (error_seen_running) and that were not raised in a
 *   statement calling capq_* functions are recorded so.  The hook runs for
 *   every ereport that reaches the server log, LOG and NOTICE included: it
 *   returns after one compare for anything but ERROR, and after a few more
 *   when nothing is captured.  On this path the error may have come from
 *   anywhere: nothing is allocated, the catalogs are not read (targets are
 *   refreshed without them), no ereport is raised, and nothing is recorded
 *   when the error was raised while this backend held the ring lock.
 *
 * The text of a statement that failed before it ran: the statement's own
 * span in a multi-statement string when it can be found -- the statement
 * holding the error's cursor position, else the one after the last
 * top-level statement recorded from the same message -- cut at its ending
 * semicolon by a small lexer that knows SQL's quotes and comments; the whole
 * string after a syntax error (the string never parsed, so no statement
 * boundary is known).  Its kind is "invalid" after a syntax error, else
 * guessed from its first keyword (WITH counts as select).
 *
 * Not recorded: errors reported with log_min_messages above error (the
 * hook is not called for them), a failure before execution of a nested
 * statement (its caller's record gets the error instead), and an error at
 * the implicit commit after a statement ended.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "parser/scansup.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/memutils.h"

#include "capture.h"
#include "failures.h"
#include "settings.h"

/*---- Saved hook values ----*/
static emit_log_hook_type prev_emit_log_hook = NULL;

/*---- Local state ----*/

/*
 * The error being raised passed through a hook's PG_CATCH: it is a failure
 * while running, recorded there (or not captured), not one before execution.
 * Cleared when the (sub)transaction aborts and when a top-level statement is
 * recorded.
 */
static bool error_seen_running = false;

/*
 * Where the last top-level statement recorded ended, in the query string of
 * the protocol message that sent it: a statement that fails before it runs
 * is the next one.  A message is told by its statement start timestamp, as
 * its string may reuse the address of an earlier one.
 */
static const char *last_top_end = NULL;
static TimestampTz last_top_message = 0;

/* a capq_* function was called: in which message, and after which statement */
static TimestampTz capq_called_message = 0;
static const char *capq_called_after = NULL;

/* copies of errors caught while running; reset after each */
static MemoryContext failure_context = NULL;

/*---- Function declarations ----*/
static void capq_emit_log(ErrorData *edata);

/*
 * Install emit_log_hook (called by _PG_init).  The (sub)transaction abort
 * that ends an error is seen through hooks.c's callbacks, which call
 * capq_failure_forget(): one callback less for every transaction to call.
 */
void
capq_install_failure_hooks(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = capq_emit_log;
}

/*---- Bounds ----*/

/* Longest statement text or error message kept. */
static inline Size
text_limit(void)
{
	return capq_ring_payload_limit(capq_max_query_length);
}

/* Cut len bytes of text at limit, on a character boundary. */
static inline uint32
clipped_length(const char *text, Size len, Size limit, bool *cut)
{
	*cut = len > limit;
	if (*cut)
		return (uint32) pg_mbcliplen(text, (int) Min(len, (Size) MaxAllocSize),
									 (int) limit);
	return (uint32) len;
}

/*---- Statements that fail while running ----*/

/*
 * Called in a hook's PG_CATCH while an error propagates through a statement
 * being run: the statement recorded at pos (CAPQ_NO_POS when it has no
 * record) failed with it.  The error is still the current one, so it can
 * be copied; out of memory is recorded by its code alone.
 */
void
capq_failure_while_running(uint64 pos)
{
	MemoryContext oldcontext;
	ErrorData  *edata;
	int32		code;
	const char *message;
	uint32		len;
	bool		cut;

	error_seen_running = true;
	if (pos == CAPQ_NO_POS || capq_shared == NULL || capq_lock_held_by_me())
		return;

	code = geterrcode();
	if (code == ERRCODE_OUT_OF_MEMORY)
	{
		capq_ring_fail(pos, code, "", 0, 0);
		return;
	}
	if (failure_context == NULL)
		failure_context = AllocSetContextCreate(TopMemoryContext,
												"capquery failures",
												ALLOCSET_SMALL_SIZES);
	oldcontext = MemoryContextSwitchTo(failure_context);
	edata = CopyErrorData();
	MemoryContextSwitchTo(oldcontext);

	message = edata->message ? edata->message : "";
	len = clipped_length(message, strlen(message), text_limit(), &cut);
	capq_ring_fail(pos, edata->sqlerrcode, message, len,
				   cut ? CAPQ_FLAG_ERROR_TRUNCATED : 0);
	MemoryContextReset(failure_context);
}

/*---- Where a statement is in its string ----*/

static inline bool
is_identifier_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || IS_HIGHBIT_SET(c);
}

/* Does a comment ("--" or slash-star) start at offset i? */
static inline bool
starts_comment(const char *s, Size i, Size len)
{
	return i + 1 < len &&
		((s[i] == '-' && s[i + 1] == '-') || (s[i] == '/' && s[i + 1] == '*'));
}

/* The offset just past the comment at i (nested block comments included). */
static Size
skip_comment(const char *s, Size i, Size len)
{
	int			nest = 1;

	if (s[i] == '-')
	{
		while (i < len && s[i] != '\n')
			i++;
		return i;
	}
	for (i += 2; i < len && nest > 0;)
	{
		if (s[i] == '/' && i + 1 < len && s[i + 1] == '*')
			nest++, i += 2;
		else if (s[i] == '*' && i + 1 < len && s[i + 1] == '/')
			nest--, i += 2;
		else
			i++;
	}
	return i;
}

/*
 * Offset of the semicolon that ends the statement starting at "from", or
 * len when none does: SQL's quotes ('', E'', "", $tag$), comments (--, and
 * nested block comments) and parentheses are skipped, as the lexer would.
 * Bounded by len; allocates nothing.
 */
static Size
statement_end(const char *s, Size from, Size len)
{
	Size		i = from;
	int			depth = 0;

	while (i < len)
	{
		char		c = s[i];

		if (c == '\'')
		{
			bool		backslashes = i > from && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
				!(i > from + 1 && is_identifier_byte(s[i - 2]));

			for (i++; i < len; i++)
			{
				if (backslashes && s[i] == '\\')
					i++;
				else if (s[i] == '\'')
				{
					if (i + 1 < len && s[i + 1] == '\'')
						i++;
					else
						break;
				}
			}
			i++;
		}
		else if (c == '"')
		{
			for (i++; i < len && s[i] != '"'; i++)
				;
			i++;
		}
		else if (starts_comment(s, i, len))
			i = skip_comment(s, i, len);
		else if (c == '$' && (i == from || !is_identifier_byte(s[i - 1])))
		{
			/* $tag$ ... $tag$: a tag does not start with a digit ($1) */
			Size		j = i + 1;

			if (j < len && s[j] >= '0' && s[j] <= '9')
			{
				i++;
				continue;
			}
			while (j < len && is_identifier_byte(s[j]))
				j++;
			if (j < len && s[j] == '$')
			{
				Size		tag_start = i;
				Size		tag_len = j - i + 1;

				for (i = j + 1; i < len; i++)
				{
					if (s[i] == '$' && len - i >= tag_len &&
						memcmp(s + i, s + tag_start, tag_len) == 0)
						break;
				}
				i = Min(len, i + tag_len);
			}
			else
				i++;
		}
		else if (c == '(')
			depth++, i++;
		else if (c == ')')
			depth = Max(depth - 1, 0), i++;
		else if (c == ';' && depth == 0)
			return i;
		else
			i++;
	}
	return len;
}

/* Skip white space and comments from offset i. */
static Size
skip_blank(const char *s, Size i, Size len)
{
	for (;;)
	{
		if (i < len && scanner_isspace(s[i]))
			i++;
		else if (starts_comment(s, i, len))
			i = skip_comment(s, i, len);
		else
			return i;
	}
}

/* Start of the statement holding byte offset "at". */
static Size
statement_holding(const char *s, Size at, Size len)
{
	Size		start = 0;

	for (;;)
	{
		Size		end = statement_end(s, start, len);

		if (at <= end || end >= len)
			return start;
		start = end + 1;
	}
}

/* Kind of a statement that parsed, from its first keyword. */
static CapqKind
kind_from_keyword(const char *text, Size len)
{
	static const struct
	{
		const char *word;
		CapqKind	kind;
	}			words[] = {
		{"select", CAPQ_KIND_SELECT}, {"with", CAPQ_KIND_SELECT},
		{"values", CAPQ_KIND_SELECT}, {"table", CAPQ_KIND_SELECT},
		{"insert", CAPQ_KIND_INSERT}, {"update", CAPQ_KIND_UPDATE},
		{"delete", CAPQ_KIND_DELETE}, {"merge", CAPQ_KIND_MERGE},
		{"begin", CAPQ_KIND_TRANSACTION}, {"start", CAPQ_KIND_TRANSACTION},
		{"commit", CAPQ_KIND_TRANSACTION}, {"end", CAPQ_KIND_TRANSACTION},
		{"rollback", CAPQ_KIND_TRANSACTION}, {"abort", CAPQ_KIND_TRANSACTION},
		{"savepoint", CAPQ_KIND_TRANSACTION}, {"release", CAPQ_KIND_TRANSACTION},
	};
	char		word[16];
	Size		i = 0,
				n = 0;

	while (i < len && text[i] == '(')
		i = skip_blank(text, i + 1, len);
	while (i < len && n < sizeof(word) - 1 && is_identifier_byte(text[i]))
		word[n++] = pg_ascii_tolower((unsigned char) text[i++]);
	word[n] = '\0';
	for (int k = 0; k < lengthof(words); k++)
	{
		if (strcmp(word, words[k].word) == 0)
			return words[k].kind;
	}
	/* PREPARE TRANSACTION ends a transaction; PREPARE name AS is utility */
	if (strcmp(word, "prepare") == 0)
	{
		i = skip_blank(text, i, len);
		if (len - i >= 11 && pg_strncasecmp(text + i, "transaction", 11) == 0)
			return CAPQ_KIND_TRANSACTION;
	}
	return CAPQ_KIND_UTILITY;
}

/* Was the error raised by the raw parser (the string did not parse)? */
static bool
raised_by_parser(const ErrorData *edata)
{
	const char *file = edata->filename;
	const char *slash;

	if (file == NULL)
		return false;
	slash = strrchr(file, '/');
	if (slash)
		file = slash + 1;
	return strcmp(file, "scan.l") == 0 || strcmp(file, "gram.y") == 0 ||
		strcmp(file, "gram.c") == 0 || strcmp(file, "scan.c") == 0 ||
		strcmp(file, "parser.c") == 0 || strcmp(file, "scansup.c") == 0;
}

/*---- Statements that fail before they run ----*/

/* Append the failed statement of an error no hook saw (see file header). */
static void
record_failure_before_execution(const ErrorData *edata)
{
	const char *source = debug_query_string;
	TimestampTz message = GetCurrentStatementStartTimestamp();
	const char *after = last_top_message == message ? last_top_end : NULL;
	CapqRecordParts parts;
	Size		len;
	Size		start;
	Size		end;
	const char *message_text;
	bool		cut;

	if (source == NULL || capq_lock_held_by_me() ||
		capq_targets_without_catalogs() == 0)
		return;
	/* a capq_* call's own error, or the statement that called it */
	if (capq_called_message == message && capq_called_after == after)
		return;

	memset(&parts, 0, sizeof(parts));
	parts.type = CAPQ_REC_STATEMENT;
	len = strlen(source);
	if (raised_by_parser(edata))
	{
		parts.kind = CAPQ_KIND_INVALID;
		start = 0;
		end = len;
	}
	else
	{
		if (edata->cursorpos > 0)
			start = statement_holding(source,
									  (Size) pg_mbcharcliplen(source, (int) Min(len, (Size) MaxAllocSize),
															  edata->cursorpos - 1),
									  len);
		else if (after != NULL && after >= source && after <= source + len)
		{
			start = skip_blank(source, after - source, len);
			if (start < len && source[start] == ';')
				start++;
		}
		else
			start = 0;
		start = skip_blank(source, start, len);
		end = statement_end(source, start, len);
	}
	/* a whole string loses its final semicolon, as a statement does */
	while (end > start &&
		   (scanner_isspace(source[end - 1]) || source[end - 1] == ';'))
		end--;
	while (start < end && scanner_isspace(source[start]))
		start++;
	if (start >= end)
		return;					/* e.g. an error at commit, after the last one */
	if (parts.kind != CAPQ_KIND_INVALID)
		parts.kind = kind_from_keyword(source + start, end - start);
	if (!capq_track_utility &&
		(parts.kind == CAPQ_KIND_UTILITY || parts.kind == CAPQ_KIND_TRANSACTION))
		return;

	parts.text = source + start;
	parts.text_len = clipped_length(parts.text, end - start, text_limit(),
									&cut);
	if (cut)
		parts.flags |= CAPQ_FLAG_QUERY_TRUNCATED;

	message_text = edata->message ? edata->message : "";
	parts.error_code = edata->sqlerrcode;
	parts.error = message_text;
	parts.error_len = clipped_length(message_text, strlen(message_text),
									 text_limit(), &cut);
	if (cut)
		parts.flags |= CAPQ_FLAG_ERROR_TRUNCATED;

	capq_ring_append(&parts, capq_targets, capq_ntargets);
}

/*
 * emit_log_hook: an ERROR that no statement's hook saw is a statement that
 * failed before it ran.  Everything else (LOG, NOTICE, ...) returns at once.
 */
static void
capq_emit_log(ErrorData *edata)
{
	if (unlikely(edata->elevel == ERROR) && capq_shared != NULL &&
		!error_seen_running)
		record_failure_before_execution(edata);

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*---- Bookkeeping the hooks call ----*/

/* A top-level statement was recorded; its text ends at text_end. */
void
capq_failure_note_statement(const char *text_end)
{
	last_top_end = text_end;
	last_top_message = GetCurrentStatementStartTimestamp();
	error_seen_running = false;
}

/* A capq_* function runs: an error now is not the application's. */
void
capq_failure_capq_called(void)
{
	TimestampTz message = GetCurrentStatementStartTimestamp();

	capq_called_message = message;
	capq_called_after = last_top_message == message ? last_top_end : NULL;
}

/*
 * A transaction or subtransaction abort (an exception block caught the
 * error) ends the error being handled.
 */
void
capq_failure_forget(void)
{
	error_seen_running = false;
}
