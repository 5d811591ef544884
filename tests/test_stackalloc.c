/*
 * Tests of the stack (LIFO) allocator (lib/alloc/stackalloc.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/stackalloc.h>

#include "alloc_test_util.h"

TestSuite(stackalloc, .init = setup_handler, .fini = teardown_handler);

static mo_alloc_stats_t stats(const mo_stack_t *s)
{
	mo_alloc_stats_t st;
	mo_stack_stats(s, &st);
	return st;
}

/* in_use, internal_frag, live, allocs, frees, failures, resets */
#define expect_stats(s, iu, fr, lv, al, fe, fa, rs)                       \
	do {                                                              \
		mo_alloc_stats_t st_ = stats(s);                          \
		cr_expect_eq(st_.in_use, (iu), "in_use %lu", st_.in_use); \
		cr_expect_eq(st_.internal_frag, (fr), "frag %lu",         \
			     st_.internal_frag);                          \
		cr_expect_eq(st_.live, (lv), "live %lu", st_.live);       \
		cr_expect_eq(st_.allocs, (al), "allocs %lu", st_.allocs); \
		cr_expect_eq(st_.frees, (fe), "frees %lu", st_.frees);    \
		cr_expect_eq(st_.failures, (fa), "failures %lu",          \
			     st_.failures);                               \
		cr_expect_eq(st_.resets, (rs), "resets %lu", st_.resets); \
	} while (0)

static mo_stack_t *page_stack(unsigned flags)
{
	mo_stack_opts_t o = {.name = "scratch", .flags = flags, .size = 4096};
	mo_stack_t *s = NULL;
	cr_assert_eq(mo_stack_create(&s, &o), 0);
	return s;
}

static int all_bytes(const char *p, size_t n, int c)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] != c)
			return 0;
	return 1;
}

Test(stackalloc, create_options)
{
	mo_stack_t *s = NULL;
	char buf[100];

	cr_expect_eq(mo_stack_create(&s, NULL), -EINVAL);
	cr_expect_eq(mo_stack_create(&s, &(mo_stack_opts_t){0}), -EINVAL);
	cr_expect_eq(
		mo_stack_create(&s, &(mo_stack_opts_t){.size = 4096,
						       .buffer = buf,
						       .buffer_size = 100}),
		-EINVAL);
	cr_expect_eq(mo_stack_create(&s, &(mo_stack_opts_t){.buffer = buf}),
		     -EINVAL);
	cr_expect_eq(mo_stack_create(
			     &s, &(mo_stack_opts_t){.size = 4096, .align = 12}),
		     -EINVAL);
	cr_expect_eq(mo_stack_create(&s, &(mo_stack_opts_t){.size = SIZE_MAX}),
		     -EINVAL);
	cr_assert_eq(mo_stack_create(&s, &(mo_stack_opts_t){.size = 5000}), 0);
	cr_expect_eq(stats(s).capacity, 8192);
	mo_stack_destroy(s);
	mo_stack_destroy(NULL);
}

Test(stackalloc, exact_stats)
{
	mo_stack_t *s = page_stack(0);
	mo_stack_marker_t m;
	char *p[6];

	expect_stats(s, 0, 0, 0, 0, 0, 0, 0);
	cr_expect_eq(stats(s).capacity, 4096);
	p[0] = mo_stack_alloc(s, 10); /* header 0..32, data 32..42 */
	cr_assert_not_null(p[0]);
	expect_stats(s, 10, 32, 1, 1, 0, 0, 0);
	p[1] = mo_stack_alloc(s, 10); /* 42+32 -> 80, to 90 */
	cr_expect_eq(p[1], p[0] + 48);
	expect_stats(s, 20, 70, 2, 2, 0, 0, 0);
	p[2] = mo_stack_alloc_aligned(s, 1, 64); /* 122 -> 128, to 129 */
	cr_expect_eq(p[2], p[0] + 96);
	expect_stats(s, 21, 108, 3, 3, 0, 0, 0);
	p[3] = mo_stack_alloc_aligned(s, 5, 1); /* 161 -> 168 (8), to 173 */
	cr_expect_eq(p[3], p[0] + 136);
	expect_stats(s, 26, 147, 4, 4, 0, 0, 0);
	mo_stack_free(s, p[3]);
	expect_stats(s, 21, 108, 3, 4, 1, 0, 0);
	m = mo_stack_get_marker(s);
	p[4] = mo_stack_alloc(s, 100); /* 161 -> 176, to 276 */
	p[5] = mo_stack_alloc(s, 200); /* 308 -> 320, to 520 */
	cr_expect_eq(p[4], p[0] + 144);
	cr_expect_eq(p[5], p[0] + 288);
	expect_stats(s, 321, 199, 5, 6, 1, 0, 0);
	mo_stack_free_to_marker(s, m);
	expect_stats(s, 21, 108, 3, 6, 1, 0, 1);
	/* exactly the rest: 161 -> 176, to 4096 */
	p[4] = mo_stack_alloc(s, 4096 - 176);
	cr_expect_eq(p[4], p[0] + 144);
	memset(p[4], 1, 4096 - 176);
	cr_expect_null(mo_stack_alloc(s, 0), "no room for a header");
	mo_stack_free(s, p[4]);
	cr_expect_null(mo_stack_alloc(s, 4096 - 175));
	expect_stats(s, 21, 108, 3, 7, 2, 2, 1);
	mo_stack_free(s, p[2]);
	mo_stack_free(s, p[1]);
	mo_stack_free(s, p[0]);
	expect_stats(s, 0, 0, 0, 7, 5, 2, 1);
	cr_expect_eq(stats(s).peak, 21 + 4096 - 176);
	cr_expect_eq(mo_stack_alloc(s, 1), p[0], "from the bottom again");
	mo_stack_reset(s);
	expect_stats(s, 0, 0, 0, 8, 5, 2, 2);
	cr_expect_eq(nseen, 0);
	mo_stack_destroy(s);
}

Test(stackalloc, alignments)
{
	mo_stack_t *s = NULL;
	size_t al;
	char *prev = NULL;

	cr_assert_eq(mo_stack_create(&s, &(mo_stack_opts_t){.size = 1u << 20,
							    .align = 32}),
		     0);
	cr_expect_eq((uintptr_t)mo_stack_alloc(s, 1) % 32, 0);
	for (al = 1; al <= 65536; al *= 2) {
		char *p = mo_stack_alloc_aligned(s, 3, al);
		cr_assert_not_null(p);
		cr_expect_eq((uintptr_t)p % al, 0, "align %zu", al);
		cr_expect_eq((uintptr_t)p % 8, 0);
		cr_expect(!prev || p >= prev + 3 + MO_STACK_HEADER);
		memset(p, 1, 3);
		prev = p;
	}
	cr_expect_null(mo_stack_alloc_aligned(s, 8, 24));
	cr_expect_eq(stats(s).failures, 1);
	mo_stack_destroy(s);
}

Test(stackalloc, overflow)
{
	mo_stack_t *s = page_stack(0);

	cr_expect_null(mo_stack_alloc(s, SIZE_MAX));
	cr_expect_null(mo_stack_alloc(s, SIZE_MAX - 40));
	cr_expect_null(mo_stack_alloc_aligned(s, 1, (size_t)1 << 63));
	cr_expect_null(mo_stack_alloc(s, 4097));
	expect_stats(s, 0, 0, 0, 0, 0, 4, 0);
	mo_stack_destroy(s);
}

Test(stackalloc, caller_buffer)
{
	static _Alignas(16) char buf[256];
	mo_stack_opts_t o = {.buffer = buf, .buffer_size = sizeof(buf)};
	mo_stack_t *s = NULL;
	char *p;

	cr_assert_eq(mo_stack_create(&s, &o), 0);
	cr_expect_eq(stats(s).capacity, 256);
	p = mo_stack_alloc(s, 100);
	cr_expect_eq(p, buf + 32);
	cr_expect_null(mo_stack_alloc(s, 100));
	cr_expect_not_null(mo_stack_alloc(s, 256 - 176));
	mo_stack_destroy(s);
}

/* --- misuse ------------------------------------------------------------ */

Test(stackalloc, free_out_of_order)
{
	mo_stack_t *s = page_stack(0);
	char *a = mo_stack_alloc(s, 10), *b = mo_stack_alloc(s, 10);
	char want[256];

	mo_stack_free(s, a);
	snprintf(want, sizeof(want),
		 "stack|scratch|free of %p out of order (the most recent is "
		 "%p)",
		 (void *)a, (void *)b);
	cr_expect_str_eq(seen, want);
	expect_stats(s, 20, 70, 2, 2, 0, 0, 0);
	mo_stack_free(s, b);
	mo_stack_free(s, a);
	cr_expect_eq(nseen, 1);
	expect_stats(s, 0, 0, 0, 2, 2, 0, 0);
	mo_stack_destroy(s);
}

Test(stackalloc, double_free)
{
	mo_stack_t *s = page_stack(0);
	char *a = mo_stack_alloc(s, 10), *b = mo_stack_alloc(s, 10);
	char want[256];

	mo_stack_free(s, b);
	mo_stack_free(s, b);
	snprintf(want, sizeof(want), "stack|scratch|free of %p, already freed",
		 (void *)b);
	cr_expect_str_eq(seen, want);
	expect_stats(s, 10, 32, 1, 2, 1, 0, 0);
	mo_stack_free(s, a);
	mo_stack_free(s, a);
	snprintf(want, sizeof(want), "stack|scratch|free of %p, already freed",
		 (void *)a);
	cr_expect_str_eq(seen, want);
	cr_expect_eq(nseen, 2);
	mo_stack_destroy(s);
}

Test(stackalloc, foreign_pointer)
{
	mo_stack_t *s = page_stack(0);
	char local[8], want[256];

	mo_stack_alloc(s, 10);
	mo_stack_free(s, local);
	snprintf(want, sizeof(want),
		 "stack|scratch|free of %p, not from this stack",
		 (void *)local);
	cr_expect_str_eq(seen, want);
	expect_stats(s, 10, 32, 1, 1, 0, 0, 0);
	mo_stack_free(s, NULL);
	cr_expect_eq(nseen, 1);
	mo_stack_destroy(s);
}

Test(stackalloc, bad_markers)
{
	mo_stack_t *s = page_stack(0), *t = page_stack(0);
	mo_stack_marker_t m1, m2;

	mo_stack_alloc(s, 10);
	m1 = mo_stack_get_marker(s);
	mo_stack_alloc(s, 10);
	m2 = mo_stack_get_marker(s);
	mo_stack_alloc(s, 10);
	mo_stack_free_to_marker(t, m1);
	cr_expect_str_eq(seen,
			 "stack|scratch|free to a marker of another stack");
	mo_stack_free_to_marker(s, m1);
	mo_stack_free_to_marker(s, m2);
	cr_expect_str_eq(seen, "stack|scratch|free to a marker above the top "
			       "(already freed)");
	mo_stack_free_to_marker(s, m1);
	cr_expect_eq(nseen, 2, "a marker stays valid");
	mo_stack_reset(s);
	mo_stack_free_to_marker(s, m1);
	cr_expect_str_eq(seen, "stack|scratch|free to a marker taken before "
			       "a reset");
	expect_stats(s, 0, 0, 0, 3, 0, 0, 3);
	mo_stack_destroy(s);
	mo_stack_destroy(t);
}

Test(stackalloc, debug_poisoning)
{
	mo_stack_t *s = page_stack(MO_ALLOC_DEBUG);
	mo_stack_marker_t m;
	char *a, *b, *c;

	a = mo_stack_alloc(s, 100);
	memset(a, 0x11, 100);
	b = mo_stack_alloc(s, 100);
	memset(b, 0x22, 100);
	mo_stack_free(s, b);
	cr_expect(all_bytes(b - MO_STACK_HEADER, 100 + MO_STACK_HEADER,
			    MO_STACK_POISON));
	cr_expect(all_bytes(a, 100, 0x11));
	m = mo_stack_get_marker(s);
	b = mo_stack_alloc(s, 50);
	c = mo_stack_alloc(s, 70);
	memset(b, 0x33, 50);
	memset(c, 0x44, 70);
	mo_stack_free_to_marker(s, m);
	cr_expect(all_bytes(b, 50, MO_STACK_POISON));
	cr_expect(all_bytes(c, 70, MO_STACK_POISON));
	mo_stack_reset(s);
	cr_expect(all_bytes(a, 100, MO_STACK_POISON));
	cr_expect_eq(nseen, 0);
	mo_stack_destroy(s);
}

/* --- randomized test against a model ------------------------------------ */

typedef struct {
	char *p;
	size_t size, align;
	unsigned char fill;
} live_t;

typedef struct {
	mo_stack_marker_t m;
	size_t nlive;
	uint64_t in_use, frag;
} marker_rec_t;

static void check_live(const live_t *lv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cr_assert(all_bytes(lv[i].p, lv[i].size, lv[i].fill),
			  "contents of live %zu", i);
		cr_assert_eq((uintptr_t)lv[i].p % lv[i].align, 0);
		/* LIFO: each one after the previous and its header */
		if (i)
			cr_assert(lv[i].p >= lv[i - 1].p + lv[i - 1].size +
						     MO_STACK_HEADER,
				  "overlap");
	}
}

static void model_run(unsigned flags, unsigned seed)
{
	enum { MAXLIVE = 2000, MAXMARKS = 32 };
	static live_t lv[MAXLIVE];
	static marker_rec_t mk[MAXMARKS];
	mo_stack_opts_t o = {.size = 1u << 20, .flags = flags};
	mo_stack_t *s = NULL;
	size_t nlive = 0, nmarks = 0;
	uint64_t in_use = 0, peak = 0, allocs = 0, frees = 0, resets = 0,
		 failures = 0;

	cr_assert_eq(mo_stack_create(&s, &o), 0);
	srand(seed);
	for (int step = 0; step < 30000; step++) {
		int op = rand() % 100;
		mo_alloc_stats_t st;

		if (op < 55 && nlive < MAXLIVE) {
			size_t size =
				(size_t)(rand() % (rand() % 8 ? 200 : 5000));
			size_t align = (size_t)1 << (rand() % 10);
			char *p = mo_stack_alloc_aligned(s, size, align);
			if (!p) {
				failures++;
				continue;
			}
			lv[nlive++] = (live_t){p, size, align,
					       (unsigned char)(step & 0xff)};
			memset(p, step & 0xff, size);
			in_use += size;
			allocs++;
			if (in_use > peak)
				peak = in_use;
		} else if (op < 85 && nlive) {
			nlive--;
			mo_stack_free(s, lv[nlive].p);
			in_use -= lv[nlive].size;
			frees++;
			while (nmarks && mk[nmarks - 1].nlive > nlive)
				nmarks--; /* those markers are above the top */
		} else if (op < 92 && nmarks < MAXMARKS) {
			mo_stack_stats(s, &st);
			mk[nmarks++] =
				(marker_rec_t){mo_stack_get_marker(s), nlive,
					       st.in_use, st.internal_frag};
		} else if (op < 99 && nmarks) {
			size_t k = (size_t)rand() % nmarks;
			mo_stack_free_to_marker(s, mk[k].m);
			nlive = mk[k].nlive;
			in_use = mk[k].in_use;
			nmarks = k + 1; /* the marker stays valid */
			resets++;
			mo_stack_stats(s, &st);
			cr_assert_eq(st.internal_frag, mk[k].frag);
			check_live(lv, nlive);
		} else if (op == 99) {
			mo_stack_reset(s);
			nlive = nmarks = 0;
			in_use = 0;
			resets++;
		}
		mo_stack_stats(s, &st);
		cr_assert_eq(st.in_use, in_use);
		cr_assert_eq(st.live, nlive);
		cr_assert_eq(st.allocs, allocs);
		cr_assert_eq(st.frees, frees);
		cr_assert_eq(st.peak, peak);
		cr_assert_eq(st.resets, resets);
		cr_assert_eq(st.failures, failures);
		cr_assert_geq(st.internal_frag, nlive * MO_STACK_HEADER);
		cr_assert_leq(st.in_use + st.internal_frag, st.capacity);
	}
	check_live(lv, nlive);
	cr_expect_eq(nseen, 0);
	mo_stack_destroy(s);
}

Test(stackalloc, model)
{
	model_run(0, 1);
}

Test(stackalloc, model_debug)
{
	model_run(MO_ALLOC_DEBUG, 2);
}
