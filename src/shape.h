/*-------------------------------------------------------------------------
 *
 * shape.h
 *		Statement shapes: a statement's tokens with constants and parameters
 *		abstracted, computed with PostgreSQL's own scanner by readers (and
 *		by strict mode at executor start).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQ_SHAPE_H
#define CAPQ_SHAPE_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "reader.h"

/* One token of a scanned statement. */
typedef struct CapqToken
{
	int			tok;			/* core scanner token code */
	int			start;			/* byte offset in the source */
	int			len;			/* bytes in the source */
	bool		is_const;		/* literal constant or parameter */
	int			param_no;		/* $n of a parameter, else 0 */
	const char *value;			/* a literal's value when not its source
								 * text (strings unescaped); see
								 * capq_token_value */
	const char *canon;			/* case-folded text for fingerprints */
	int			canon_len;
	bool		dropped;		/* folded into a list's first element */
	bool		list_head;		/* first element of a folded list */
	bool		gap_before;		/* white space or comments precede it */
} CapqToken;

/* A scanned statement. */
typedef struct CapqShape
{
	const char *source;
	int			source_len;
	CapqToken  *tokens;
	int			ntokens;
	bool		scanned;		/* false: the scanner refused the text */
	List	   *comments;		/* C-style comment bodies, in order (char *) */
} CapqShape;

extern void capq_shape_scan(CapqShape *shape, const char *text, int len,
							bool fold_lists);
extern char *capq_shape_fingerprint(const CapqShape *shape);
extern const char *capq_token_value(const CapqShape *shape,
									const CapqToken *t);
extern char *capq_shape_normalized(const CapqShape *shape);
extern void capq_shape_append_normalized(StringInfo buf,
										 const CapqShape *shape);

extern char *capq_shape_values(const CapqShape *shape, const CapqEntry *e);
extern int	capq_shape_append_values(StringInfo buf, const CapqShape *shape,
									 const CapqEntry *e);

#endif							/* CAPQ_SHAPE_H */
