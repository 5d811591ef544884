/*
 * Report output: the text report (80 columns, human units) and the JSON
 * document (exact integers), both from a finished analysis.
 */
#ifndef MO_REPORT_H
#define MO_REPORT_H

#include <stdio.h>

#include "analysis.h"
#include "suppress.h"
#include "symbolize.h"
#include "trace_reader.h"

typedef struct mo_report_opts {
	unsigned top;		      /* sites per list (memopt report --top) */
	const char *trace_path;	      /* shown in the header */
	const mo_tr_damage_t *damage; /* NULL if the file was intact */
	unsigned format_major; /* trace format version (mo_tr_version); */
	unsigned format_minor; /* major 0: unknown, not reported */
	const mo_supp_t *supp; /* leak suppressions; NULL: none */
	unsigned leak_kinds;   /* loss records listed: MO_LEAK_BIT set */
	int show_suppressed;   /* list suppressed loss records too */
} mo_report_opts_t;

/* Writes the text report to out.  Returns 0 or -errno (write error). */
int mo_report_text(FILE *out, const mo_an_t *an, mo_sym_t *sym,
		   const mo_report_opts_t *opts);

/* Writes the JSON document (see memopt-report(1)) to out.  Returns 0,
 * -ENOMEM or -errno. */
int mo_report_json(FILE *out, const mo_an_t *an, mo_sym_t *sym,
		   const mo_report_opts_t *opts);

/* Helpers shared with the CI gate (gate.c); they write to out. */

/* The process title line: "== process PID: COMMAND". */
void mo_report_title(FILE *out, const mo_proc_t *p);

/* The symbolized frames of an analysis-wide stack, one per line, indented
 * six columns.  sym may be NULL. */
void mo_report_stack(FILE *out, const mo_an_t *an, mo_sym_t *sym,
		     uint32_t stack);

/* A loss record's line, "SIZE in N blocks KIND[, suppressed]", indented
 * two columns; a suppressed one adds "    suppression: ENTRY" (the
 * entry's text from supp, which may be NULL). */
void mo_report_loss(FILE *out, const mo_leak_rec_t *r, const mo_supp_t *supp);

/* "1.5 KiB (1,536 bytes)", or "512 B" below 1 KiB, into buf. */
char *mo_report_size(char *buf, size_t len, uint64_t bytes);

#endif
