/*-------------------------------------------------------------------------
 *
 * render.c
 *		Reading entries back as text: kinds, parameters, privilege masking,
 *		and the numbered statement lists of assertion messages.
 *
 * Almost everything here runs at read time, in the reading backend, on
 * copies made by reader.c, one statement at a time.  One function is on a
 * hook's path: capq_params_append builds a statement's parameter blob at
 * executor start.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "capture.h"
#include "render.h"

/* statements listed in an assertion's errdetail before "... and N more" */
#define CAPQ_DETAIL_MAX_STATEMENTS	100

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

/*
 * 'value' with quotes doubled, as PostgreSQL logs bound parameters: len
 * bytes of it (a literal's source text, say).
 */
void
capq_append_quoted_bytes(StringInfo buf, const char *value, Size len)
{
	appendStringInfoCharMacro(buf, '\'');
	for (Size i = 0; i < len; i++)
	{
		if (value[i] == '\'')
			appendStringInfoCharMacro(buf, '\'');
		appendStringInfoCharMacro(buf, value[i]);
	}
	appendStringInfoCharMacro(buf, '\'');
}

/* The same for a terminated string. */
void
capq_append_quoted_value(StringInfo buf, const char *value)
{
	capq_append_quoted_bytes(buf, value, strlen(value));
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
 * May the current role see what this entry's statement said: its text,
 * parameters, plan and relations?  Its own role's statements, those of
 * roles it has the privileges of, and all of them for pg_read_all_stats
 * members and superusers.
 */
bool
capq_entry_visible(const CapqEntry *e)
{
	return capq_role_may_read(GetUserId(), e->userid);
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

/* The entry's error message for display: masked, or marked when cut. */
char *
capq_entry_error_message(const CapqEntry *e)
{
	if (e->error_message == NULL)
		return NULL;
	if (!capq_entry_visible(e))
		return pstrdup(CAPQ_HIDDEN_TEXT);
	if (e->flags & CAPQ_FLAG_ERROR_TRUNCATED)
		return psprintf("%s...", e->error_message);
	return pstrdup(e->error_message);
}

/* Does the entry pass a kind filter (a kind, or 'error')? */
bool
capq_entry_matches(const CapqEntry *e, bool have_kind, CapqKind kind)
{
	if (!have_kind)
		return true;
	if (kind == CAPQ_FILTER_ERROR)
		return e->sqlstate[0] != '\0';
	return e->kind == kind;
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

/*---- Encodings ----*/

/* source bytes converted per call: the output buffer is 4 times as large */
#define CAPQ_CONVERT_CHUNK	65536

/*
 * Encoding of a database, -1 when it no longer exists.  Captured text is in
 * the encoding of the database the statement ran in (a scope 'all' capture
 * mixes databases); pg_database is a shared catalog, readable from any.
 */
static int
database_encoding(Oid dbid)
{
	HeapTuple	tuple;
	int			encoding;

	if (dbid == MyDatabaseId)
		return GetDatabaseEncoding();
	tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dbid));
	if (!HeapTupleIsValid(tuple))
		return -1;
	encoding = ((Form_pg_database) GETSTRUCT(tuple))->encoding;
	ReleaseSysCache(tuple);
	return encoding;
}

/* "\xNN" for each byte that has no place in the reader's encoding */
static void
append_escaped_bytes(StringInfo buf, const char *p, int len)
{
	for (int i = 0; i < len; i++)
		appendStringInfo(buf, "\\x%02x", (unsigned char) p[i]);
}

/*
 * Bytes of unknown encoding (SQL_ASCII, or a dropped database): what is
 * valid in the reader's encoding stays, other bytes are escaped.
 */
static void
append_verified(StringInfo buf, const char *p, const char *end)
{
	int			encoding = GetDatabaseEncoding();

	while (p < end)
	{
		int			len = 1;

		if (!IS_HIGHBIT_SET(*p))
			appendStringInfoChar(buf, *p);
		else if ((len = pg_encoding_verifymbchar(encoding, p, end - p)) > 0)
			appendBinaryStringInfo(buf, p, len);
		else
		{
			len = 1;
			append_escaped_bytes(buf, p, 1);
		}
		p += len;
	}
}

/*
 * Text in src_encoding converted to the reader's database encoding, with
 * what cannot be converted escaped as \xNN per byte: every text capquery
 * returns must be valid in the reader's encoding, or clients fail to decode
 * it and dumps of tables made from it cannot be restored.  NULL-terminated
 * and palloc'd; its length in *outlen.
 */
char *
capq_text_to_reader(const char *text, Size len, int src_encoding,
					Size *outlen)
{
	int			reader = GetDatabaseEncoding();
	const char *p = text;
	const char *end = text + len;
	StringInfoData buf;
	Oid			proc = InvalidOid;
	unsigned char *converted = NULL;

	initStringInfo(&buf);
	if (src_encoding == reader || reader == PG_SQL_ASCII)
		appendBinaryStringInfo(&buf, text, len);
	else if (src_encoding < 0 || src_encoding == PG_SQL_ASCII)
		append_verified(&buf, p, end);
	else
	{
		proc = FindDefaultConversionProc(src_encoding, reader);
		if (OidIsValid(proc))
			converted = palloc(CAPQ_CONVERT_CHUNK * MAX_CONVERSION_GROWTH + 1);
		while (p < end)
		{
			int			chunk = Min(end - p, CAPQ_CONVERT_CHUNK);
			int			done = 0;
			int			charlen;

			if (OidIsValid(proc))
			{
				done = pg_do_encoding_conversion_buf(proc, src_encoding, reader,
													 (unsigned char *) p, chunk,
													 converted,
													 CAPQ_CONVERT_CHUNK * MAX_CONVERSION_GROWTH + 1,
													 true);
				appendStringInfoString(&buf, (char *) converted);
			}
			else
			{
				/* no conversion between the two: ASCII is common to both */
				while (done < chunk && !IS_HIGHBIT_SET(p[done]))
					done++;
				appendBinaryStringInfo(&buf, p, done);
			}
			p += done;
			if (done == chunk)
				continue;
			/* stopped at a character: split by the chunk's end, or not
			 * convertible (or not valid in its own encoding) */
			charlen = pg_encoding_verifymbchar(src_encoding, p, end - p);
			if (charlen > 0 && done + charlen > chunk)
				continue;		/* the next chunk starts with it */
			if (charlen <= 0)
				charlen = 1;
			append_escaped_bytes(&buf, p, charlen);
			p += charlen;
		}
	}
	*outlen = buf.len;
	return buf.data;
}

/* The same, for a terminated string. */
static char *
cstring_to_reader(const char *text, int src_encoding)
{
	Size		len;

	return capq_text_to_reader(text, strlen(text), src_encoding, &len);
}

/* A parameter blob whose values are converted to the reader's encoding. */
static void
params_to_reader(CapqEntry *e, int src_encoding)
{
	StringInfoData blob;
	CapqParam  *params;
	int			n = capq_params_decode(e, &params);

	initStringInfo(&blob);
	for (int i = 0; i < n; i++)
	{
		Size		len = 0;
		char	   *value = NULL;

		if (!params[i].isnull)
			value = capq_text_to_reader(params[i].value, strlen(params[i].value),
										src_encoding, &len);
		capq_params_append(&blob, params[i].type, value, (int) len);
	}
	e->params = blob.data;
	e->params_len = blob.len;
	e->nparams = n;
}

/* A reader's cache of database encodings, for entry_to_reader_encoding. */
typedef struct ReaderEncoding
{
	int			reader;			/* the reader's database encoding */
	Oid			cached_dbid;
	int			cached_encoding;
} ReaderEncoding;

static char *
phase_name_to_reader(const char *name, void *arg)
{
	return cstring_to_reader(name, *(const int *) arg);
}

/* An entry's texts in the reader's encoding (in the read's chunk memory). */
static void
entry_to_reader_encoding(CapqReader *rd, CapqEntry *e)
{
	ReaderEncoding *enc = rd->convert_state;
	int			encoding;
	Size		len;

	if (e->dbid != enc->cached_dbid)
	{
		enc->cached_dbid = e->dbid;
		enc->cached_encoding = database_encoding(e->dbid);
	}
	encoding = enc->cached_encoding;
	if (encoding == enc->reader)
		return;
	e->text = capq_text_to_reader(e->text, e->text_len, encoding, &len);
	e->text_len = (uint32) len;
	if (e->params_len > 0)
		params_to_reader(e, encoding);
	if (e->plan != NULL)
		e->plan = cstring_to_reader(e->plan, encoding);
	if (e->error_message != NULL)
		e->error_message = cstring_to_reader(e->error_message, encoding);
}

/*
 * Have a read convert the capture's texts (statements, parameters, plans,
 * error messages, phase names) from the encodings of the databases they
 * were captured in to the reader's, as it reads them.  Entries of the
 * reader's own database, the usual case, cost one compare each.
 */
void
capq_read_in_reader_encoding(CapqReader *rd)
{
	int			reader = GetDatabaseEncoding();
	int			owner_encoding;
	ReaderEncoding *enc;

	if (reader == PG_SQL_ASCII)
		return;
	/* phase names come from the capture owner's database */
	owner_encoding = database_encoding(rd->slot.dbid);
	if (owner_encoding != reader)
		capq_read_map_phase_names(rd, phase_name_to_reader, &owner_encoding);
	enc = MemoryContextAlloc(rd->context, sizeof(ReaderEncoding));
	enc->reader = reader;
	enc->cached_dbid = InvalidOid;
	enc->cached_encoding = reader;
	rd->convert_state = enc;
	rd->convert = entry_to_reader_encoding;
}

/* A capture's label, converted from its owner's database encoding. */
char *
capq_label_to_reader(const CapqSlot *slot)
{
	int			encoding = database_encoding(slot->dbid);

	if (encoding == GetDatabaseEncoding())
		return pstrdup(slot->label);
	return cstring_to_reader(slot->label, encoding);
}

/*---- Text caches ----*/

/*
 * cache, a hash table in cxt of entries of entrysize keyed by a uint64 (a
 * hash of a statement's text), made or made again empty when cxt holds more
 * than CAPQ_TEXT_CACHE_BYTES: what a reader keeps of distinct texts, so
 * that an N+1 loop's repeated text is worked on once, without keeping every
 * text of a capture whose texts all differ.  Call it before each insert;
 * entries (and what they point to in cxt) go when it starts over.
 */
HTAB *
capq_text_cache(HTAB *cache, MemoryContext cxt, Size entrysize,
				const char *name)
{
	HASHCTL		ctl;

	if (cache != NULL &&
		MemoryContextMemAllocated(cxt, true) <= CAPQ_TEXT_CACHE_BYTES)
		return cache;
	MemoryContextReset(cxt);
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = entrysize;
	ctl.hcxt = cxt;
	return hash_create(name, 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*---- Statement lists for assertion messages ----*/

/*
 * "1. [phase 1] SELECT ... ($1 = '3')", one line per statement of the
 * capture (or of one kind), numbered by their place in the capture; a
 * failed statement ends with "-- ERROR" and its SQLSTATE.  Built as the
 * statements are read: init, add each, finish.
 */
void
capq_statement_list_init(CapqStatementList *list, bool have_kind,
						 CapqKind kind)
{
	initStringInfo(&list->buf);
	appendStringInfoString(&list->buf, "Captured statements:");
	list->have_kind = have_kind;
	list->kind = kind;
	list->listed = 0;
	list->skipped = 0;
}

void
capq_statement_list_add(CapqStatementList *list, const CapqEntry *e)
{
	StringInfo	buf = &list->buf;
	char	   *params;

	if (!capq_entry_matches(e, list->have_kind, list->kind))
		return;
	if (list->listed >= CAPQ_DETAIL_MAX_STATEMENTS ||
		buf->len > CAPQ_MESSAGE_MAX_BYTES)
	{
		list->skipped++;
		return;
	}
	list->listed++;
	appendStringInfo(buf, "\n" UINT64_FORMAT ". [phase %d", e->seq, e->phase);
	if (e->phase_name)
		appendStringInfo(buf, " \"%s\"", e->phase_name);
	appendStringInfo(buf, "] %s",
					 capq_clip_text(capq_entry_text(e), CAPQ_MESSAGE_ITEM_BYTES));
	params = capq_entry_visible(e) ? capq_params_render(e) : NULL;
	if (params)
		appendStringInfo(buf, " (%s)",
						 capq_clip_text(params, CAPQ_MESSAGE_ITEM_BYTES));
	if (e->sqlstate[0] != '\0')
		appendStringInfo(buf, " -- ERROR %s", e->sqlstate);
}

char *
capq_statement_list_finish(CapqStatementList *list)
{
	if (list->listed == 0)
		appendStringInfoString(&list->buf, " none.");
	if (list->skipped > 0)
		appendStringInfo(&list->buf, "\n... and " UINT64_FORMAT " more",
						 list->skipped);
	return list->buf.data;
}
