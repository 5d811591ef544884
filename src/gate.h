/*
 * The CI gate of `memopt check` and `memopt report --check`: decides, per
 * process of a finished analysis, whether its leaks and peak heap are
 * within limits, and writes the verdict (one line when every process
 * passes; per failing process its pid, command, the failed limits and its
 * biggest loss records with stacks).
 *
 * Rules (memopt-check(1)):
 * - leaks: the unsuppressed bytes of the gated kinds must not exceed
 *   max_leak; with max_leak 0 no gated block may remain at all, even of
 *   size 0 (memcheck counts those as errors too);
 * - a process without leak data fails when kinds are gated and it ended
 *   with an exit status and was not started by fork() (a forked child
 *   often ends with _exit(2), where no scan runs); otherwise it is
 *   not checked for leaks;
 * - peak: the process's peak heap must not exceed max_peak, if set.
 * Not thread-safe.
 */
#ifndef MO_GATE_H
#define MO_GATE_H

#include <stdint.h>
#include <stdio.h>

#include "analysis.h"
#include "suppress.h"
#include "symbolize.h"

typedef struct mo_gate {
	unsigned kinds;	   /* gated leak kinds, MO_LEAK_BIT set */
	uint64_t max_leak; /* bytes */
	int has_max_peak;
	uint64_t max_peak; /* bytes, if has_max_peak */
	unsigned top;	   /* loss records shown per failing process */
} mo_gate_t;

/* Sets the defaults: kinds definite,possible, max_leak 0, no peak limit,
 * top 3. */
void mo_gate_init(mo_gate_t *g);

/* Checks every process of an (finished) with suppressions supp (may be
 * NULL) and symbolizer sym (may be NULL), writing the verdict to out.
 * Returns the number of failing processes (0: the gate passes), or
 * -ENOMEM / -errno (write error). */
int mo_gate_check(const mo_gate_t *g, const mo_an_t *an, mo_sym_t *sym,
		  const mo_supp_t *supp, FILE *out);

#endif
