/*
 * JSON report (see memopt-report(1)).  Integers are written exactly: cJSON
 * keeps numbers as doubles, so every integer goes in as a raw decimal
 * string through mo__json_u64().
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mo_ring.h"
#include "report.h"

#define MO__MAX_INLINE 32

/* Building state: the first allocation failure is remembered and every
 * later addition is dropped, so the code reads straight through. */
typedef struct mo__json {
	const mo_an_t *an;
	mo_sym_t *sym;
	const mo_report_opts_t *opts;
	mo_site_t *sites; /* scratch for mo_an_top() */
	size_t sites_cap;
	int nomem;
} mo__json_t;

static cJSON *mo__json_u64(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_CreateRaw(buf);
}

static void mo__put(mo__json_t *j, cJSON *obj, const char *name, cJSON *item)
{
	if (!item || !obj || !cJSON_AddItemToObject(obj, name, item)) {
		cJSON_Delete(item);
		j->nomem = 1;
	}
}

static void mo__push(mo__json_t *j, cJSON *arr, cJSON *item)
{
	if (!item || !arr || !cJSON_AddItemToArray(arr, item)) {
		cJSON_Delete(item);
		j->nomem = 1;
	}
}

static void mo__put_u64(mo__json_t *j, cJSON *obj, const char *name, uint64_t v)
{
	mo__put(j, obj, name, mo__json_u64(v));
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t mo__utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n = c < 0x80		   ? 1
		   : c >= 0xc2 && c < 0xe0 ? 2
		   : c >= 0xe0 && c < 0xf0 ? 3
		   : c >= 0xf0 && c < 0xf5 ? 4
					   : 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((n == 3 && c == 0xe0 && s[1] < 0xa0) ||
	    (n == 3 && c == 0xed && s[1] >= 0xa0) ||
	    (n == 4 && c == 0xf0 && s[1] < 0x90) ||
	    (n == 4 && c == 0xf4 && s[1] >= 0x90))
		return 0; /* overlong, surrogate or beyond U+10FFFF */
	return n;
}

/* A JSON string of s, with bytes that are not UTF-8 (file names and
 * arguments may hold any bytes) replaced by U+FFFD, so the document stays
 * valid JSON. */
static cJSON *mo__json_text(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), bad = 0;
	for (size_t i = 0; i < len;) {
		size_t n = mo__utf8_len(u + i);
		bad += n == 0;
		i += n ? n : 1;
	}
	if (!bad)
		return cJSON_CreateString(s);
	char *clean = malloc(len + 2 * bad + 1), *o = clean;
	if (!clean)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = mo__utf8_len(u + i);
		if (n) {
			memcpy(o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	*o = 0;
	cJSON *str = cJSON_CreateString(clean);
	free(clean);
	return str;
}

static cJSON *mo__str_or_null(const char *s)
{
	return s ? mo__json_text(s) : cJSON_CreateNull();
}

static cJSON *mo__json_frame(mo__json_t *j, const mo_frame_t *f)
{
	cJSON *o = cJSON_CreateObject();
	char addr[24];

	snprintf(addr, sizeof(addr), "0x%" PRIx64, f->address);
	mo__put(j, o, "address", cJSON_CreateString(addr));
	mo__put(j, o, "function", mo__str_or_null(f->function));
	mo__put(j, o, "file", mo__str_or_null(f->file));
	mo__put(j, o, "line",
		f->line ? mo__json_u64(f->line) : cJSON_CreateNull());
	mo__put(j, o, "module", mo__json_text(f->module ? f->module : "?"));
	mo__put(j, o, "inlined", cJSON_CreateBool(f->inlined != 0));
	return o;
}

/* Source frames of one recorded return address, innermost first. */
static int mo__resolve(mo_sym_t *sym, const mo_rawframe_t *rf, mo_frame_t *out)
{
	return mo_supp_resolve(sym, rf, out, MO__MAX_INLINE);
}

static cJSON *mo__json_stack(mo__json_t *j, uint32_t stack)
{
	cJSON *arr = cJSON_CreateArray();
	mo_frame_t frames[MO__MAX_INLINE];
	uint32_t n;
	const mo_rawframe_t *rf = mo_an_stack(j->an, stack, &n);

	for (uint32_t i = 0; i < n; i++) {
		int nf = mo__resolve(j->sym, &rf[i], frames);
		for (int k = 0; k < nf; k++)
			mo__push(j, arr, mo__json_frame(j, &frames[k]));
	}
	return arr;
}

static cJSON *mo__json_site(mo__json_t *j, const mo_site_t *s, int at_peak)
{
	cJSON *o = cJSON_CreateObject();

	mo__put_u64(j, o, "bytes", at_peak ? s->peak_bytes : s->live_bytes);
	mo__put_u64(j, o, "blocks", at_peak ? s->peak_blocks : s->live_blocks);
	mo__put_u64(j, o, "allocations", s->allocations);
	mo__put_u64(j, o, "bytes_allocated", s->bytes);
	mo__put_u64(j, o, "temporary", s->temporary);
	mo__put(j, o, "stack", mo__json_stack(j, s->stack));
	return o;
}

static cJSON *mo__json_sites(mo__json_t *j, size_t proc, mo_an_key_t key)
{
	cJSON *arr = cJSON_CreateArray();
	size_t n = mo_an_top(j->an, proc, key, j->sites, j->sites_cap);

	for (size_t i = 0; i < n; i++)
		mo__push(j, arr,
			 mo__json_site(j, &j->sites[i], key == MO_BY_PEAK));
	return arr;
}

static cJSON *mo__json_exit(mo__json_t *j, const mo_proc_t *p)
{
	cJSON *o;

	if (p->exit_kind != MO_EXIT_CODE && p->exit_kind != MO_EXIT_SIGNAL &&
	    p->exit_kind != MO_EXIT_EXEC)
		return cJSON_CreateNull(); /* unknown */
	o = cJSON_CreateObject();
	if (p->exit_kind == MO_EXIT_CODE)
		mo__put_u64(j, o, "code", p->exit_value);
	else if (p->exit_kind == MO_EXIT_SIGNAL)
		mo__put_u64(j, o, "signal", p->exit_value);
	else
		mo__put(j, o, "exec", cJSON_CreateTrue());
	return o;
}

static cJSON *mo__json_summary(mo__json_t *j, const mo_proc_t *p)
{
	cJSON *o = cJSON_CreateObject();

	mo__put_u64(j, o, "allocations", p->allocations);
	mo__put_u64(j, o, "frees", p->frees);
	mo__put_u64(j, o, "bytes_allocated", p->bytes_allocated);
	mo__put_u64(j, o, "peak_heap_bytes", p->peak_heap);
	mo__put_u64(j, o, "peak_rss_bytes", p->peak_rss);
	mo__put_u64(j, o, "leaked_bytes", p->live_bytes);
	mo__put_u64(j, o, "leaked_blocks", p->live_blocks);
	mo__put_u64(j, o, "temporary_allocations", p->temporary);
	mo__put_u64(j, o, "runtime_ms", p->runtime_ns / 1000000);
	return o;
}

static cJSON *mo__json_total(mo__json_t *j, const mo_leak_total_t *t)
{
	cJSON *o = cJSON_CreateObject();

	mo__put_u64(j, o, "bytes", t->bytes);
	mo__put_u64(j, o, "blocks", t->blocks);
	return o;
}

/* "leak_summary" (null without leak data) and "leaks" of process i. */
static void mo__json_leaks(mo__json_t *j, cJSON *o, size_t i)
{
	const mo_report_opts_t *opts = j->opts;
	cJSON *sum, *arr = cJSON_CreateArray();
	mo_leaks_t l;

	if (mo_supp_leaks(opts->supp, j->an, j->sym, i, &l) < 0) {
		j->nomem = 1;
		cJSON_Delete(arr);
		return;
	}
	if (!l.present) {
		mo__put(j, o, "leak_summary", cJSON_CreateNull());
		mo__put(j, o, "leaks", arr);
		return;
	}
	sum = cJSON_CreateObject();
	for (int k = MO_LEAK_DEFINITE; k >= MO_LEAK_REACHABLE; k--)
		mo__put(j, sum, mo_supp_kind_key(k),
			mo__json_total(j, &l.kind[k]));
	mo__put(j, sum, "suppressed", mo__json_total(j, &l.suppressed));
	mo__put(j, o, "leak_summary", sum);
	for (size_t k = 0; k < l.n && !j->nomem; k++) {
		const mo_leak_rec_t *r = &l.recs[k];
		cJSON *rec;

		if (!(opts->leak_kinds & MO_LEAK_BIT(r->loss.kind)) ||
		    (r->supp >= 0 && !opts->show_suppressed))
			continue;
		rec = cJSON_CreateObject();
		mo__put(j, rec, "kind",
			cJSON_CreateString(mo_supp_kind_key(r->loss.kind)));
		mo__put_u64(j, rec, "bytes", r->loss.bytes);
		mo__put_u64(j, rec, "blocks", r->loss.blocks);
		mo__put(j, rec, "suppressed", cJSON_CreateBool(r->supp >= 0));
		mo__put(j, rec, "stack", mo__json_stack(j, r->loss.stack));
		mo__push(j, arr, rec);
	}
	mo__put(j, o, "leaks", arr);
	mo_supp_leaks_free(&l);
}

/* An instance's call sites, most bytes first (as many as --top). */
static cJSON *mo__json_pool_sites(mo__json_t *j, const mo_pools_t *ps, size_t k)
{
	cJSON *arr = cJSON_CreateArray();
	size_t cap = j->opts->top ? j->opts->top : 1;
	mo_pool_site_t *top = malloc(cap * sizeof(*top));

	if (!top) {
		j->nomem = 1;
		return arr;
	}
	size_t n = mo_pools_top_sites(ps, k, top, cap);
	for (size_t s = 0; s < n && !j->nomem; s++) {
		cJSON *o = cJSON_CreateObject();
		mo__put_u64(j, o, "allocations", top[s].allocations);
		mo__put_u64(j, o, "bytes", top[s].bytes);
		mo__put(j, o, "stack", mo__json_stack(j, top[s].stack));
		mo__push(j, arr, o);
	}
	free(top);
	return arr;
}

/* "allocators": memopt's own allocator instances (libmemopt). */
static cJSON *mo__json_pools(mo__json_t *j, size_t i)
{
	const mo_pools_t *ps = mo_an_pools(j->an, i);
	cJSON *arr = cJSON_CreateArray();

	for (size_t k = 0; ps && k < ps->n && !j->nomem; k++) {
		const mo_pool_info_t *p = &ps->v[k];
		cJSON *o = cJSON_CreateObject();

		mo__put(j, o, "kind", mo__json_text(p->kind));
		mo__put(j, o, "name", mo__json_text(p->name));
		mo__put_u64(j, o, "allocations", p->allocs);
		mo__put_u64(j, o, "frees", p->frees);
		mo__put_u64(j, o, "resets", p->resets);
		mo__put_u64(j, o, "peak_bytes", p->peak);
		mo__put_u64(j, o, "peak_reserved_bytes", p->reserved_at_peak);
		mo__put_u64(j, o, "internal_fragmentation_bytes",
			    p->reserved_at_peak - p->peak);
		mo__put_u64(j, o, "live_bytes", p->in_use);
		mo__put_u64(j, o, "live_allocations", p->live);
		mo__put(j, o, "destroyed", cJSON_CreateBool(p->destroyed));
		mo__put(j, o, "sites", mo__json_pool_sites(j, ps, k));
		mo__push(j, arr, o);
	}
	return arr;
}

static cJSON *mo__json_scan(mo__json_t *j, const mo_proc_t *p)
{
	cJSON *o;

	if (!p->has_leaks)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	mo__put_u64(j, o, "threads", p->leak_threads);
	mo__put_u64(j, o, "scanned_blocks", p->leak_scanned);
	mo__put(j, o, "at_exit",
		cJSON_CreateBool((p->leak_flags & MO_SCAN_AT_EXIT) != 0));
	mo__put(j, o, "at_signal",
		cJSON_CreateBool((p->leak_flags & MO_SCAN_AT_SIGNAL) != 0));
	mo__put(j, o, "partial",
		cJSON_CreateBool((p->leak_flags & MO_SCAN_PARTIAL) != 0));
	return o;
}

static cJSON *mo__json_diagnostics(mo__json_t *j, const mo_proc_t *p)
{
	cJSON *o = cJSON_CreateObject();

	mo__put_u64(j, o, "unmatched_frees", p->unmatched_frees);
	mo__put_u64(j, o, "lost_bytes", p->lost_bytes);
	mo__put_u64(j, o, "double_allocs", p->double_allocs);
	mo__put_u64(j, o, "unknown_stacks", p->unknown_stacks);
	mo__put(j, o, "ended", cJSON_CreateBool(p->ended != 0));
	mo__put(j, o, "leak_scan", mo__json_scan(j, p));
	mo__put_u64(j, o, "bad_leak_records", p->leak_bad_records);
	mo__put_u64(j, o, "unknown_leak_blocks", p->leak_unknown_blocks);
	return o;
}

static cJSON *mo__json_process(mo__json_t *j, size_t i)
{
	const mo_proc_t *p = mo_an_proc(j->an, i);
	cJSON *o = cJSON_CreateObject(), *argv = cJSON_CreateArray();
	cJSON *peak = cJSON_CreateObject();
	size_t nsites = mo_an_nsites(j->an, i);

	j->sites_cap = nsites < j->opts->top ? nsites : j->opts->top;
	free(j->sites);
	j->sites =
		malloc((j->sites_cap ? j->sites_cap : 1) * sizeof(*j->sites));
	if (!j->sites) {
		j->sites_cap = 0;
		j->nomem = 1;
	}
	mo__put_u64(j, o, "pid", p->pid);
	mo__put_u64(j, o, "ppid", p->ppid);
	mo__put(j, o, "forked", cJSON_CreateBool(p->forked != 0));
	for (uint32_t k = 0; k < p->argc; k++)
		mo__push(j, argv, mo__json_text(p->argv[k]));
	mo__put(j, o, "command", argv);
	mo__put(j, o, "exe", mo__str_or_null(p->exe));
	mo__put(j, o, "exit", mo__json_exit(j, p));
	mo__put(j, o, "summary", mo__json_summary(j, p));
	mo__put_u64(j, peak, "time_ms", p->peak_time_ns / 1000000);
	mo__put(j, peak, "sites", mo__json_sites(j, i, MO_BY_PEAK));
	mo__put(j, o, "peak", peak);
	mo__put(j, o, "live_at_exit", mo__json_sites(j, i, MO_BY_LIVE));
	mo__json_leaks(j, o, i);
	mo__put(j, o, "top_allocations",
		mo__json_sites(j, i, MO_BY_ALLOCATIONS));
	mo__put(j, o, "top_bytes", mo__json_sites(j, i, MO_BY_BYTES));
	mo__put(j, o, "top_temporary", mo__json_sites(j, i, MO_BY_TEMPORARY));
	mo__put(j, o, "allocators", mo__json_pools(j, i));
	mo__put(j, o, "diagnostics", mo__json_diagnostics(j, p));
	return o;
}

static cJSON *mo__json_damage(mo__json_t *j, const mo_tr_damage_t *d)
{
	cJSON *o;

	if (!d || (!d->corrupt_frames && !d->skipped_bytes && !d->truncated))
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	mo__put_u64(j, o, "corrupt_frames", d->corrupt_frames);
	mo__put_u64(j, o, "skipped_bytes", d->skipped_bytes);
	mo__put(j, o, "truncated", cJSON_CreateBool(d->truncated != 0));
	return o;
}

static cJSON *mo__json_document(mo__json_t *j)
{
	const mo_report_opts_t *opts = j->opts;
	cJSON *doc = cJSON_CreateObject(), *procs = cJSON_CreateArray();

	mo__put(j, doc, "memopt_version", cJSON_CreateString(PACKAGE_VERSION));
	if (opts->format_major) {
		cJSON *fmt = cJSON_CreateObject();
		mo__put_u64(j, fmt, "major", opts->format_major);
		mo__put_u64(j, fmt, "minor", opts->format_minor);
		mo__put(j, doc, "format", fmt);
	}
	mo__put(j, doc, "trace", mo__str_or_null(opts->trace_path));
	mo__put(j, doc, "damage", mo__json_damage(j, opts->damage));
	for (size_t i = 0; i < mo_an_nprocs(j->an) && !j->nomem; i++)
		mo__push(j, procs, mo__json_process(j, i));
	mo__put(j, doc, "processes", procs);
	return doc;
}

int mo_report_json(FILE *out, const mo_an_t *an, mo_sym_t *sym,
		   const mo_report_opts_t *opts)
{
	mo__json_t j = {.an = an, .sym = sym, .opts = opts};
	cJSON *doc = mo__json_document(&j);
	char *text = NULL;
	int r = 0;

	free(j.sites);
	if (j.nomem || !doc || !(text = cJSON_Print(doc))) {
		r = -ENOMEM;
		goto out;
	}
	if (fputs(text, out) == EOF || fputc('\n', out) == EOF ||
	    fflush(out) == EOF)
		r = errno ? -errno : -EIO;
out:
	free(text);
	cJSON_Delete(doc);
	return r;
}
