/*
 * Slab cache (lib/alloc/slab.c, memopt/slab.h): geometry, exact statistics
 * and slab lists, constructor and destructor counts, alignment and
 * colouring, reset, shrink, a randomized model test and the debug mode.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/slab.h>

#include "alloc_test_util.h"

static mo_slab_t *mk(size_t size, size_t align, size_t n, unsigned flags)
{
	mo_slab_opts_t o = {.obj_size = size,
			    .align = align,
			    .slab_objs = n,
			    .flags = flags,
			    .name = "test"};
	mo_slab_t *c = NULL;

	cr_assert_eq(mo_slab_create(&c, &o), 0);
	return c;
}

Test(slab, create_errors)
{
	mo_slab_t *c = NULL;
	mo_slab_opts_t o = {.obj_size = 0};

	cr_expect_eq(mo_slab_create(&c, &o), -EINVAL);
	o.obj_size = 8;
	o.align = 48;
	cr_expect_eq(mo_slab_create(&c, &o), -EINVAL);
	o.align = 8192;
	cr_expect_eq(mo_slab_create(&c, &o), -EINVAL);
	o.align = 64;
	o.obj_size = SIZE_MAX - 8;
	cr_expect_eq(mo_slab_create(&c, &o), -EOVERFLOW);
	o.obj_size = 8;
	o.slab_objs = SIZE_MAX / 8;
	cr_expect_eq(mo_slab_create(&c, &o), -EOVERFLOW);
	cr_expect_null(c);
	cr_expect_eq(mo_slab_create(&c, NULL), -EINVAL);
	mo_slab_destroy(NULL);
}

Test(slab, geometry)
{
	mo_slab_t *c = mk(100, 0, 0, 0);
	mo_slab_info_t in;

	mo_slab_info(c, &in);
	cr_expect_eq(in.stride, 112);
	cr_expect_eq(in.slab_bytes, 4096);
	cr_expect_eq(in.objs_per_slab, 36, "(4096 - 64) / 112");
	cr_expect_eq(in.colours, 1);
	cr_expect_eq(in.slabs, 0);
	mo_slab_destroy(c);

	c = mk(64, 0, 100, 0);
	mo_slab_info(c, &in);
	cr_expect_eq(in.objs_per_slab, 100);
	cr_expect_eq(in.slab_bytes, 8192);
	mo_slab_destroy(c);

	c = mk(3000, 0, 0, 0); /* at least 8 objects a slab */
	mo_slab_info(c, &in);
	cr_expect_eq(in.objs_per_slab, 10);
	cr_expect_eq(in.slab_bytes, 32768);
	mo_slab_destroy(c);

	c = mk(100, 0, 0, MO_SLAB_COLOUR); /* 4096 - 64 - 36 * 112 = 0 */
	mo_slab_info(c, &in);
	cr_expect_eq(in.colours, 1);
	mo_slab_destroy(c);
	c = mk(64, 0, 30, MO_SLAB_COLOUR); /* 4096 - 64 - 1920 = 2112 */
	mo_slab_info(c, &in);
	cr_expect_eq(in.colours, 34);
	mo_slab_destroy(c);
}

Test(slab, exact_stats_and_lists)
{
	mo_slab_t *c = mk(30, 0, 4, 0); /* stride 32 */
	mo_alloc_stats_t st;
	mo_slab_info_t in;
	void *o[6];

	cr_expect_str_eq(mo_slab_name(c), "test");
	for (int i = 0; i < 6; i++)
		cr_assert_not_null(o[i] = mo_slab_alloc(c));
	mo_slab_info(c, &in);
	cr_expect_eq(in.slabs, 2);
	cr_expect_eq(in.full, 1);
	cr_expect_eq(in.partial, 1);
	cr_expect_eq(in.empty, 0);
	mo_slab_stats(c, &st);
	cr_expect_eq(st.live, 6);
	cr_expect_eq(st.in_use, 180);
	cr_expect_eq(st.internal_frag, 12);
	cr_expect_eq(st.capacity, 8192);
	cr_expect_eq(st.peak, 180);

	mo_slab_free(c, o[0]); /* the full slab becomes partial */
	mo_slab_info(c, &in);
	cr_expect_eq(in.full, 0);
	cr_expect_eq(in.partial, 2);
	mo_slab_free(c, o[4]);
	mo_slab_free(c, o[5]); /* the second slab becomes empty */
	mo_slab_info(c, &in);
	cr_expect_eq(in.partial, 1);
	cr_expect_eq(in.empty, 1);
	/* a partial slab is used before an empty one */
	cr_expect_eq(mo_slab_alloc(c), o[0]);
	mo_slab_info(c, &in);
	cr_expect_eq(in.full, 1);
	cr_expect_eq(in.empty, 1);
	cr_expect_eq(mo_slab_shrink(c), 1);
	mo_slab_info(c, &in);
	cr_expect_eq(in.slabs, 1);
	mo_slab_stats(c, &st);
	cr_expect_eq(st.live, 4);
	cr_expect_eq(st.in_use, 120);
	cr_expect_eq(st.peak, 180);
	cr_expect_eq(st.capacity, 4096);
	cr_expect_eq(st.allocs, 7);
	cr_expect_eq(st.frees, 3);
	cr_expect_eq(st.failures, 0);
	cr_expect_eq(mo_slab_shrink(c), 0);
	mo_slab_free(c, NULL);
	mo_slab_destroy(c);
}

/* --- constructor and destructor ------------------------------------------- */

struct obj {
	uint64_t magic;
	int state;
	char pad[20];
};

#define CONSTRUCTED 0xC0FFEEull

static int n_ctor, n_dtor;

static void ctor(void *p, void *arg)
{
	struct obj *o = p;
	cr_assert_eq(arg, &n_ctor);
	cr_assert_neq(o->magic, CONSTRUCTED, "constructed twice");
	o->magic = CONSTRUCTED;
	o->state = 0;
	n_ctor++;
}

static void dtor(void *p, void *arg)
{
	struct obj *o = p;
	cr_assert_eq(arg, &n_ctor);
	cr_assert_eq(o->magic, CONSTRUCTED, "destructing a raw object");
	o->magic = 0;
	n_dtor++;
}

static mo_slab_t *mk_ctor(size_t n, unsigned flags)
{
	mo_slab_opts_t o = {.obj_size = sizeof(struct obj),
			    .slab_objs = n,
			    .flags = flags,
			    .ctor = ctor,
			    .dtor = dtor,
			    .arg = &n_ctor,
			    .name = "objs"};
	mo_slab_t *c = NULL;

	cr_assert_eq(mo_slab_create(&c, &o), 0);
	return c;
}

static void ctor_dtor_counts(unsigned flags)
{
	mo_slab_t *c = mk_ctor(4, flags);
	struct obj *o[14];
	mo_slab_info_t in;

	n_ctor = n_dtor = 0;
	for (int i = 0; i < 12; i++) {
		o[i] = mo_slab_alloc(c);
		cr_assert_eq(o[i]->magic, CONSTRUCTED);
		o[i]->state = i + 1;
	}
	cr_expect_eq(n_ctor, 12);
	for (int i = 0; i < 12; i++)
		mo_slab_free(c, o[i]);
	for (int i = 0; i < 12; i++) {
		o[i] = mo_slab_alloc(c);
		cr_assert_eq(o[i]->magic, CONSTRUCTED, "kept constructed");
		cr_assert_neq(o[i]->state, 0, "state kept while cached");
	}
	cr_expect_eq(n_ctor, 12, "no constructor for cached objects");
	o[12] = mo_slab_alloc(c);
	o[13] = mo_slab_alloc(c);
	cr_expect_eq(n_ctor, 14);
	cr_expect_eq(n_dtor, 0);
	for (int i = 0; i < 14; i++)
		mo_slab_free(c, o[i]);
	cr_expect_eq(mo_slab_shrink(c), 4);
	cr_expect_eq(n_dtor, 14, "only constructed objects are destructed");
	mo_slab_info(c, &in);
	cr_expect_eq(in.ctor_calls, 14);
	cr_expect_eq(in.dtor_calls, 14);
	cr_expect_eq(in.slabs, 0);

	o[0] = mo_slab_alloc(c);
	o[1] = mo_slab_alloc(c);
	mo_slab_free(c, o[1]);
	cr_expect_eq(n_ctor, 16);
	mo_slab_reset(c);
	cr_expect_eq(n_dtor, 16, "reset destructs every constructed object");
	o[0] = mo_slab_alloc(c);
	cr_expect_eq(n_ctor, 17, "constructed again after a reset");
	mo_slab_destroy(c);
	cr_expect_eq(n_dtor, 17, "destroy destructs live objects too");
}

Test(slab, ctor_dtor_counts)
{
	ctor_dtor_counts(0);
}

Test(slab, ctor_dtor_counts_debug)
{
	ctor_dtor_counts(MO_ALLOC_DEBUG);
}

/* --- alignment, colouring, reset --------------------------------------------
 */

Test(slab, alignment)
{
	size_t aligns[] = {0, 8, 16, 32, 64, 128, 512, 4096};
	size_t sizes[] = {1, 8, 24, 100, 1000};

	for (size_t a = 0; a < sizeof(aligns) / sizeof(*aligns); a++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
			size_t al = aligns[a];
			mo_slab_t *c = mk(sizes[s], al, a % 3 ? 0 : 5,
					  a % 2 ? MO_SLAB_COLOUR : 0);
			if (!al)
				al = sizes[s] >= 16 ? 16 : 8;
			for (int i = 0; i < 200; i++) {
				char *o = mo_slab_alloc(c);
				cr_assert_not_null(o);
				cr_assert_eq((uintptr_t)o % al, 0,
					     "size %zu align %zu", sizes[s],
					     al);
				memset(o, 0xA5, sizes[s]);
			}
			mo_slab_destroy(c);
		}
	}
}

Test(slab, colouring)
{
	mo_slab_t *c = mk(64, 0, 30, MO_SLAB_COLOUR);
	mo_slab_info_t in;
	size_t colours[40] = {0};

	mo_slab_info(c, &in);
	for (size_t i = 0; i < 36; i++) {
		char *first = mo_slab_alloc(c);
		for (int k = 1; k < 30; k++)
			mo_slab_alloc(c);
		size_t off = (uintptr_t)first % in.slab_bytes;
		cr_assert_eq(off % 64, 0);
		cr_assert_leq(off + 30 * 64, in.slab_bytes);
		colours[(off - 64) / 64]++;
	}
	for (size_t k = 0; k < 34; k++)
		cr_expect_geq(colours[k], 1, "colour %zu used", k);
	mo_slab_destroy(c);
}

Test(slab, reset_keeps_slabs)
{
	mo_slab_t *c = mk(48, 0, 8, 0);
	mo_alloc_stats_t st;
	mo_slab_info_t in;
	void *o[20];

	for (int i = 0; i < 20; i++)
		o[i] = mo_slab_alloc(c);
	mo_slab_free(c, o[3]);
	mo_slab_reset(c);
	mo_slab_stats(c, &st);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.in_use, 0);
	cr_expect_eq(st.resets, 1);
	cr_expect_eq(st.allocs, 20);
	cr_expect_eq(st.frees, 1);
	cr_expect_eq(st.peak, 20 * 48);
	cr_expect_eq(st.capacity, 3 * 4096);
	mo_slab_info(c, &in);
	cr_expect_eq(in.empty, 3);
	for (int i = 0; i < 24; i++)
		cr_assert_not_null(mo_slab_alloc(c));
	mo_slab_info(c, &in);
	cr_expect_eq(in.slabs, 3, "no new slab after reset");
	cr_expect_eq(in.full, 3);
	mo_slab_destroy(c);
}

/* --- randomized model test ------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	return xorshift(&rng_state);
}

#define SLOTS 3000

static void model_run(size_t size, size_t align, size_t n, unsigned flags,
		      long ops)
{
	mo_slab_opts_t o = {.obj_size = size,
			    .align = align,
			    .slab_objs = n,
			    .flags = flags};
	static void *slot[SLOTS];
	static uint64_t id[SLOTS];
	static uintptr_t sorted[SLOTS];
	mo_alloc_stats_t m = {0}, st;
	mo_slab_info_t in;
	mo_slab_t *c = NULL;
	uint64_t next_id = 1;

	memset(slot, 0, sizeof(slot));
	cr_assert_eq(mo_slab_create(&c, &o), 0);
	mo_slab_info(c, &in);
	for (long op = 0; op < ops; op++) {
		size_t i = rnd() % SLOTS;
		if (op % 50000 == 49999) {
			mo_slab_reset(c);
			memset(slot, 0, sizeof(slot));
			m.live = 0;
			m.resets++;
		} else if (op % 20000 == 9999) {
			size_t before, empty;
			mo_slab_info(c, &in);
			empty = in.empty;
			before = in.slabs;
			cr_assert_eq(mo_slab_shrink(c), empty);
			mo_slab_info(c, &in);
			cr_assert_eq(in.slabs, before - empty);
			cr_assert_eq(in.empty, 0);
		} else if (slot[i]) {
			cr_assert(check(slot[i], size, id[i]),
				  "contents of object %zu", i);
			mo_slab_free(c, slot[i]);
			slot[i] = NULL;
			m.live--;
			m.frees++;
		} else {
			void *q = mo_slab_alloc(c);
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
			size_t k, cnt = 0;
			mo_slab_stats(c, &st);
			mo_slab_info(c, &in);
			cr_assert_eq(st.live, m.live);
			cr_assert_eq(st.in_use, m.live * size);
			cr_assert_eq(st.peak, m.peak * size);
			cr_assert_eq(st.allocs, m.allocs);
			cr_assert_eq(st.frees, m.frees);
			cr_assert_eq(st.resets, m.resets);
			cr_assert_eq(st.capacity, in.slabs * in.slab_bytes);
			cr_assert_eq(in.slabs, in.full + in.partial + in.empty);
			cr_assert_leq(in.full * in.objs_per_slab, m.live);
			cr_assert_geq(in.slabs * in.objs_per_slab, m.live);
			for (k = 0; k < SLOTS; k++)
				if (slot[k])
					sorted[cnt++] = (uintptr_t)slot[k];
			qsort(sorted, cnt, sizeof(*sorted), cmp_ptr);
			for (k = 1; k < cnt; k++)
				cr_assert_geq(sorted[k] - sorted[k - 1], size,
					      "objects overlap");
		}
	}
	mo_slab_destroy(c);
}

Test(slab, model_random)
{
	model_run(40, 8, 0, 0, 300000);
	model_run(24, 64, 7, MO_SLAB_COLOUR, 200000);
	model_run(200, 16, 300, 0, 100000);
}

Test(slab, model_random_debug)
{
	model_run(48, 16, 0, MO_ALLOC_DEBUG, 200000);
	model_run(16, 32, 5, MO_ALLOC_DEBUG | MO_SLAB_COLOUR, 100000);
}

/* --- debug mode -------------------------------------------------------------
 */

static const char *expect_msg(const char *name, const char *fmt, const void *p)
{
	static char buf[256];
	char what[200];

	snprintf(what, sizeof(what), fmt, p);
	snprintf(buf, sizeof(buf), "slab|%s|%s", name, what);
	return buf;
}

Test(slab, misuse_messages)
{
	mo_slab_t *c = mk(32, 0, 8, MO_ALLOC_DEBUG);
	mo_alloc_stats_t st;
	char *a, *b, *big = malloc(8192);
	void *local[4];

	mo_alloc_set_misuse_handler(record_misuse);
	a = mo_slab_alloc(c);
	b = mo_slab_alloc(c);
	mo_slab_free(c, a);
	mo_slab_free(c, a);
	cr_expect_str_eq(seen, expect_msg("test", "double free of %p", a));
	mo_slab_free(c, local);
	cr_expect_str_eq(
		seen, expect_msg("test", "free of foreign pointer %p", local));
	mo_slab_free(c, big + 4096);
	cr_expect_str_eq(seen, expect_msg("test", "free of foreign pointer %p",
					  big + 4096));
	mo_slab_free(c, b + 8);
	cr_expect_str_eq(seen, expect_msg("test",
					  "free of %p, 8 bytes into an object",
					  b + 8));
	mo_slab_free(c, b + 64);
	cr_expect_str_eq(seen, expect_msg("test",
					  "free of %p, which is not allocated",
					  b + 64));
	cr_expect_eq(nseen, 5);
	mo_slab_stats(c, &st);
	cr_expect_eq(st.frees, 1, "bad frees are ignored");
	cr_expect_eq(st.live, 1);

	a[10] = 1;
	cr_expect_eq(mo_slab_alloc(c), a);
	cr_expect_str_eq(seen, expect_msg("test",
					  "object %p modified after free "
					  "(byte 10)",
					  a));
	cr_expect_eq(nseen, 6);
	mo_slab_free(c, a);
	mo_slab_free(c, b);
	cr_expect_eq(nseen, 6);
	mo_alloc_set_misuse_handler(NULL);
	mo_slab_destroy(c);
	free(big);
}

Test(slab, misuse_aborts_by_default, .signal = SIGABRT)
{
	mo_slab_t *c = mk(32, 0, 8, MO_ALLOC_DEBUG);
	void *a = mo_slab_alloc(c);

	mo_slab_free(c, a);
	mo_slab_free(c, a);
}

Test(slab, debug_poisoning)
{
	mo_slab_t *c = mk(40, 0, 4, MO_ALLOC_DEBUG);
	unsigned char *a = mo_slab_alloc(c), *b;

	for (size_t i = 0; i < 40; i++)
		cr_expect_eq(a[i], 0xDB, "fresh byte %zu", i);
	memset(a, 0x11, 40);
	mo_slab_free(c, a);
	for (size_t i = sizeof(void *); i < 48; i++)
		cr_expect_eq(a[i], 0xDB, "freed byte %zu", i);
	b = mo_slab_alloc(c);
	cr_expect_eq(b, a);
	for (size_t i = 0; i < 40; i++)
		cr_expect_eq(b[i], 0xDB, "reused byte %zu", i);
	mo_slab_destroy(c);
}

Test(slab, debug_with_ctor_keeps_state)
{
	mo_slab_t *c = mk_ctor(4, MO_ALLOC_DEBUG);
	struct obj *o;

	mo_alloc_set_misuse_handler(record_misuse);
	n_ctor = n_dtor = 0;
	o = mo_slab_alloc(c);
	o->state = 42;
	mo_slab_free(c, o);
	cr_expect_eq(o->magic, CONSTRUCTED, "no poison over constructed state");
	cr_expect_eq(o->state, 42);
	mo_slab_free(c, o);
	cr_expect_str_eq(seen, expect_msg("objs", "double free of %p", o));
	cr_expect_eq(mo_slab_alloc(c), o);
	mo_alloc_set_misuse_handler(NULL);
	mo_slab_destroy(c);
	cr_expect_eq(n_ctor, 1);
	cr_expect_eq(n_dtor, 1);
}
