/*
 * Report output: the text report (80 columns, human units) and the JSON
 * document (exact integers), both from a finished analysis.
 */
#ifndef MO_REPORT_H
#define MO_REPORT_H

#include <stdio.h>

#include "analysis.h"
#include "symbolize.h"
#include "trace_reader.h"

typedef struct mo_report_opts {
	unsigned top;		      /* sites per list (memopt report --top) */
	const char *trace_path;	      /* shown in the header */
	const mo_tr_damage_t *damage; /* NULL if the file was intact */
	unsigned format_major; /* trace format version (mo_tr_version); */
	unsigned format_minor; /* major 0: unknown, not reported */
} mo_report_opts_t;

/* Writes the text report to out.  Returns 0 or -errno (write error). */
int mo_report_text(FILE *out, const mo_an_t *an, mo_sym_t *sym,
		   const mo_report_opts_t *opts);

/* Writes the JSON document (see memopt-report(1)) to out.  Returns 0,
 * -ENOMEM or -errno. */
int mo_report_json(FILE *out, const mo_an_t *an, mo_sym_t *sym,
		   const mo_report_opts_t *opts);

#endif
