/*
 * memopt's own allocators in traces (src/pools.c), and end to end: hooks
 * in libmemopt -> tracker -> collector -> report.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/trace_format.h>

#include "pools.h"
#include "run_util.h"

static mo_event_t ev_of(int type, const uint8_t *pay, size_t len)
{
	mo_event_t e = {.type = type};
	e.u.ext.len = (uint32_t)len;
	e.u.ext.data = pay;
	return e;
}

/* Feeds one record with up to five uv fields and optional strings. */
static void feed(mo_pools_t *p, int type, const uint64_t *v, int n,
		 const char *kind, const char *name)
{
	uint8_t pay[128], *q = pay;
	for (int i = 0; i < n; i++)
		q = mo_put_uv(q, v[i]);
	if (kind) {
		q = mo_put_str(q, kind, strlen(kind));
		q = mo_put_str(q, name, strlen(name));
	}
	mo_event_t e = ev_of(type, pay, (size_t)(q - pay));
	cr_assert_eq(mo_pools_feed(p, &e), 0);
}

Test(pools, counts_peak_and_fragmentation)
{
	mo_pools_t p;
	mo_pools_init(&p);
	feed(&p, MO_REC_POOL_CREATE, (uint64_t[]){0xa}, 1, "pool", "nodes");
	for (uint64_t i = 0; i < 3; i++)
		feed(&p, MO_REC_POOL_ALLOC,
		     (uint64_t[]){0xa, 0x100 + i * 32, 20, 32, 7}, 5, NULL,
		     NULL);
	feed(&p, MO_REC_POOL_FREE, (uint64_t[]){0xa, 0x100, 20}, 3, NULL, NULL);
	feed(&p, MO_REC_POOL_FREE, (uint64_t[]){0xa, 0x999, 20}, 3, NULL,
	     NULL); /* never handed out */
	feed(&p, MO_REC_POOL_ALLOC, (uint64_t[]){0xa, 0x200, 10, 16, 7}, 5,
	     NULL, NULL);
	cr_assert_eq(p.n, 1);
	const mo_pool_info_t *i = &p.v[0];
	cr_expect_str_eq(i->kind, "pool");
	cr_expect_str_eq(i->name, "nodes");
	cr_expect_eq(i->allocs, 4);
	cr_expect_eq(i->frees, 2);
	cr_expect_eq(i->unmatched_frees, 1);
	cr_expect_eq(i->live, 3);
	cr_expect_eq(i->in_use, 50);
	cr_expect_eq(i->reserved, 80);
	cr_expect_eq(i->peak, 60);
	cr_expect_eq(i->reserved_at_peak, 96);
	/* a reset frees everything; a destroyed instance's address can be
	 * a new instance */
	feed(&p, MO_REC_POOL_RESET, (uint64_t[]){0xa}, 1, NULL, NULL);
	cr_expect_eq(i->resets, 1);
	cr_expect_eq(i->live, 0);
	cr_expect_eq(i->in_use, 0);
	feed(&p, MO_REC_POOL_DESTROY, (uint64_t[]){0xa}, 1, NULL, NULL);
	feed(&p, MO_REC_POOL_CREATE, (uint64_t[]){0xa}, 1, "arena", "x");
	cr_assert_eq(p.n, 2);
	cr_expect(p.v[0].destroyed);
	cr_expect_str_eq(p.v[1].kind, "arena");
	/* an event for an instance never created makes an unnamed one */
	feed(&p, MO_REC_POOL_ALLOC, (uint64_t[]){0xb, 0x1, 1, 1, 0}, 5, NULL,
	     NULL);
	cr_assert_eq(p.n, 3);
	cr_expect_str_eq(p.v[2].kind, "");
	cr_expect_eq(p.v[2].allocs, 1);
	cr_expect_eq(p.bad_records, 0);
	mo_pools_free(&p);
}

/* A rewind says what stays live; a survivor's free then counts. */
Test(pools, rewind_levels)
{
	mo_pools_t p;
	mo_pools_init(&p);
	feed(&p, MO_REC_POOL_CREATE, (uint64_t[]){0xc}, 1, "arena", "a");
	for (uint64_t k = 0; k < 4; k++)
		feed(&p, MO_REC_POOL_ALLOC,
		     (uint64_t[]){0xc, 0x100 + k * 64, 50, 64, 1}, 5, NULL,
		     NULL);
	feed(&p, MO_REC_POOL_RESET, (uint64_t[]){0xc, 100, 128, 2}, 4, NULL,
	     NULL);
	const mo_pool_info_t *i = &p.v[0];
	cr_expect_eq(i->resets, 1);
	cr_expect_eq(i->in_use, 100);
	cr_expect_eq(i->reserved, 128);
	cr_expect_eq(i->live, 2);
	cr_expect_eq(i->peak, 200);
	feed(&p, MO_REC_POOL_FREE, (uint64_t[]){0xc, 0x140, 50}, 3, NULL, NULL);
	cr_expect_eq(i->in_use, 50);
	cr_expect_eq(i->live, 1);
	cr_expect_eq(i->unmatched_frees, 0);
	mo_pools_free(&p);
}

Test(pools, malformed_payloads_are_counted)
{
	mo_pools_t p;
	static const uint8_t cut[] = {0x80};
	static const uint8_t longstr[] = {0x0a, 9, 'a'};
	mo_pools_init(&p);
	mo_event_t e = ev_of(MO_REC_POOL_FREE, cut, sizeof(cut));
	cr_assert_eq(mo_pools_feed(&p, &e), 0);
	e = ev_of(MO_REC_POOL_CREATE, longstr, sizeof(longstr));
	cr_assert_eq(mo_pools_feed(&p, &e), 0);
	e = ev_of(MO_REC_POOL_ALLOC, longstr, 1); /* fields missing */
	cr_assert_eq(mo_pools_feed(&p, &e), 0);
	cr_expect_eq(p.bad_records, 3);
	cr_expect_eq(p.n, 0);
	mo_pools_free(&p);
}

static const cJSON *find_allocator(const cJSON *proc, const char *name)
{
	const cJSON *a, *arr = mo_run_json_get(proc, "allocators");
	cr_assert(cJSON_IsArray(arr));
	cJSON_ArrayForEach(a, arr)
	{
		const cJSON *n = cJSON_GetObjectItem(a, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return a;
	}
	cr_assert_fail("no allocator named %s", name);
	return NULL;
}

Test(pools, recorded_end_to_end, .timeout = 60)
{
	char *dir = mo_run_mkdtemp("pools");
	char *memopt = mo_run_build_path("cli/memopt");
	char *prog = mo_run_build_path("tests/programs/tp_pools");
	mo_run_result_t res;
	const char *rec[] = {memopt,   "record", "-q", "-o",
			     "t.data", prog,	 NULL};
	const char *rep[] = {memopt, "report", "--json", "-i", "t.data", NULL};
	mo_run_opts_t o = {.cwd = dir};

	cr_assert_eq(mo_run(rec, &o, &res), 0);
	cr_assert_eq(mo_run_exit_code(res.status), 0, "%s", res.err);
	mo_run_result_free(&res);
	cr_assert_eq(mo_run(rep, &o, &res), 0);
	cr_assert_eq(mo_run_exit_code(res.status), 0, "%s", res.err);
	cJSON *doc = mo_run_json_parse(res.out, res.out_len);
	cr_assert_not_null(doc);
	const cJSON *p =
		cJSON_GetArrayItem(mo_run_json_get(doc, "processes"), 0);
	const cJSON *a = find_allocator(p, "nodes");
	cr_expect_str_eq(mo_run_json_get(a, "kind")->valuestring, "pool");
	cr_expect_eq(mo_run_json_int(a, "allocations"), 10);
	cr_expect_eq(mo_run_json_int(a, "frees"), 4);
	cr_expect_eq(mo_run_json_int(a, "resets"), 0);
	cr_expect_eq(mo_run_json_int(a, "peak_bytes"), 480);
	cr_expect_eq(mo_run_json_int(a, "peak_reserved_bytes"), 640);
	cr_expect_eq(mo_run_json_int(a, "internal_fragmentation_bytes"), 160);
	cr_expect_eq(mo_run_json_int(a, "live_bytes"), 288);
	cr_expect_eq(mo_run_json_int(a, "live_allocations"), 6);
	/* one call site: main, the hooks' caller, is its first frame */
	const cJSON *sites = mo_run_json_get(a, "sites");
	cr_assert_eq(cJSON_GetArraySize(sites), 1);
	const cJSON *site = cJSON_GetArrayItem(sites, 0);
	cr_expect_eq(mo_run_json_int(site, "allocations"), 10);
	cr_expect_eq(mo_run_json_int(site, "bytes"), 480);
	cr_expect(mo_run_site_has_function(site, "main", 0),
		  "the site's stack shows main");
	a = find_allocator(p, "frame");
	cr_expect_str_eq(mo_run_json_get(a, "kind")->valuestring, "arena");
	cr_expect_eq(mo_run_json_int(a, "allocations"), 3);
	cr_expect_eq(mo_run_json_int(a, "resets"), 1);
	cr_expect_eq(mo_run_json_int(a, "peak_bytes"), 60);
	cr_expect_eq(mo_run_json_int(a, "internal_fragmentation_bytes"), 12);
	cr_expect_eq(mo_run_json_int(a, "live_bytes"), 0);
	cr_expect(cJSON_IsTrue(mo_run_json_get(a, "destroyed")));
	a = find_allocator(p, "scratch");
	cr_expect_eq(mo_run_json_int(a, "allocations"), 3);
	cr_expect_eq(mo_run_json_int(a, "frees"), 1);
	cr_expect_eq(mo_run_json_int(a, "resets"), 1);
	cr_expect_eq(mo_run_json_int(a, "peak_bytes"), 300);
	cr_expect_eq(mo_run_json_int(a, "internal_fragmentation_bytes"), 96);
	cr_expect_eq(mo_run_json_int(a, "live_bytes"), 0);
	cr_expect_eq(mo_run_json_int(a, "live_allocations"), 0);
	cJSON_Delete(doc);
	mo_run_result_free(&res);
	mo_run_rmtree(dir);
	free(dir);
	free(memopt);
	free(prog);
}
