/*
 * Text report: one block per process, human units, at most 80 columns.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mo_ring.h"
#include "report.h"
#include "util.h"

#define MO__COLS 80
#define MO__MAX_INLINE 32
#define MO__FRAME_INDENT "      "

typedef struct mo__text {
	FILE *out;
	const mo_an_t *an;
	mo_sym_t *sym;
	const mo_report_opts_t *opts;
	mo_site_t *sites; /* scratch for mo_an_top() */
	size_t sites_cap;
} mo__text_t;

/* --- lines ------------------------------------------------------------- */

/* Writes s as one line, cut to 80 columns ("...") on a character
 * boundary if it is longer; control characters (from argv, say) become
 * '?'.  Bytes count as columns, which is exact for ASCII and errs on the
 * short side for UTF-8. */
static void mo__put_line(FILE *out, const char *s)
{
	size_t len = strlen(s);
	int cut = len > MO__COLS;

	if (cut) {
		len = MO__COLS - 3;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
	}
	fputs(cut ? "...\n" : "\n", out);
}

static void mo__linef(FILE *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void mo__linef(FILE *out, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	mo__put_line(out, buf);
}

/* Writes up to three "label value" cells at columns 3, 29 and 55 (NULL
 * cells are skipped); a cell that would cross column 80 starts a new
 * line. */
static void mo__row(FILE *out, const char *a, const char *b, const char *c)
{
	static const size_t stops[3] = {3, 29, 55};
	const char *cells[3] = {a, b, c};
	char line[MO__COLS * 4];
	size_t pos = 0;

	for (int i = 0; i < 3; i++) {
		size_t len, at;

		if (!cells[i])
			continue;
		len = strlen(cells[i]);
		at = pos + 2 > stops[i] ? pos + 2 : stops[i];
		if (pos && at + len > MO__COLS) {
			line[pos] = '\0';
			mo__put_line(out, line);
			pos = 0;
			at = stops[0];
		}
		if (at + len >= sizeof(line))
			len = sizeof(line) - at - 1;
		memset(line + pos, ' ', at - pos);
		memcpy(line + at, cells[i], len);
		pos = at + len;
	}
	line[pos] = '\0';
	if (pos)
		mo__put_line(out, line);
}

static double mo__pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static const char *mo__plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static const char *mo__basename(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;

	return s ? s + 1 : path;
}

/* --- stacks ------------------------------------------------------------ */

/* "name  file.c:42  (module)" with the name cut so the line fits. */
static void mo__put_frame(FILE *out, const mo_frame_t *f)
{
	const char *mark = f->inlined ? "[inlined] " : "";
	const char *func = f->function ? f->function : "??";
	const char *mod = mo__basename(f->module);
	char where[512], tail[1024], line[2048];
	size_t fixed, flen = strlen(func);

	if (f->file && f->line)
		snprintf(where, sizeof(where), "  %s:%" PRIu32,
			 mo__basename(f->file), f->line);
	else if (f->file)
		snprintf(where, sizeof(where), "  %s", mo__basename(f->file));
	else if (!f->function)
		snprintf(where, sizeof(where), "  0x%" PRIx64, f->address);
	else
		where[0] = '\0';
	if (mod && *mod && strcmp(mod, "?") != 0)
		snprintf(tail, sizeof(tail), "%s  (%s)", where, mod);
	else
		snprintf(tail, sizeof(tail), "%s", where);

	fixed = strlen(MO__FRAME_INDENT) + strlen(mark) + strlen(tail);
	if (fixed + flen > MO__COLS && fixed + 8 <= MO__COLS) {
		int keep = (int)(MO__COLS - fixed - 3);
		snprintf(line, sizeof(line), "%s%s%.*s...%s", MO__FRAME_INDENT,
			 mark, keep, func, tail);
	} else {
		snprintf(line, sizeof(line), "%s%s%s%s", MO__FRAME_INDENT, mark,
			 func, tail);
	}
	mo__put_line(out, line);
}

void mo_report_stack(FILE *out, const mo_an_t *an, mo_sym_t *sym,
		     uint32_t stack)
{
	mo_frame_t frames[MO__MAX_INLINE];
	uint32_t n;
	const mo_rawframe_t *rf = mo_an_stack(an, stack, &n);

	if (n == 0) {
		mo__put_line(out, MO__FRAME_INDENT "(no stack recorded)");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		int nf = mo_supp_resolve(sym, &rf[i], frames, MO__MAX_INLINE);
		for (int k = 0; k < nf; k++)
			mo__put_frame(out, &frames[k]);
	}
}

static void mo__put_stack(mo__text_t *t, uint32_t stack)
{
	mo_report_stack(t->out, t->an, t->sym, stack);
}

/* --- process summary ----------------------------------------------------- */

static const char *mo__signame(uint64_t sig)
{
	static const char *const names[] = {
		NULL,	   "SIGHUP",	"SIGINT",  "SIGQUIT",  "SIGILL",
		"SIGTRAP", "SIGABRT",	"SIGBUS",  "SIGFPE",   "SIGKILL",
		"SIGUSR1", "SIGSEGV",	"SIGUSR2", "SIGPIPE",  "SIGALRM",
		"SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",  "SIGSTOP",
		"SIGTSTP", "SIGTTIN",	"SIGTTOU", "SIGURG",   "SIGXCPU",
		"SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",
		"SIGPWR",  "SIGSYS"};

	return sig < sizeof(names) / sizeof(names[0]) ? names[sig] : NULL;
}

/* The command line, into cmd; with short, argv[0] is cut to its last
 * component (".../prog"), so that long paths do not push the program's
 * name and arguments off an 80-column line. */
static void mo__command(char *cmd, size_t len, const mo_proc_t *p, int short_)
{
	size_t pos = 0;

	cmd[0] = '\0';
	for (uint32_t i = 0; i < p->argc && pos < len - 1; i++) {
		const char *a = p->argv[i];
		const char *slash = strrchr(a, '/');
		int n = i == 0 && short_ && slash && slash != a
				? snprintf(cmd + pos, len - pos, ".../%s",
					   slash + 1)
				: snprintf(cmd + pos, len - pos, "%s%s",
					   i ? " " : "", a);
		if (n < 0)
			break;
		pos += (size_t)n;
	}
	if (!cmd[0])
		snprintf(cmd, len, "%s", p->exe ? p->exe : "(unknown)");
}

void mo_report_title(FILE *out, const mo_proc_t *p)
{
	char cmd[1024];
	int head = snprintf(NULL, 0, "== process %" PRIu32 ": ", p->pid);

	mo__command(cmd, sizeof(cmd), p, 0);
	if (head + strlen(cmd) > MO__COLS)
		mo__command(cmd, sizeof(cmd), p, 1);
	mo__linef(out, "== process %" PRIu32 ": %s", p->pid, cmd);
}

static void mo__put_status(FILE *out, const mo_proc_t *p)
{
	char how[96], dur[32], parent[48] = "";
	const char *sig;

	switch (p->exit_kind) {
	case MO_EXIT_CODE:
		snprintf(how, sizeof(how), "exit status %" PRIu64,
			 p->exit_value);
		break;
	case MO_EXIT_SIGNAL:
		sig = mo__signame(p->exit_value);
		if (sig)
			snprintf(how, sizeof(how),
				 "killed by signal %" PRIu64 " (%s)",
				 p->exit_value, sig);
		else
			snprintf(how, sizeof(how), "killed by signal %" PRIu64,
				 p->exit_value);
		break;
	case MO_EXIT_EXEC:
		snprintf(how, sizeof(how), "replaced by exec");
		break;
	default:
		snprintf(how, sizeof(how), "exit status unknown");
		break;
	}
	if (p->forked)
		snprintf(parent, sizeof(parent), ", forked from %" PRIu32,
			 p->ppid);
	mo__linef(out, "   %s, runtime %s%s", how,
		  mo_fmt_duration(dur, sizeof(dur), p->runtime_ns), parent);
}

static void mo__put_summary(FILE *out, const mo_proc_t *p)
{
	char a[64], b[64], c[64], v1[32], v2[32], v3[32];

	snprintf(a, sizeof(a), "%-14s%s", "allocations",
		 mo_fmt_count(v1, sizeof(v1), p->allocations));
	snprintf(b, sizeof(b), "%-13s%s", "frees",
		 mo_fmt_count(v2, sizeof(v2), p->frees));
	snprintf(c, sizeof(c), "%-12s%s", "allocated",
		 mo_fmt_bytes(v3, sizeof(v3), p->bytes_allocated));
	mo__row(out, a, b, c);

	mo_fmt_bytes(v1, sizeof(v1), p->peak_heap);
	if (p->peak_heap)
		snprintf(a, sizeof(a), "%-14s%s at %s", "peak heap", v1,
			 mo_fmt_duration(v2, sizeof(v2), p->peak_time_ns));
	else
		snprintf(a, sizeof(a), "%-14s%s", "peak heap", v1);
	snprintf(c, sizeof(c), "%-12s%s", "peak RSS",
		 p->peak_rss ? mo_fmt_bytes(v3, sizeof(v3), p->peak_rss)
			     : "n/a");
	mo__row(out, a, NULL, c);

	snprintf(a, sizeof(a), "%-14s%s in %s %s", "live at exit",
		 mo_fmt_bytes(v1, sizeof(v1), p->live_bytes),
		 mo_fmt_count(v2, sizeof(v2), p->live_blocks),
		 mo__plural(p->live_blocks, "block", "blocks"));
	snprintf(c, sizeof(c), "%-12s%s (%.1f%%)", "temporary",
		 mo_fmt_count(v3, sizeof(v3), p->temporary),
		 mo__pct(p->temporary, p->allocations));
	mo__row(out, a, NULL, c);
}

static void mo__put_notes(FILE *out, const mo_proc_t *p)
{
	char v[32];

	if (p->unmatched_frees)
		mo__linef(out, "   note: %s %s of addresses not allocated",
			  mo_fmt_count(v, sizeof(v), p->unmatched_frees),
			  mo__plural(p->unmatched_frees, "free", "frees"));
	if (p->double_allocs)
		mo__linef(out, "   note: %s %s of addresses already live",
			  mo_fmt_count(v, sizeof(v), p->double_allocs),
			  mo__plural(p->double_allocs, "allocation",
				     "allocations"));
	if (p->unknown_stacks)
		mo__linef(out, "   note: %s %s without a recorded stack",
			  mo_fmt_count(v, sizeof(v), p->unknown_stacks),
			  mo__plural(p->unknown_stacks, "allocation",
				     "allocations"));
	if (p->lost_bytes)
		mo__linef(out, "   note: %s of trace data lost",
			  mo_fmt_bytes(v, sizeof(v), p->lost_bytes));
	if (!p->ended)
		mo__put_line(out, "   note: the trace of this process is "
				  "incomplete");
}

/* --- leaks ------------------------------------------------------------- */

char *mo_report_size(char *buf, size_t len, uint64_t bytes)
{
	char h[32], c[32];

	if (bytes < 1024)
		snprintf(buf, len, "%s", mo_fmt_bytes(h, sizeof(h), bytes));
	else
		snprintf(buf, len, "%s (%s bytes)",
			 mo_fmt_bytes(h, sizeof(h), bytes),
			 mo_fmt_count(c, sizeof(c), bytes));
	return buf;
}

void mo_report_loss(FILE *out, const mo_leak_rec_t *r, const mo_supp_t *supp)
{
	char size[64], blocks[32];
	const char *entry =
		r->supp >= 0 ? mo_supp_entry(supp, (size_t)r->supp) : NULL;

	mo_report_size(size, sizeof(size), r->loss.bytes);
	mo_fmt_count(blocks, sizeof(blocks), r->loss.blocks);
	mo__linef(out, "  %s in %s %s %s%s", size, blocks,
		  mo__plural(r->loss.blocks, "block", "blocks"),
		  mo_supp_kind_text(r->loss.kind),
		  r->supp >= 0 ? ", suppressed" : "");
	if (r->supp >= 0)
		mo__linef(out, "    suppression: %s", entry ? entry : "?");
}

static void mo__total_line(FILE *out, const char *label,
			   const mo_leak_total_t *t)
{
	char size[64], blocks[32];

	mo__linef(out, "   %15s: %s in %s %s", label,
		  mo_report_size(size, sizeof(size), t->bytes),
		  mo_fmt_count(blocks, sizeof(blocks), t->blocks),
		  mo__plural(t->blocks, "block", "blocks"));
}

static void mo__leak_notes(FILE *out, const mo_proc_t *p)
{
	char v[32];

	if (p->leak_flags & MO_SCAN_AT_SIGNAL)
		mo__put_line(out,
			     "   note: the leak scan ran in a fatal-signal "
			     "handler");
	if (p->leak_flags & MO_SCAN_PARTIAL)
		mo__put_line(out, "   note: the leak scan is partial: some "
				  "threads could not be stopped");
	if (p->leak_bad_records)
		mo__linef(out, "   note: %s malformed leak %s ignored",
			  mo_fmt_count(v, sizeof(v), p->leak_bad_records),
			  mo__plural(p->leak_bad_records, "record", "records"));
	if (p->leak_unknown_blocks)
		mo__linef(
			out, "   note: the leak scan named %s unknown %s",
			mo_fmt_count(v, sizeof(v), p->leak_unknown_blocks),
			mo__plural(p->leak_unknown_blocks, "block", "blocks"));
}

/* LEAK SUMMARY and LOSS RECORDS of process i. */
static int mo__put_leaks(mo__text_t *t, size_t i)
{
	const mo_proc_t *p = mo_an_proc(t->an, i);
	const mo_report_opts_t *o = t->opts;
	mo_leaks_t l;
	size_t shown = 0, k;
	char kinds[64];
	int r;

	if (!p->has_leaks) {
		if (p->leak_bad_records || p->exit_kind != MO_EXIT_EXEC) {
			fputc('\n', t->out);
			mo__put_line(t->out, "LEAK SUMMARY: no leak data (no "
					     "leak scan in the trace)");
			mo__leak_notes(t->out, p);
		}
		return 0;
	}
	r = mo_supp_leaks(o->supp, t->an, t->sym, i, &l);
	if (r < 0)
		return r;
	fputc('\n', t->out);
	mo__put_line(t->out, "LEAK SUMMARY:");
	mo__total_line(t->out, "definitely lost", &l.kind[MO_LEAK_DEFINITE]);
	mo__total_line(t->out, "indirectly lost", &l.kind[MO_LEAK_INDIRECT]);
	mo__total_line(t->out, "possibly lost", &l.kind[MO_LEAK_POSSIBLE]);
	mo__total_line(t->out, "still reachable", &l.kind[MO_LEAK_REACHABLE]);
	mo__total_line(t->out, "suppressed", &l.suppressed);
	mo__leak_notes(t->out, p);

	for (k = 0; k < l.n; k++)
		if ((o->leak_kinds & MO_LEAK_BIT(l.recs[k].loss.kind)) &&
		    (l.recs[k].supp < 0 || o->show_suppressed))
			shown++;
	mo_supp_kinds_str(kinds, sizeof(kinds), o->leak_kinds);
	fputc('\n', t->out);
	if (!shown) {
		mo__linef(t->out, "LOSS RECORDS (%s%s): none", kinds,
			  o->show_suppressed ? ", suppressed too" : "");
	} else {
		mo__linef(t->out, "LOSS RECORDS (%s%s): %zu, largest first",
			  kinds, o->show_suppressed ? ", suppressed too" : "",
			  shown);
		for (k = 0; k < l.n; k++) {
			const mo_leak_rec_t *rec = &l.recs[k];
			if (!(o->leak_kinds & MO_LEAK_BIT(rec->loss.kind)) ||
			    (rec->supp >= 0 && !o->show_suppressed))
				continue;
			mo_report_loss(t->out, rec, o->supp);
			mo__put_stack(t, rec->loss.stack);
		}
	}
	mo_supp_leaks_free(&l);
	return 0;
}

/* --- site lists -------------------------------------------------------- */

static void mo__site_line(mo__text_t *t, const mo_proc_t *p, const mo_site_t *s,
			  mo_an_key_t key)
{
	char v1[32], v2[32];

	switch (key) {
	case MO_BY_PEAK:
		mo__linef(t->out, "  %s (%.1f%%) in %s %s",
			  mo_fmt_bytes(v1, sizeof(v1), s->peak_bytes),
			  mo__pct(s->peak_bytes, p->peak_heap),
			  mo_fmt_count(v2, sizeof(v2), s->peak_blocks),
			  mo__plural(s->peak_blocks, "block", "blocks"));
		break;
	case MO_BY_LIVE:
		mo__linef(t->out, "  %s (%.1f%%) in %s %s",
			  mo_fmt_bytes(v1, sizeof(v1), s->live_bytes),
			  mo__pct(s->live_bytes, p->live_bytes),
			  mo_fmt_count(v2, sizeof(v2), s->live_blocks),
			  mo__plural(s->live_blocks, "block", "blocks"));
		break;
	case MO_BY_ALLOCATIONS:
		mo__linef(
			t->out, "  %s %s (%.1f%%), %s allocated",
			mo_fmt_count(v1, sizeof(v1), s->allocations),
			mo__plural(s->allocations, "allocation", "allocations"),
			mo__pct(s->allocations, p->allocations),
			mo_fmt_bytes(v2, sizeof(v2), s->bytes));
		break;
	case MO_BY_BYTES:
		mo__linef(t->out, "  %s allocated (%.1f%%) in %s %s",
			  mo_fmt_bytes(v1, sizeof(v1), s->bytes),
			  mo__pct(s->bytes, p->bytes_allocated),
			  mo_fmt_count(v2, sizeof(v2), s->allocations),
			  mo__plural(s->allocations, "allocation",
				     "allocations"));
		break;
	case MO_BY_TEMPORARY:
		mo__linef(
			t->out, "  %s temporary of %s %s (%.1f%%)",
			mo_fmt_count(v1, sizeof(v1), s->temporary),
			mo_fmt_count(v2, sizeof(v2), s->allocations),
			mo__plural(s->allocations, "allocation", "allocations"),
			mo__pct(s->temporary, s->allocations));
		break;
	}
}

/* One section: "TITLE: totals, top N sites" and the sites, or
 * "TITLE: none" when totals is NULL (nothing to show). */
static void mo__section(mo__text_t *t, size_t i, mo_an_key_t key,
			const char *title, const char *totals)
{
	const mo_proc_t *p = mo_an_proc(t->an, i);
	size_t n =
		totals ? mo_an_top(t->an, i, key, t->sites, t->sites_cap) : 0;

	fputc('\n', t->out);
	if (!totals) {
		mo__linef(t->out, "%s: none", title);
		return;
	}
	if (n == 0) { /* --top 0 */
		mo__linef(t->out, "%s: %s", title, totals);
		return;
	}
	mo__linef(t->out, "%s: %s, top %zu %s", title, totals, n,
		  mo__plural(n, "site", "sites"));
	for (size_t k = 0; k < n; k++) {
		mo__site_line(t, p, &t->sites[k], key);
		mo__put_stack(t, t->sites[k].stack);
	}
}

static void mo__put_sections(mo__text_t *t, size_t i)
{
	const mo_proc_t *p = mo_an_proc(t->an, i);
	char totals[128], v1[32], v2[32];

	snprintf(totals, sizeof(totals), "%s at %s",
		 mo_fmt_bytes(v1, sizeof(v1), p->peak_heap),
		 mo_fmt_duration(v2, sizeof(v2), p->peak_time_ns));
	mo__section(t, i, MO_BY_PEAK, "PEAK HEAP",
		    p->peak_heap ? totals : NULL);

	snprintf(totals, sizeof(totals), "%s in %s %s",
		 mo_fmt_bytes(v1, sizeof(v1), p->live_bytes),
		 mo_fmt_count(v2, sizeof(v2), p->live_blocks),
		 mo__plural(p->live_blocks, "block", "blocks"));
	mo__section(t, i, MO_BY_LIVE, "LIVE AT EXIT (possible leaks)",
		    p->live_bytes ? totals : NULL);

	snprintf(totals, sizeof(totals), "%s in total",
		 mo_fmt_count(v1, sizeof(v1), p->allocations));
	mo__section(t, i, MO_BY_ALLOCATIONS, "MOST ALLOCATIONS",
		    p->allocations ? totals : NULL);

	snprintf(totals, sizeof(totals), "%s in total",
		 mo_fmt_bytes(v1, sizeof(v1), p->bytes_allocated));
	mo__section(t, i, MO_BY_BYTES, "MOST BYTES ALLOCATED",
		    p->bytes_allocated ? totals : NULL);

	snprintf(totals, sizeof(totals), "%s in total",
		 mo_fmt_count(v1, sizeof(v1), p->temporary));
	mo__section(t, i, MO_BY_TEMPORARY, "MOST TEMPORARY",
		    p->temporary ? totals : NULL);
}

/* memopt's own allocators (libmemopt): one block per instance, with its
 * top call sites by bytes. */
static void mo__put_pools(mo__text_t *t, const mo_pools_t *ps)
{
	FILE *out = t->out;
	char a[32], b[32], c[32];
	mo_pool_site_t top[3];

	if (!ps || ps->n == 0)
		return;
	fputc('\n', out);
	mo__linef(out, "ALLOCATORS (libmemopt): %zu instance%s", ps->n,
		  ps->n == 1 ? "" : "s");
	for (size_t k = 0; k < ps->n; k++) {
		const mo_pool_info_t *p = &ps->v[k];
		uint64_t frag = p->reserved_at_peak - p->peak;

		mo__linef(out, "  %s \"%s\"%s", p->kind[0] ? p->kind : "?",
			  p->name, p->destroyed ? " (destroyed)" : "");
		mo__linef(out, "      %s allocations, %s frees, %s resets",
			  mo_fmt_count(a, sizeof(a), p->allocs),
			  mo_fmt_count(b, sizeof(b), p->frees),
			  mo_fmt_count(c, sizeof(c), p->resets));
		mo__linef(out,
			  "      peak %s in use, %s reserved: %s (%.1f%%) "
			  "internal fragmentation",
			  mo_fmt_bytes(a, sizeof(a), p->peak),
			  mo_fmt_bytes(b, sizeof(b), p->reserved_at_peak),
			  mo_fmt_bytes(c, sizeof(c), frag),
			  mo__pct(frag, p->reserved_at_peak));
		if (p->live)
			mo__linef(out,
				  "      live at exit: %s in %s allocation%s",
				  mo_fmt_bytes(a, sizeof(a), p->in_use),
				  mo_fmt_count(b, sizeof(b), p->live),
				  p->live == 1 ? "" : "s");
		size_t n = mo_pools_top_sites(ps, k, top, 3);
		for (size_t s = 0; s < n; s++) {
			mo__linef(
				out, "    %s in %s allocation%s",
				mo_fmt_bytes(a, sizeof(a), top[s].bytes),
				mo_fmt_count(b, sizeof(b), top[s].allocations),
				top[s].allocations == 1 ? "" : "s");
			mo__put_stack(t, top[s].stack);
		}
	}
}

static int mo__put_process(mo__text_t *t, size_t i)
{
	const mo_proc_t *p = mo_an_proc(t->an, i);
	size_t nsites = mo_an_nsites(t->an, i);
	int r;

	t->sites_cap = nsites < t->opts->top ? nsites : t->opts->top;
	free(t->sites);
	t->sites =
		malloc((t->sites_cap ? t->sites_cap : 1) * sizeof(*t->sites));
	if (!t->sites)
		return -ENOMEM;
	fputc('\n', t->out);
	mo_report_title(t->out, p);
	mo__put_status(t->out, p);
	mo__put_summary(t->out, p);
	mo__put_notes(t->out, p);
	r = mo__put_leaks(t, i);
	if (r < 0)
		return r;
	mo__put_sections(t, i);
	mo__put_pools(t, mo_an_pools(t->an, i));
	return 0;
}

/* --- header -------------------------------------------------------------- */

static void mo__put_header(FILE *out, const mo_an_t *an,
			   const mo_report_opts_t *opts)
{
	const mo_tr_damage_t *d = opts->damage;
	size_t n = mo_an_nprocs(an);
	char parts[256] = "", v[32];
	size_t len = 0;

	if (opts->trace_path)
		mo__linef(out, "memopt report: %s, %zu %s", opts->trace_path, n,
			  mo__plural(n, "process", "processes"));
	else
		mo__linef(out, "memopt report: %zu %s", n,
			  mo__plural(n, "process", "processes"));
	if (!d || (!d->corrupt_frames && !d->skipped_bytes && !d->truncated))
		return;
	if (d->corrupt_frames)
		len += (size_t)snprintf(
			parts + len, sizeof(parts) - len, ", %s corrupt %s",
			mo_fmt_count(v, sizeof(v), d->corrupt_frames),
			mo__plural(d->corrupt_frames, "frame", "frames"));
	if (d->skipped_bytes && len < sizeof(parts))
		len += (size_t)snprintf(
			parts + len, sizeof(parts) - len, ", %s skipped",
			mo_fmt_bytes(v, sizeof(v), d->skipped_bytes));
	if (d->truncated && len < sizeof(parts))
		snprintf(parts + len, sizeof(parts) - len, ", truncated");
	mo__linef(out, "warning: trace damaged: %s", parts + 2);
}

int mo_report_text(FILE *out, const mo_an_t *an, mo_sym_t *sym,
		   const mo_report_opts_t *opts)
{
	mo__text_t t = {.out = out, .an = an, .sym = sym, .opts = opts};
	int r = 0;

	mo__put_header(out, an, opts);
	for (size_t i = 0; i < mo_an_nprocs(an) && r == 0; i++)
		r = mo__put_process(&t, i);
	free(t.sites);
	if (r == 0 && (ferror(out) || fflush(out) == EOF))
		r = errno ? -errno : -EIO;
	return r;
}
