/*
 * The CI gate; see gate.h for the rules.
 */
#include "gate.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "report.h"
#include "util.h"

void mo_gate_init(mo_gate_t *g)
{
	memset(g, 0, sizeof(*g));
	g->kinds = MO_LEAK_GATE_DEFAULT;
	g->top = 3;
}

/* The verdict on one process. */
typedef struct mo__verdict {
	int leak_failed, peak_failed, no_data;
	uint64_t bytes, blocks; /* leaked, of the gated kinds */
} mo__verdict_t;

static int mo__needs_data(const mo_proc_t *p)
{
	return p->exit_kind == MO_EXIT_CODE && !p->forked;
}

static void mo__judge(const mo_gate_t *g, const mo_proc_t *p,
		      const mo_leaks_t *l, mo__verdict_t *v)
{
	memset(v, 0, sizeof(*v));
	if (g->kinds & MO_LEAK_ALL) {
		if (l->present) {
			for (int k = 0; k < 4; k++)
				if (g->kinds & MO_LEAK_BIT(k)) {
					v->bytes += l->kind[k].bytes;
					v->blocks += l->kind[k].blocks;
				}
			v->leak_failed = g->max_leak ? v->bytes > g->max_leak
						     : v->blocks > 0;
		} else {
			v->no_data = mo__needs_data(p);
		}
	}
	v->peak_failed = g->has_max_peak && p->peak_heap > g->max_peak;
}

static void mo__put_failure(const mo_gate_t *g, const mo_an_t *an,
			    mo_sym_t *sym, const mo_supp_t *supp, FILE *out,
			    const mo_proc_t *p, const mo_leaks_t *l,
			    const mo__verdict_t *v)
{
	char kinds[64], a[32], b[32], c[32];
	unsigned shown = 0;

	fputc('\n', out);
	mo_report_title(out, p);
	mo_supp_kinds_str(kinds, sizeof(kinds), g->kinds);
	if (v->leak_failed)
		fprintf(out,
			"   leaks (%s): %s bytes in %s %s, limit "
			"--max-leak %s%s\n",
			kinds, mo_fmt_count(a, sizeof(a), v->bytes),
			mo_fmt_count(b, sizeof(b), v->blocks),
			v->blocks == 1 ? "block" : "blocks",
			mo_fmt_count(c, sizeof(c), g->max_leak),
			g->max_leak ? " bytes" : " (no leaked block allowed)");
	if (v->no_data)
		fprintf(out,
			"   no leak data: the process exited with status "
			"%" PRIu64 " but the trace holds no leak scan\n",
			p->exit_value);
	if (v->peak_failed)
		fprintf(out,
			"   peak heap: %s bytes, limit --max-peak %s bytes\n",
			mo_fmt_count(a, sizeof(a), p->peak_heap),
			mo_fmt_count(b, sizeof(b), g->max_peak));
	if (!v->leak_failed)
		return;
	for (size_t k = 0; k < l->n && shown < g->top; k++) {
		const mo_leak_rec_t *r = &l->recs[k];
		if (r->supp >= 0 || !(g->kinds & MO_LEAK_BIT(r->loss.kind)))
			continue;
		if (!shown)
			fprintf(out, "   biggest loss records:\n");
		mo_report_loss(out, r, supp);
		mo_report_stack(out, an, sym, r->loss.stack);
		shown++;
	}
}

int mo_gate_check(const mo_gate_t *g, const mo_an_t *an, mo_sym_t *sym,
		  const mo_supp_t *supp, FILE *out)
{
	size_t n = mo_an_nprocs(an), failed = 0, checked = 0;
	uint64_t leaked = 0, peak = 0;
	char kinds[64], a[32], b[32];
	int r;

	/* First pass: count, so the header can say how many failed. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			const mo_proc_t *p = mo_an_proc(an, i);
			mo__verdict_t v;
			mo_leaks_t l;

			r = mo_supp_leaks(supp, an, sym, i, &l);
			if (r < 0)
				return r;
			mo__judge(g, p, &l, &v);
			if (pass == 0) {
				failed += v.leak_failed || v.peak_failed ||
					  v.no_data;
				checked += l.present;
				leaked += v.bytes;
				if (p->peak_heap > peak)
					peak = p->peak_heap;
			} else if (v.leak_failed || v.peak_failed ||
				   v.no_data) {
				mo__put_failure(g, an, sym, supp, out, p, &l,
						&v);
			}
			mo_supp_leaks_free(&l);
		}
		if (pass == 0 && failed)
			fprintf(out, "memopt: check FAILED: %zu of %zu %s\n",
				failed, n, n == 1 ? "process" : "processes");
		if (!failed)
			break;
	}
	mo_supp_kinds_str(kinds, sizeof(kinds), g->kinds);
	if (!failed)
		fprintf(out,
			"memopt: check passed: %zu %s, %zu with leak data, "
			"%s bytes leaked (%s), peak heap %s bytes\n",
			n, n == 1 ? "process" : "processes", checked,
			mo_fmt_count(a, sizeof(a), leaked), kinds,
			mo_fmt_count(b, sizeof(b), peak));
	if (ferror(out) || fflush(out) == EOF)
		return errno ? -errno : -EIO;
	return (int)(failed > 0x7fffffff ? 0x7fffffff : failed);
}
