/*-------------------------------------------------------------------------
 *
 * shape.c
 *		Statement shapes and fingerprints, from PostgreSQL's own scanner.
 *
 * A shape is the statement's token sequence with every literal constant and
 * parameter abstracted, keywords and identifiers case-folded as the parser
 * folds them, and comments and white space gone; a list of constants (IN
 * (...), ARRAY[...], the rows of VALUES) counts as one element.  The
 * fingerprint is the 64-bit FNV-1a hash of that sequence, so it is the same
 * on every run, server and machine.
 *
 * As pg_stat_statements does, token lengths come from the flex buffer: the
 * scanner leaves a zero byte after the current token in scanbuf.
 *
 * Readers scan every text they shape; on a hook's path only strict mode
 * (capquery.max_repeats, repeats.c) scans, at executor start, and only
 * when it is set.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/memutils.h"
#include "parser/gramparse.h"
#include "parser/scanner.h"
#include "parser/scansup.h"
#include "utils/builtins.h"

#include "render.h"
#include "shape.h"

static bool
token_is_operand(const CapqToken *t)
{
	return t->is_const || t->tok == IDENT || t->tok == ')' || t->tok == ']';
}

/* Record C-style comments in a gap of the source (not inside tokens). */
static void
collect_comments(CapqShape *shape, int from, int to)
{
	const char *s = shape->source;

	for (int i = from; i + 1 < to; i++)
	{
		if (s[i] == '/' && s[i + 1] == '*')
		{
			int			j = i + 2;

			while (j + 1 < to && !(s[j] == '*' && s[j + 1] == '/'))
				j++;
			shape->comments = lappend(shape->comments,
									  pnstrdup(s + i + 2, j - (i + 2)));
			i = j + 1;
		}
		else if (s[i] == '-' && s[i + 1] == '-')
		{
			while (i < to && s[i] != '\n')
				i++;
		}
	}
}

/* Scan text into tokens; false when the scanner raised an error. */
static bool
scan_tokens(CapqShape *shape)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	volatile bool ok = true;
	/* about one token per 4 bytes of SQL: rarely a second allocation */
	volatile int max = Min(32 + shape->source_len / 4, 1024 * 1024);

	shape->tokens = palloc(max * sizeof(CapqToken));
	shape->ntokens = 0;

	PG_TRY();
	{
		core_yyscan_t yyscanner;
		core_yy_extra_type yyextra;
		core_YYSTYPE yylval;
		YYLTYPE		yylloc;
		int			prev_end = 0;

		yyscanner = scanner_init(shape->source, &yyextra, &ScanKeywords,
								 ScanKeywordTokens);
		yyextra.escape_string_warning = false;
		for (;;)
		{
			int			tok;
			CapqToken  *t;

			/* operators like '::' or '>=' leave yylval alone: clear it */
			yylval.keyword = NULL;
			tok = core_yylex(&yylval, &yylloc, yyscanner);

			if (tok == 0)
				break;
			if (shape->ntokens >= max)
			{
				max *= 2;
				shape->tokens = repalloc(shape->tokens, max * sizeof(CapqToken));
			}
			t = &shape->tokens[shape->ntokens++];
			/* every field, without a memset per token */
			t->tok = tok;
			t->start = yylloc;
			t->len = strlen(yyextra.scanbuf + yylloc);
			t->is_const = false;
			t->param_no = 0;
			t->value = NULL;
			t->dropped = false;
			t->list_head = false;
			t->gap_before = yylloc > prev_end;
			if (t->gap_before)
				collect_comments(shape, prev_end, yylloc);
			prev_end = yylloc + t->len;

			/*
			 * Keep pointers, not copies: keywords are static, identifiers,
			 * operators and literals are fresh pallocs of the scanner, the
			 * rest is source text.
			 */
			t->canon = shape->source + t->start;
			t->canon_len = t->len;
			switch (tok)
			{
				case ICONST:
				case FCONST:
				case BCONST:
				case XCONST:
					t->is_const = true;
					break;
				case SCONST:
				case USCONST:
					t->is_const = true;
					t->value = yylval.str;
					break;
				case PARAM:
					t->is_const = true;
					t->param_no = yylval.ival;
					break;
				case IDENT:
					t->canon = yylval.str;

					/*
					 * Folding keeps an unquoted identifier's length unless
					 * it is truncated; a quoted one loses its quotes.
					 */
					if (t->len >= NAMEDATALEN ||
						shape->source[t->start] == '"' ||
						shape->source[t->start + 1] == '&')
						t->canon_len = strlen(yylval.str);
					break;
				case UIDENT:
					t->canon = yylval.str;
					t->canon_len = strlen(yylval.str);
					break;
				case Op:
					/* the operator's own text (as far as the scanner took it) */
					t->canon = yylval.str;
					break;
				default:
					/* a keyword is its source text folded: same length */
					if (yylval.keyword != NULL && tok >= 258)
						t->canon = yylval.keyword;
					break;
			}
		}
		collect_comments(shape, prev_end, shape->source_len);
		scanner_finish(yyscanner);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/*
		 * A lexical error (a truncated text, say) means no tokens.  Anything
		 * else -- out of memory, a cancel -- is not the text's fault and goes
		 * on up.  The core scanner raises syntax errors (class 42), bad
		 * escapes (class 22) and unsupported Unicode escapes (0A000).
		 */
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION &&
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION &&
			edata->sqlerrcode != ERRCODE_FEATURE_NOT_SUPPORTED)
			PG_RE_THROW();
		FreeErrorData(edata);
		FlushErrorState();
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Literal keywords that drivers send for values: TRUE and FALSE, and NULL
 * unless it follows IS or NOT.  A leading minus folds into a number.
 */
static void
mark_value_keywords(CapqShape *shape)
{
	for (int i = 0; i < shape->ntokens; i++)
	{
		CapqToken  *t = &shape->tokens[i];
		CapqToken  *prev = i > 0 ? &shape->tokens[i - 1] : NULL;

		if (t->tok == TRUE_P || t->tok == FALSE_P)
		{
			t->is_const = true;
			t->value = t->tok == TRUE_P ? "true" : "false";
		}
		else if (t->tok == NULL_P &&
				 (prev == NULL || (prev->tok != IS && prev->tok != NOT)))
		{
			t->is_const = true;
			t->value = NULL;
		}
		else if ((t->tok == ICONST || t->tok == FCONST) && prev != NULL &&
				 prev->tok == '-' && !prev->is_const &&
				 (i < 2 || !token_is_operand(&shape->tokens[i - 2])))
		{
			/* "- 5" as a value: the minus becomes part of the constant */
			prev->tok = t->tok;
			prev->is_const = true;
			prev->len = t->start + t->len - prev->start;
			prev->value = psprintf("-%s", capq_token_value(shape, t));
			prev->canon = t->canon;
			prev->canon_len = t->canon_len;
			memmove(t, t + 1, (shape->ntokens - i - 1) * sizeof(CapqToken));
			shape->ntokens--;
			i--;
		}
	}
}

/*
 * Length of a parenthesised list of constants starting at i (the open
 * bracket), or 0: "(c, c, ...)" or "[c, ...]".  Sets *elements.
 */
static int
constant_list_length(CapqShape *shape, int i, int close, int *elements)
{
	int			j = i + 1;

	*elements = 0;
	while (j < shape->ntokens && shape->tokens[j].is_const)
	{
		(*elements)++;
		j++;
		if (j < shape->ntokens && shape->tokens[j].tok == ',')
			j++;
		else
			break;
	}
	if (*elements == 0 || j >= shape->ntokens || shape->tokens[j].tok != close)
		return 0;
	return j - i + 1;
}

/* Mark tokens i+1 .. i+len-2 after the first element as dropped. */
static void
fold_list_elements(CapqShape *shape, int i, int len)
{
	shape->tokens[i + 1].list_head = true;
	for (int k = i + 2; k < i + len - 1; k++)
		shape->tokens[k].dropped = true;
}

/* Fold IN (...), ARRAY[...] and repeated VALUES rows to one element. */
static void
fold_constant_lists(CapqShape *shape)
{
	for (int i = 0; i + 1 < shape->ntokens; i++)
	{
		CapqToken  *t = &shape->tokens[i];
		int			elements;
		int			len;

		if (t->tok == IN_P && shape->tokens[i + 1].tok == '(')
		{
			len = constant_list_length(shape, i + 1, ')', &elements);
			if (len > 0 && elements > 1)
				fold_list_elements(shape, i + 1, len);
		}
		else if (t->tok == ARRAY && shape->tokens[i + 1].tok == '[')
		{
			len = constant_list_length(shape, i + 1, ']', &elements);
			if (len > 0 && elements > 1)
				fold_list_elements(shape, i + 1, len);
		}
		else if (t->tok == VALUES && shape->tokens[i + 1].tok == '(')
		{
			int			first_elements;
			int			j = i + 1;
			int			first_len = constant_list_length(shape, j, ')',
														 &first_elements);
			int			rows = 1;

			if (first_len == 0)
				continue;
			j += first_len;
			while (j + 1 < shape->ntokens && shape->tokens[j].tok == ',' &&
				   shape->tokens[j + 1].tok == '(')
			{
				len = constant_list_length(shape, j + 1, ')', &elements);
				if (len == 0 || elements != first_elements)
					break;
				for (int k = j; k < j + 1 + len; k++)
					shape->tokens[k].dropped = true;
				j += 1 + len;
				rows++;
			}
			if (rows > 1)
				shape->tokens[i + first_len].list_head = true;
		}
	}
}

/*
 * An EXECUTE'd statement is captured with the text of its PREPARE: its
 * shape is that of the statement prepared, so drop "PREPARE name (...) AS".
 */
static void
strip_prepare_prefix(CapqShape *shape)
{
	int			depth = 0;

	if (shape->ntokens == 0 || shape->tokens[0].tok != PREPARE)
		return;
	for (int i = 1; i < shape->ntokens; i++)
	{
		int			tok = shape->tokens[i].tok;

		if (tok == '(')
			depth++;
		else if (tok == ')')
			depth--;
		else if (tok == AS && depth == 0)
		{
			shape->ntokens -= i + 1;
			memmove(shape->tokens, shape->tokens + i + 1,
					shape->ntokens * sizeof(CapqToken));
			if (shape->ntokens > 0)
				shape->tokens[0].gap_before = false;
			return;
		}
	}
}

/*
 * Scan a statement.  With fold_lists, constant lists count as one element
 * (shapes); without, every constant stays (snapshots).
 */
void
capq_shape_scan(CapqShape *shape, const char *text, int len, bool fold_lists)
{
	memset(shape, 0, sizeof(CapqShape));
	shape->source = text[len] == '\0' ? text : pnstrdup(text, len);
	shape->source_len = len;
	shape->scanned = scan_tokens(shape);
	if (!shape->scanned)
		return;
	strip_prepare_prefix(shape);
	/* a statement terminator is not part of the shape */
	while (shape->ntokens > 0 && shape->tokens[shape->ntokens - 1].tok == ';')
		shape->ntokens--;
	mark_value_keywords(shape);
	if (fold_lists)
		fold_constant_lists(shape);
}

/*
 * A constant's value: NULL for the NULL keyword, else text (a string
 * literal unescaped, a number as written).
 */
const char *
capq_token_value(const CapqShape *shape, const CapqToken *t)
{
	if (t->tok == NULL_P)
		return NULL;
	if (t->value != NULL)
		return t->value;
	return pnstrdup(shape->source + t->start, t->len);
}

/* 64-bit FNV-1a: simple, fast, and the same on every platform. */
static inline uint64
fnv1a(uint64 hash, const char *bytes, int len)
{
	for (int i = 0; i < len; i++)
	{
		hash ^= (unsigned char) bytes[i];
		hash *= UINT64CONST(0x100000001b3);
	}
	return hash;
}

/* 16 lower-case hex digits (psprintf's formatting costs more than a scan's
 * tail, once per distinct text) */
static char *
fingerprint_hex(uint64 hash)
{
	static const char hex[] = "0123456789abcdef";
	char	   *out = palloc(17);

	for (int i = 15; i >= 0; i--)
	{
		out[i] = hex[hash & 0xf];
		hash >>= 4;
	}
	out[16] = '\0';
	return out;
}

/*
 * 16 hex digits: the 64-bit FNV-1a hash of the shape's token sequence
 * (each token's folded text, or "?" for a constant, then a space).
 */
char *
capq_shape_fingerprint(const CapqShape *shape)
{
	uint64		hash = UINT64CONST(0xcbf29ce484222325);

	if (shape->scanned)
	{
		for (int i = 0; i < shape->ntokens; i++)
		{
			const CapqToken *t = &shape->tokens[i];

			if (t->dropped)
				continue;
			if (t->is_const)
				hash = fnv1a(hash, "?", 1);
			else
				hash = fnv1a(hash, t->canon, t->canon_len);
			hash = fnv1a(hash, " ", 1);
		}
	}
	else
	{
		/* unscannable text: its words, white space folded */
		const char *p = shape->source;

		while (*p)
		{
			int			len = 0;

			while (*p && scanner_isspace(*p))
				p++;
			while (p[len] && !scanner_isspace(p[len]))
				len++;
			if (len == 0)
				break;
			hash = fnv1a(hash, p, len);
			hash = fnv1a(hash, " ", 1);
			p += len;
		}
	}
	return fingerprint_hex(hash);
}

/* "$n": a placeholder, without a format string (this runs per constant) */
static void
append_placeholder(StringInfo buf, int n)
{
	enlargeStringInfo(buf, 12);
	buf->data[buf->len++] = '$';
	buf->len += pg_ultoa_n((uint32) n, buf->data + buf->len);
	buf->data[buf->len] = '\0';
}

/* Append bytes: a plain copy into room already reserved, else an append. */
static inline void
append_bytes(StringInfo buf, const char *bytes, int len, bool reserved)
{
	if (reserved)
	{
		memcpy(buf->data + buf->len, bytes, len);
		buf->len += len;
	}
	else
		appendBinaryStringInfo(buf, bytes, len);
}

/*
 * Append the statement as written, comments gone, white space folded,
 * every constant and parameter a numbered placeholder, folded lists as
 * "$n, ...".
 */
void
capq_shape_append_normalized(StringInfo buf, const CapqShape *shape)
{
	int			placeholder = 0;
	bool		folding = false;
	int			start = buf->len;
	Size		room;
	bool		reserved;

	if (!shape->scanned)
	{
		appendBinaryStringInfo(buf, shape->source, shape->source_len);
		return;
	}

	/*
	 * Room for all of it at once (the tokens, a space before each, and a
	 * placeholder "$n" or ", ..." for each), then copies, not appends; a
	 * text too long for that (hundreds of MB) is appended piece by piece,
	 * up to what a string can hold.
	 */
	room = (Size) shape->source_len + 16 * (Size) shape->ntokens + 1;
	reserved = room < MaxAllocSize - (Size) buf->len - 1;
	if (reserved)
		enlargeStringInfo(buf, (int) room);
	for (int i = 0; i < shape->ntokens; i++)
	{
		const CapqToken *t = &shape->tokens[i];

		if (t->dropped)
		{
			if (!folding)
				append_bytes(buf, ", ...", 5, reserved);
			folding = true;
			continue;
		}
		folding = false;
		if (t->gap_before && buf->len > start)
			append_bytes(buf, " ", 1, reserved);
		if (t->is_const)
			append_placeholder(buf, ++placeholder);
		else
			append_bytes(buf, shape->source + t->start, t->len, reserved);
	}
	buf->data[buf->len] = '\0';
}

/* The same, as a new string. */
char *
capq_shape_normalized(const CapqShape *shape)
{
	StringInfoData buf;

	if (!shape->scanned)
		return pstrdup(shape->source);
	initStringInfo(&buf);
	capq_shape_append_normalized(&buf, shape);
	return buf.data;
}

/*---- Values of a statement's placeholders ----*/

/* A bound parameter's value as snapshots show it; NULL for NULL. */
static const char *
bound_value(const CapqParam *params, int nparams, int param_no)
{
	const CapqParam *prm;

	if (param_no < 1 || param_no > nparams)
		return "?";
	prm = &params[param_no - 1];
	if (prm->isnull)
		return NULL;
	if (prm->type == BOOLOID)
		return strcmp(prm->value, "t") == 0 ? "true" : "false";
	return prm->value;
}

/*
 * Append "$1 = '42', $2 = 'true'": the values of the placeholders that
 * capq_shape_normalized() shows, whether the driver inlined them or bound
 * them.  Returns how many there are (nothing is appended for none).
 */
int
capq_shape_append_values(StringInfo buf, const CapqShape *shape,
						 const CapqEntry *e)
{
	CapqParam  *params = NULL;
	int			nparams = -1;
	int			placeholder = 0;

	for (int i = 0; shape->scanned && i < shape->ntokens; i++)
	{
		const CapqToken *t = &shape->tokens[i];

		if (!t->is_const || t->dropped)
			continue;
		if (placeholder > 0)
			appendBinaryStringInfo(buf, ", ", 2);
		append_placeholder(buf, ++placeholder);
		appendBinaryStringInfo(buf, " = ", 3);
		if (t->param_no > 0)
		{
			const char *value;

			if (nparams < 0)
				nparams = capq_params_decode(e, &params);
			value = bound_value(params, nparams, t->param_no);
			if (value == NULL)
				appendBinaryStringInfo(buf, "NULL", 4);
			else
				capq_append_quoted_value(buf, value);
		}
		else if (t->tok == NULL_P)
			appendBinaryStringInfo(buf, "NULL", 4);
		else if (t->value != NULL)
			capq_append_quoted_value(buf, t->value);
		else
			capq_append_quoted_bytes(buf, shape->source + t->start, t->len);
	}
	return placeholder;
}

/* The same as a new string; NULL when there are none. */
char *
capq_shape_values(const CapqShape *shape, const CapqEntry *e)
{
	StringInfoData buf;

	initStringInfo(&buf);
	return capq_shape_append_values(&buf, shape, e) > 0 ? buf.data : NULL;
}
