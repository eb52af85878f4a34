/*-------------------------------------------------------------------------
 *
 * report.h
 *		The review document of a capture (capq_report): HTML for a browser,
 *		Markdown for a pull request, plain text for a terminal.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CAPQ_REPORT_H
#define CAPQ_REPORT_H

#include "reader.h"

typedef enum CapqReportFormat
{
	CAPQ_REPORT_HTML = 0,
	CAPQ_REPORT_MARKDOWN,
	CAPQ_REPORT_TEXT,
	CAPQ_NUM_REPORT_FORMATS
} CapqReportFormat;

extern const char *const capq_report_format_names[CAPQ_NUM_REPORT_FORMATS];

/*
 * Statements drawn and listed one by one, and shapes listed; the header and
 * the counts always cover the whole capture.  A report also stops listing
 * once it passes CAPQ_REPORT_SOFT_LIMIT bytes, so that its size is bounded
 * whatever the capture holds (each item adds at most a few hundred kB).
 */
#define CAPQ_REPORT_MAX_STATEMENTS	5000
#define CAPQ_REPORT_MAX_SHAPES		500
#define CAPQ_REPORT_SOFT_LIMIT		(64 * 1024 * 1024)

extern char *capq_report_render(CapqReader *rd, CapqReportFormat format);

#endif							/* CAPQ_REPORT_H */
