/*
 * Fixed-size pool (lib/alloc/pool.c, memopt/pool.h): exact statistics,
 * growth, maximum, alignment, reset, a randomized model test, the debug
 * mode's misuse reports and poisoning, the typed wrappers and the hooks.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/pool.h>

#include "alloc_test_util.h"

static mo_pool_t *mk(size_t size, size_t align, size_t chunk, size_t max,
		     unsigned flags)
{
	mo_pool_opts_t o = {.obj_size = size,
			    .align = align,
			    .chunk_objs = chunk,
			    .max_objs = max,
			    .flags = flags,
			    .name = "test"};
	mo_pool_t *p = NULL;

	cr_assert_eq(mo_pool_create(&p, &o), 0);
	return p;
}

Test(pool, create_errors)
{
	mo_pool_t *p = NULL;
	mo_pool_opts_t o = {.obj_size = 0};

	cr_expect_eq(mo_pool_create(&p, &o), -EINVAL);
	o.obj_size = 8;
	o.align = 24;
	cr_expect_eq(mo_pool_create(&p, &o), -EINVAL);
	o.align = 8192;
	cr_expect_eq(mo_pool_create(&p, &o), -EINVAL);
	o.align = 64;
	o.obj_size = SIZE_MAX - 8;
	cr_expect_eq(mo_pool_create(&p, &o), -EOVERFLOW);
	o.obj_size = 8;
	o.chunk_objs = SIZE_MAX / 4;
	cr_expect_eq(mo_pool_create(&p, &o), -EOVERFLOW, "chunk too large");
	cr_expect_null(p);
	cr_expect_eq(mo_pool_create(&p, NULL), -EINVAL);
	mo_pool_destroy(NULL);
}

Test(pool, exact_stats)
{
	mo_pool_t *p = mk(24, 0, 4, 0, 0); /* align 16: stride 32 */
	mo_alloc_stats_t st;
	void *o[5];

	cr_expect_str_eq(mo_pool_name(p), "test");
	mo_pool_stats(p, &st);
	cr_expect_eq(st.capacity, 0, "no memory before the first alloc");
	cr_expect_eq(mo_pool_chunks(p), 0);
	for (int i = 0; i < 5; i++)
		cr_assert_not_null(o[i] = mo_pool_alloc(p));
	mo_pool_free(p, o[1]);
	mo_pool_free(p, o[3]);
	mo_pool_stats(p, &st);
	cr_expect_eq(st.live, 3);
	cr_expect_eq(st.in_use, 72);
	cr_expect_eq(st.peak, 120);
	cr_expect_eq(st.capacity, 256, "two chunks of 4 x 32 bytes");
	cr_expect_eq(st.internal_frag, 24);
	cr_expect_eq(st.allocs, 5);
	cr_expect_eq(st.frees, 2);
	cr_expect_eq(st.failures, 0);
	cr_expect_eq(st.resets, 0);
	cr_expect_eq(mo_pool_chunks(p), 2);
	/* LIFO reuse */
	cr_expect_eq(mo_pool_alloc(p), o[3]);
	cr_expect_eq(mo_pool_alloc(p), o[1]);
	mo_pool_free(p, NULL);
	mo_pool_stats(p, &st);
	cr_expect_eq(st.frees, 2, "free(NULL) is not counted");
	mo_pool_destroy(p);
}

Test(pool, growth_by_chunks)
{
	mo_pool_opts_t o = {.obj_size = 16,
			    .chunk_objs = 4,
			    .max_chunk_objs = 16,
			    .flags = MO_POOL_GROW_DOUBLE};
	mo_pool_t *p = NULL;
	mo_alloc_stats_t st;
	size_t expect_chunks[] = {1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3};

	cr_assert_eq(mo_pool_create(&p, &o), 0);
	cr_expect_null(mo_pool_name(p));
	for (size_t i = 0; i < 13; i++) {
		cr_assert_not_null(mo_pool_alloc(p));
		cr_expect_eq(mo_pool_chunks(p), expect_chunks[i], "alloc %zu",
			     i);
	}
	/* 4 + 8 + 16 + 16 + 16 */
	for (size_t i = 13; i < 60; i++)
		cr_assert_not_null(mo_pool_alloc(p));
	cr_expect_eq(mo_pool_chunks(p), 5);
	mo_pool_stats(p, &st);
	cr_expect_eq(st.capacity, 60 * 16);
	mo_pool_destroy(p);

	/* fixed chunks */
	p = mk(16, 0, 10, 0, 0);
	for (size_t i = 0; i < 35; i++)
		cr_assert_not_null(mo_pool_alloc(p));
	cr_expect_eq(mo_pool_chunks(p), 4);
	mo_pool_stats(p, &st);
	cr_expect_eq(st.capacity, 40 * 16);
	mo_pool_destroy(p);

	/* the default chunk fills 4 KiB */
	p = mk(64, 0, 0, 0, 0);
	cr_assert_not_null(mo_pool_alloc(p));
	mo_pool_stats(p, &st);
	cr_expect_eq(st.capacity, 4096);
	mo_pool_destroy(p);
}

Test(pool, maximum)
{
	mo_pool_t *p = mk(8, 0, 4, 10, 0);
	mo_alloc_stats_t st;
	void *o[10];

	for (int i = 0; i < 10; i++)
		cr_assert_not_null(o[i] = mo_pool_alloc(p));
	cr_expect_null(mo_pool_alloc(p));
	cr_expect_null(mo_pool_alloc(p));
	cr_expect_eq(mo_pool_chunks(p), 3, "4 + 4 + 2 objects");
	mo_pool_stats(p, &st);
	cr_expect_eq(st.failures, 2);
	cr_expect_eq(st.allocs, 10);
	cr_expect_eq(st.capacity, 80);
	mo_pool_free(p, o[4]);
	cr_expect_eq(mo_pool_alloc(p), o[4]);
	cr_expect_null(mo_pool_alloc(p));
	mo_pool_destroy(p);
}

Test(pool, alignment)
{
	size_t aligns[] = {0, 8, 16, 32, 64, 128, 256, 4096};
	size_t sizes[] = {1, 8, 24, 100, 1000};

	for (size_t a = 0; a < sizeof(aligns) / sizeof(*aligns); a++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
			size_t al = aligns[a];
			mo_pool_t *p = mk(sizes[s], al, 7, 0,
					  a % 2 ? MO_POOL_GROW_DOUBLE : 0);
			if (!al)
				al = sizes[s] >= 16 ? 16 : 8;
			for (int i = 0; i < 300; i++) {
				char *o = mo_pool_alloc(p);
				cr_assert_not_null(o);
				cr_assert_eq((uintptr_t)o % al, 0,
					     "size %zu align %zu", sizes[s],
					     al);
				memset(o, 0xA5, sizes[s]);
			}
			mo_pool_destroy(p);
		}
	}
}

Test(pool, reset_keeps_chunks)
{
	mo_pool_t *p = mk(40, 0, 8, 0, 0);
	mo_alloc_stats_t st;
	void *first[20], *again[20];

	for (int i = 0; i < 20; i++)
		first[i] = mo_pool_alloc(p);
	mo_pool_free(p, first[5]);
	mo_pool_reset(p);
	mo_pool_stats(p, &st);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.in_use, 0);
	cr_expect_eq(st.internal_frag, 0);
	cr_expect_eq(st.peak, 20 * 40);
	cr_expect_eq(st.capacity, 24 * 48);
	cr_expect_eq(st.resets, 1);
	cr_expect_eq(st.allocs, 20);
	cr_expect_eq(st.frees, 1);
	for (int i = 0; i < 20; i++)
		again[i] = mo_pool_alloc(p);
	cr_expect_eq(mo_pool_chunks(p), 3, "no new chunk after reset");
	cr_expect_arr_eq(first, again, sizeof(first), "same order");
	for (int i = 20; i < 25; i++)
		cr_assert_not_null(mo_pool_alloc(p));
	cr_expect_eq(mo_pool_chunks(p), 4);
	mo_pool_stats(p, &st);
	cr_expect_eq(st.live, 25);
	cr_expect_eq(st.peak, 25 * 40);
	mo_pool_destroy(p);

	p = mk(40, 0, 8, 0, 0);
	mo_pool_reset(p); /* empty pool */
	cr_assert_not_null(mo_pool_alloc(p));
	mo_pool_destroy(p);
}

/* --- randomized model test ------------------------------------------------ */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	return xorshift(&rng_state);
}

#define SLOTS 3000

static void model_run(size_t size, size_t align, size_t max, unsigned flags,
		      long ops)
{
	mo_pool_opts_t o = {.obj_size = size,
			    .align = align,
			    .chunk_objs = 16,
			    .max_chunk_objs = 512,
			    .max_objs = max,
			    .flags = flags};
	static void *slot[SLOTS];
	static uint64_t id[SLOTS];
	static uintptr_t sorted[SLOTS];
	mo_alloc_stats_t m = {0}, st;
	mo_pool_t *p = NULL;
	uint64_t next_id = 1;

	memset(slot, 0, sizeof(slot));
	cr_assert_eq(mo_pool_create(&p, &o), 0);
	for (long op = 0; op < ops; op++) {
		size_t i = rnd() % SLOTS;
		if (op % 50000 == 49999) {
			mo_pool_reset(p);
			memset(slot, 0, sizeof(slot));
			m.live = 0;
			m.resets++;
		} else if (slot[i]) {
			cr_assert(check(slot[i], size, id[i]),
				  "contents of object %zu", i);
			mo_pool_free(p, slot[i]);
			slot[i] = NULL;
			m.live--;
			m.frees++;
		} else {
			void *q = mo_pool_alloc(p);
			if (max && m.live == max) {
				cr_assert_null(q);
				m.failures++;
				continue;
			}
			cr_assert_not_null(q);
			cr_assert_eq((uintptr_t)q % align, 0);
			slot[i] = q;
			id[i] = next_id++;
			fill(q, size, id[i]);
			m.live++;
			m.allocs++;
			if (m.live > m.peak)
				m.peak = m.live;
		}
		if (op % 1000 == 0 || op == ops - 1) {
			size_t n = 0;
			mo_pool_stats(p, &st);
			cr_assert_eq(st.live, m.live);
			cr_assert_eq(st.in_use, m.live * size);
			cr_assert_eq(st.peak, m.peak * size);
			cr_assert_eq(st.allocs, m.allocs);
			cr_assert_eq(st.frees, m.frees);
			cr_assert_eq(st.failures, m.failures);
			cr_assert_eq(st.resets, m.resets);
			cr_assert_geq(st.capacity,
				      st.in_use + st.internal_frag);
			if (max)
				cr_assert_leq(st.capacity,
					      max * ((size + align - 1) &
						     ~(align - 1)));
			for (size_t k = 0; k < SLOTS; k++)
				if (slot[k])
					sorted[n++] = (uintptr_t)slot[k];
			qsort(sorted, n, sizeof(*sorted), cmp_ptr);
			for (size_t k = 1; k < n; k++)
				cr_assert_geq(sorted[k] - sorted[k - 1], size,
					      "objects overlap");
		}
	}
	mo_pool_destroy(p);
}

Test(pool, model_random)
{
	model_run(40, 8, 0, 0, 300000);
	model_run(24, 64, 0, MO_POOL_GROW_DOUBLE, 200000);
	model_run(8, 8, 1000, 0, 200000);
}

Test(pool, model_random_debug)
{
	model_run(48, 16, 0, MO_ALLOC_DEBUG, 200000);
	model_run(16, 32, 1200, MO_ALLOC_DEBUG | MO_POOL_GROW_DOUBLE, 100000);
}

/* --- debug mode -------------------------------------------------------------
 */

static const char *expect_msg(const char *fmt, const void *p)
{
	static char buf[256];
	char what[200];

	snprintf(what, sizeof(what), fmt, p);
	snprintf(buf, sizeof(buf), "pool|test|%s", what);
	return buf;
}

/* Without debug mode, the one check: more frees than objects. */
Test(pool, more_frees_than_objects)
{
	mo_pool_t *p = mk(32, 0, 2, 0, 0);
	void *a = mo_pool_alloc(p);
	char want[128];

	if (p->debug) { /* --enable-alloc-debug: every double free is seen */
		mo_pool_destroy(p);
		cr_skip_test("the library was built with every debug check on");
	}
	setup_handler();
	mo_pool_free(p, a);
	mo_pool_free(p, a); /* unnoticed: the stack has room */
	cr_expect_eq(nseen, 0);
	mo_pool_free(p, a);
	snprintf(want, sizeof(want),
		 "pool|test|free of %p, with every object already free", a);
	cr_expect_str_eq(seen, want);
	cr_expect_eq(nseen, 1);
	teardown_handler();
	mo_pool_destroy(p);
}

Test(pool, misuse_messages)
{
	mo_pool_t *p = mk(32, 0, 8, 0, MO_ALLOC_DEBUG);
	mo_alloc_stats_t st;
	char *a, *b;
	void *local[4];

	mo_alloc_set_misuse_handler(record_misuse);
	a = mo_pool_alloc(p);
	b = mo_pool_alloc(p);
	mo_pool_free(p, a);
	mo_pool_free(p, a);
	cr_expect_str_eq(seen, expect_msg("double free of %p", a));
	mo_pool_free(p, local);
	cr_expect_str_eq(seen, expect_msg("free of foreign pointer %p", local));
	mo_pool_free(p, b + 8);
	cr_expect_str_eq(
		seen, expect_msg("free of %p, 8 bytes into an object", b + 8));
	mo_pool_free(p, b + 64);
	cr_expect_str_eq(
		seen, expect_msg("free of %p, which is not allocated", b + 64));
	cr_expect_eq(nseen, 4);
	mo_pool_stats(p, &st);
	cr_expect_eq(st.frees, 1, "bad frees are ignored");
	cr_expect_eq(st.live, 1);

	/* a write after free is found when the object is reused */
	a[10] = 1;
	cr_expect_eq(mo_pool_alloc(p), a);
	cr_expect_str_eq(seen, expect_msg("object %p modified after free "
					  "(byte 10)",
					  a));
	cr_expect_eq(nseen, 5);
	mo_pool_free(p, b);
	mo_pool_free(p, a);
	cr_expect_eq(nseen, 5);

	/* after a reset every object is free */
	mo_pool_reset(p);
	mo_pool_free(p, a);
	cr_expect_str_eq(seen,
			 expect_msg("free of %p, which is not allocated", a));
	mo_alloc_set_misuse_handler(NULL);
	mo_pool_destroy(p);
}

Test(pool, misuse_aborts_by_default, .signal = SIGABRT)
{
	mo_pool_t *p = mk(32, 0, 8, 0, MO_ALLOC_DEBUG);
	void *a = mo_pool_alloc(p);

	mo_pool_free(p, a);
	mo_pool_free(p, a);
}

Test(pool, debug_poisoning)
{
	mo_pool_t *p = mk(40, 0, 4, 0, MO_ALLOC_DEBUG);
	unsigned char *a = mo_pool_alloc(p), *b;

	for (size_t i = 0; i < 40; i++)
		cr_expect_eq(a[i], 0xDB, "fresh byte %zu", i);
	memset(a, 0x11, 40);
	mo_pool_free(p, a);
	for (size_t i = sizeof(void *); i < 48; i++)
		cr_expect_eq(a[i], 0xDB, "freed byte %zu", i);
	b = mo_pool_alloc(p);
	cr_expect_eq(b, a);
	for (size_t i = 0; i < 40; i++)
		cr_expect_eq(b[i], 0xDB, "reused byte %zu", i);
	memset(b, 0x22, 40);
	mo_pool_reset(p);
	for (size_t i = 0; i < 40; i++)
		cr_expect_eq(b[i], 0xDB, "byte %zu after reset", i);
	mo_pool_destroy(p);
}

/* --- typed pool -------------------------------------------------------------
 */

struct node {
	struct node *next;
	int key;
	_Alignas(64) char payload[10];
};

MO_POOL_TYPED(node_pool, struct node);

Test(pool, typed)
{
	node_pool_t *np = NULL;
	mo_alloc_stats_t st;
	struct node *a, *b;

	cr_assert_eq(node_pool_create(&np, NULL), 0);
	cr_expect_str_eq(mo_pool_name(node_pool_pool(np)), "node_pool");
	a = node_pool_alloc(np);
	cr_assert_not_null(a);
	cr_expect_eq((uintptr_t)a % 64, 0);
	a->key = 7;
	a->next = NULL;
	node_pool_free(np, a);
	b = node_pool_new(np);
	cr_assert_eq(b, a);
	cr_expect_eq(b->key, 0);
	cr_expect_null(b->next);
	node_pool_stats(np, &st);
	cr_expect_eq(st.live, 1);
	cr_expect_eq(st.in_use, sizeof(struct node));
	cr_expect_eq(st.allocs, 2);
	node_pool_reset(np);
	node_pool_stats(np, &st);
	cr_expect_eq(st.live, 0);
	node_pool_destroy(np);

	mo_pool_opts_t o = {.chunk_objs = 2, .max_objs = 3, .name = "nodes"};
	cr_assert_eq(node_pool_create(&np, &o), 0);
	cr_expect_str_eq(mo_pool_name(node_pool_pool(np)), "nodes");
	for (int i = 0; i < 3; i++)
		cr_expect_not_null(node_pool_alloc(np));
	cr_expect_null(node_pool_alloc(np));
	node_pool_destroy(np);
}

/* --- profiler hooks ---------------------------------------------------------
 */

static int h_created, h_destroyed, h_alloc, h_free, h_reset;
static size_t h_size, h_reserved;

static void hk_created(const void *inst, const char *kind, const char *name)
{
	(void)inst;
	cr_expect_str_eq(kind, "pool");
	cr_expect_str_eq(name, "test");
	h_created++;
}

static void hk_destroyed(const void *inst)
{
	(void)inst;
	h_destroyed++;
}

static void hk_alloc(const void *inst, const void *p, size_t size,
		     size_t reserved)
{
	(void)inst;
	(void)p;
	h_size = size;
	h_reserved = reserved;
	h_alloc++;
}

static void hk_free(const void *inst, const void *p, size_t size)
{
	(void)inst;
	(void)p;
	(void)size;
	h_free++;
}

static void hk_reset(const void *inst)
{
	(void)inst;
	h_reset++;
}

static const mo_alloc_hooks_t hooks = {.created = hk_created,
				       .destroyed = hk_destroyed,
				       .alloc = hk_alloc,
				       .free = hk_free,
				       .reset = hk_reset};

Test(pool, profiler_hooks)
{
	mo_pool_t *p;
	void *a;

	mo_alloc_hooks = &hooks;
	p = mk(20, 0, 4, 0, 0);
	a = mo_pool_alloc(p);
	mo_pool_alloc(p);
	mo_pool_free(p, a);
	mo_pool_reset(p);
	mo_pool_destroy(p);
	mo_alloc_hooks = NULL;
	cr_expect_eq(h_created, 1);
	cr_expect_eq(h_alloc, 2);
	cr_expect_eq(h_size, 20);
	cr_expect_eq(h_reserved, 32);
	cr_expect_eq(h_free, 1);
	cr_expect_eq(h_reset, 1);
	cr_expect_eq(h_destroyed, 1);
}
