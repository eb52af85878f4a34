/*-------------------------------------------------------------------------
 *
 * render.c
 *		Reading entries back as text: kinds, parameters, privilege masking,
 *		and the numbered statement lists of assertion messages.
 *
 * Everything here runs at read time, in the reading backend, on copies made
 * by reader.c; nothing here is on a hook's path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/memutils.h"

#include "render.h"

/* statements listed in an assertion's errdetail before "... and N more" */
#define CAPQ_DETAIL_MAX_STATEMENTS	100

const char *const capq_kind_names[CAPQ_NUM_KINDS] = {
	"select", "insert", "update", "delete", "merge", "utility", "transaction"
};

const char *
capq_kind_name(CapqKind kind)
{
	return capq_kind_names[kind];
}

/*
 * Index of name in a table of n names (case-sensitive, as the contract
 * spells them), or -1.  Kinds, scopes and plans settings are read with it.
 */
int
capq_name_index(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
	{
		if (strcmp(name, names[i]) == 0)
			return i;
	}
	return -1;
}

/*---- Parameters ----*/

/* Append one parameter to a blob (hooks.c, at capture time). */
void
capq_params_append(StringInfo buf, Oid type, const char *value, int len)
{
	int32		stored_len = value ? len : -1;

	appendBinaryStringInfo(buf, (const char *) &type, sizeof(Oid));
	appendBinaryStringInfo(buf, (const char *) &stored_len, sizeof(int32));
	if (value != NULL && len > 0)
		appendBinaryStringInfo(buf, value, len);
}

/* Decode an entry's parameter blob; returns how many there are. */
int
capq_params_decode(const CapqEntry *e, CapqParam **params)
{
	const char *p = e->params;
	const char *end = e->params + e->params_len;
	int			n = 0;

	*params = e->nparams > 0 ? palloc(e->nparams * sizeof(CapqParam)) : NULL;
	while (n < e->nparams && p + CAPQ_PARAM_HEADER_SIZE <= end)
	{
		CapqParam  *prm = &(*params)[n++];
		int32		len;

		memcpy(&prm->type, p, sizeof(Oid));
		memcpy(&len, p + sizeof(Oid), sizeof(int32));
		p += CAPQ_PARAM_HEADER_SIZE;
		prm->isnull = len < 0;
		prm->value = prm->isnull ? NULL : pnstrdup(p, len);
		if (len > 0)
			p += len;
	}
	return n;
}

/* 'value' with quotes doubled, as PostgreSQL logs bound parameters. */
void
capq_append_quoted_value(StringInfo buf, const char *value)
{
	appendStringInfoCharMacro(buf, '\'');
	for (const char *c = value; *c; c++)
	{
		if (*c == '\'')
			appendStringInfoCharMacro(buf, '\'');
		appendStringInfoCharMacro(buf, *c);
	}
	appendStringInfoCharMacro(buf, '\'');
}

/*
 * "$1 = '42', $2 = NULL": the form of PostgreSQL's own "parameters:" log
 * lines.  NULL when the statement had no bound parameters.
 */
char *
capq_params_render(const CapqEntry *e)
{
	StringInfoData buf;
	CapqParam  *params;
	int			n = capq_params_decode(e, &params);

	if (n == 0 && (e->flags & CAPQ_FLAG_PARAMS_TRUNCATED) == 0)
		return NULL;
	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfo(&buf, "$%d = ", i + 1);
		if (params[i].isnull)
			appendStringInfoString(&buf, "NULL");
		else
			capq_append_quoted_value(&buf, params[i].value);
	}
	if (e->flags & CAPQ_FLAG_PARAMS_TRUNCATED)
		appendStringInfoString(&buf, n > 0 ? ", ..." : "...");
	return buf.data;
}

/*---- Privilege masking ----*/

/*
 * May the current role see this entry's text and parameters?  Its own
 * role's statements, those of roles it has the privileges of, and all of
 * them for pg_read_all_stats members and superusers.
 */
bool
capq_entry_visible(const CapqEntry *e)
{
	Oid			me = GetUserId();

	if (e->userid == me)
		return true;
	return has_privs_of_role(me, e->userid) ||
		has_privs_of_role(me, ROLE_PG_READ_ALL_STATS);
}

/* The entry's text for display: masked, or marked when truncated. */
char *
capq_entry_text(const CapqEntry *e)
{
	if (!capq_entry_visible(e))
		return pstrdup(CAPQ_HIDDEN_TEXT);
	if (e->flags & CAPQ_FLAG_QUERY_TRUNCATED)
		return psprintf("%s...", e->text);
	return pstrdup(e->text);
}

/*---- Bounded messages ----*/

/*
 * text, or its first max_bytes (on a character boundary) followed by
 * "...": what a message repeats of one captured item.
 */
char *
capq_clip_text(const char *text, Size max_bytes)
{
	Size		len = strlen(text);
	int			keep;

	if (len <= max_bytes)
		return pstrdup(text);
	keep = pg_mbcliplen(text, (int) Min(len, (Size) MaxAllocSize / 2), (int) max_bytes);
	return psprintf("%.*s...", keep, text);
}

/*
 * A message part (errdetail, errhint) cut at CAPQ_MESSAGE_MAX_BYTES, with
 * a last line that says so: whatever a capture holds, an error sent to the
 * client and the log stays small.
 */
char *
capq_bounded_message(const char *message)
{
	Size		len = strlen(message);
	int			keep;

	if (len <= CAPQ_MESSAGE_MAX_BYTES)
		return (char *) message;
	keep = pg_mbcliplen(message, (int) Min(len, (Size) MaxAllocSize / 2),
						CAPQ_MESSAGE_MAX_BYTES);
	return psprintf("%.*s\n... (cut at %d bytes)", keep, message,
					CAPQ_MESSAGE_MAX_BYTES);
}

/*---- Statement lists for assertion messages ----*/

/*
 * "1. [phase 1] SELECT ... ($1 = '3')", one line per statement of the
 * capture (or of one kind), numbered by their place in the capture.
 */
char *
capq_render_statement_list(const CapqCapture *cap, bool have_kind,
						   CapqKind kind)
{
	StringInfoData buf;
	int			listed = 0;
	uint64		skipped = 0;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "Captured statements:");
	for (Size i = 0; i < cap->nentries; i++)
	{
		const CapqEntry *e = &cap->entries[i];
		char	   *params;

		if (have_kind && e->kind != kind)
			continue;
		if (listed >= CAPQ_DETAIL_MAX_STATEMENTS ||
			buf.len > CAPQ_MESSAGE_MAX_BYTES)
		{
			skipped++;
			continue;
		}
		listed++;
		appendStringInfo(&buf, "\n" UINT64_FORMAT ". [phase %d", e->seq, e->phase);
		if (e->phase_name)
			appendStringInfo(&buf, " \"%s\"", e->phase_name);
		appendStringInfo(&buf, "] %s",
						 capq_clip_text(capq_entry_text(e), CAPQ_MESSAGE_ITEM_BYTES));
		params = capq_entry_visible(e) ? capq_params_render(e) : NULL;
		if (params)
			appendStringInfo(&buf, " (%s)",
							 capq_clip_text(params, CAPQ_MESSAGE_ITEM_BYTES));
	}
	if (listed == 0)
		appendStringInfoString(&buf, " none.");
	if (skipped > 0)
		appendStringInfo(&buf, "\n... and " UINT64_FORMAT " more", skipped);
	return buf.data;
}
