/*-------------------------------------------------------------------------
 *
 * render.h
 *		Turning captured entries into text: parameters, statement lists for
 *		assertion messages, privilege masking.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQ_RENDER_H
#define CAPQ_RENDER_H

#include "lib/stringinfo.h"
#include "utils/hsearch.h"

#include "reader.h"

/*
 * Parameter blob: for each parameter, its type OID (4 bytes), its value's
 * length (4 bytes, -1 for NULL) and the value's output text (not
 * terminated).  Unaligned: read with memcpy.
 */
#define CAPQ_PARAM_HEADER_SIZE	8

extern void capq_params_append(StringInfo buf, Oid type, const char *value,
							   int len);

/* One decoded parameter. */
typedef struct CapqParam
{
	Oid			type;
	bool		isnull;
	char	   *value;			/* palloc'd, terminated; NULL when isnull */
} CapqParam;

extern int	capq_params_decode(const CapqEntry *e, CapqParam **params);
extern char *capq_params_render(const CapqEntry *e);
extern void capq_append_quoted_bytes(StringInfo buf, const char *value,
									 Size len);
extern void capq_append_quoted_value(StringInfo buf, const char *value);

/* privilege masking, as pg_stat_statements does it */
#define CAPQ_HIDDEN_TEXT "<insufficient privilege>"
extern bool capq_entry_visible(const CapqEntry *e);
extern char *capq_entry_text(const CapqEntry *e);
extern char *capq_entry_error_message(const CapqEntry *e);
extern bool capq_entry_matches(const CapqEntry *e, bool have_kind,
							   CapqKind kind);

/*
 * Bounds on what an error message repeats from captured data: one
 * statement's text in a list, and a whole errdetail or errhint.
 */
#define CAPQ_MESSAGE_ITEM_BYTES		1024
#define CAPQ_MESSAGE_MAX_BYTES		(64 * 1024)
extern char *capq_clip_text(const char *text, Size max_bytes);
extern char *capq_bounded_message(const char *message);
/* text in the reader's database encoding */
extern char *capq_text_to_reader(const char *text, Size len, int src_encoding,
								 Size *outlen);
extern void capq_read_in_reader_encoding(CapqReader *rd);
extern char *capq_label_to_reader(const CapqSlot *slot);

/*
 * What a reader's cache of distinct statement texts holds at most (texts
 * and what was worked out from them); past it, it starts over.
 */
#define CAPQ_TEXT_CACHE_BYTES	(16 * 1024 * 1024)
extern HTAB *capq_text_cache(HTAB *cache, MemoryContext cxt, Size entrysize,
							 const char *name);

/* The numbered statement list of an assertion's detail, built as read. */
typedef struct CapqStatementList
{
	StringInfoData buf;
	bool		have_kind;
	CapqKind	kind;
	int			listed;
	uint64		skipped;
} CapqStatementList;

extern void capq_statement_list_init(CapqStatementList *list, bool have_kind,
									 CapqKind kind);
extern void capq_statement_list_add(CapqStatementList *list,
									const CapqEntry *e);
extern char *capq_statement_list_finish(CapqStatementList *list);

#endif							/* CAPQ_RENDER_H */
