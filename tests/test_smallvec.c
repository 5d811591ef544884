/*
 * Small vector with inline storage (lib/alloc/smallvec.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <memopt/aligned.h>
#include <memopt/smallvec.h>

#include "hook_rec.h"

MO_SVEC_DEFINE(ivec, int, 4)

typedef struct big {
	_Alignas(64) char b[64];
} big_t;
MO_SVEC_DEFINE(bvec, big_t, 2)

Test(smallvec, spills_at_the_inline_capacity)
{
	ivec_t v;
	mo_alloc_stats_t st;
	int i, x;

	cr_assert_eq(ivec_init(&v, "ints"), 0);
	cr_expect_str_eq(v.v.name, "ints");
	cr_expect_eq(mo_svec_capacity(&v.v), 4);
	for (i = 0; i < 4; i++)
		cr_assert_eq(ivec_push(&v, i * 10), 0);
	cr_expect(!mo_svec_spilled(&v.v));
	cr_expect_eq((void *)v.v.data, (void *)v.inl);
	mo_svec_stats(&v.v, &st);
	cr_expect_eq(st.in_use, 16);
	cr_expect_eq(st.capacity, 16);
	cr_expect_eq(st.allocs, 0);
	cr_expect_eq(st.live, 0);

	cr_assert_eq(ivec_push(&v, 40), 0); /* the 5th spills: cap 8 */
	cr_expect(mo_svec_spilled(&v.v));
	cr_expect_eq(mo_svec_capacity(&v.v), 8);
	for (i = 5; i < 9; i++)
		cr_assert_eq(ivec_push(&v, i * 10), 0); /* 9th: cap 16 */
	cr_expect_eq(mo_svec_capacity(&v.v), 16);
	cr_expect_eq(ivec_len(&v), 9);
	for (i = 0; i < 9; i++)
		cr_expect_eq(*ivec_at(&v, i), i * 10);
	cr_expect_null(ivec_at(&v, 9));
	mo_svec_stats(&v.v, &st);
	cr_expect_eq(st.in_use, 36);
	cr_expect_eq(st.peak, 36);
	cr_expect_eq(st.capacity, 64);
	cr_expect_eq(st.internal_frag, 28);
	cr_expect_eq(st.live, 1);
	cr_expect_eq(st.allocs, 2);
	cr_expect_eq(st.frees, 1);
	cr_expect_eq(st.failures, 0);

	cr_expect_eq(ivec_pop(&v, &x), 0);
	cr_expect_eq(x, 80);
	cr_expect_eq(ivec_erase(&v, 0, &x), 0);
	cr_expect_eq(x, 0);
	cr_expect_eq(ivec_insert(&v, 1, 15), 0);
	/* 10 15 20 30 40 50 60 70 */
	int want[] = {10, 15, 20, 30, 40, 50, 60, 70};
	cr_assert_eq(ivec_len(&v), 8);
	for (i = 0; i < 8; i++)
		cr_expect_eq(*ivec_at(&v, i), want[i]);
	cr_expect_eq(ivec_insert(&v, 9, 1), -ERANGE);
	cr_expect_eq(ivec_erase(&v, 8, NULL), -ERANGE);

	/* Shrink to 3 elements: back inline. */
	while (ivec_len(&v) > 3)
		ivec_pop(&v, NULL);
	cr_expect_eq(ivec_shrink(&v), 0);
	cr_expect(!mo_svec_spilled(&v.v));
	cr_expect_eq(mo_svec_capacity(&v.v), 4);
	cr_expect_eq(*ivec_at(&v, 2), 20);
	mo_svec_stats(&v.v, &st);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.frees, 2);
	cr_expect_eq(st.capacity, 16);
	ivec_clear(&v);
	cr_expect_eq(ivec_len(&v), 0);
	cr_expect_eq(ivec_pop(&v, &x), -ENOENT);
	mo_svec_stats(&v.v, &st);
	cr_expect_eq(st.resets, 1);
	ivec_destroy(&v);
}

Test(smallvec, shrink_on_the_heap_and_reserve)
{
	ivec_t v;
	int i;

	cr_assert_eq(ivec_init(&v, NULL), 0);
	cr_expect_eq(ivec_reserve(&v, 100), 0);
	cr_expect_eq(mo_svec_capacity(&v.v), 100);
	cr_expect_eq(ivec_reserve(&v, 50), 0);
	cr_expect_eq(mo_svec_capacity(&v.v), 100);
	for (i = 0; i < 10; i++)
		ivec_push(&v, i);
	cr_expect_eq(ivec_shrink(&v), 0);
	cr_expect_eq(mo_svec_capacity(&v.v), 10);
	cr_expect(mo_svec_spilled(&v.v));
	for (i = 0; i < 10; i++)
		cr_expect_eq(*ivec_at(&v, i), i);
	ivec_destroy(&v);
}

Test(smallvec, element_alignment_on_the_heap)
{
	bvec_t v;
	big_t b;
	int i;

	cr_assert_eq(bvec_init(&v, "big"), 0);
	for (i = 0; i < 20; i++) {
		memset(&b, i, sizeof(b));
		cr_assert_eq(bvec_push(&v, b), 0);
		cr_expect(mo_is_aligned(bvec_at(&v, 0), 64));
	}
	for (i = 0; i < 20; i++)
		cr_expect_eq(bvec_at(&v, i)->b[63], i);
	bvec_destroy(&v);
}

Test(smallvec, no_inline_storage_and_zero_push)
{
	mo_svec_t v;
	mo_svec_opts_t o = {.elem_size = 3};
	unsigned char *e;

	cr_assert_eq(mo_svec_init(&v, &o), 0);
	cr_expect_eq(mo_svec_capacity(&v), 0);
	cr_expect_eq(mo_svec_push(&v, NULL), 0);
	cr_expect_eq(mo_svec_capacity(&v), 4);
	e = mo_svec_at(&v, 0);
	cr_expect(e[0] == 0 && e[1] == 0 && e[2] == 0);
	cr_expect_eq(mo_svec_pop(&v, NULL), 0);
	cr_expect_eq(mo_svec_shrink(&v), 0);
	cr_expect(!mo_svec_spilled(&v));
	cr_expect_eq(mo_svec_capacity(&v), 0);
	mo_svec_destroy(&v);
}

Test(smallvec, invalid_and_overflow)
{
	mo_svec_t v;
	mo_alloc_stats_t st;
	mo_svec_opts_t o = {.elem_size = 0};
	char buf[8];

	cr_expect_eq(mo_svec_init(&v, &o), -EINVAL);
	o.elem_size = 4;
	o.elem_align = 12;
	cr_expect_eq(mo_svec_init(&v, &o), -EINVAL);
	o.elem_align = 0;
	o.inline_cap = 2; /* no buffer */
	cr_expect_eq(mo_svec_init(&v, &o), -EINVAL);
	o.inline_buf = buf;
	o.inline_cap = SIZE_MAX / 2;
	cr_expect_eq(mo_svec_init(&v, &o), -EOVERFLOW);

	o.elem_size = SIZE_MAX / 4;
	o.inline_cap = 0;
	cr_assert_eq(mo_svec_init(&v, &o), 0);
	cr_expect_eq(mo_svec_reserve(&v, 8), -EOVERFLOW);
	cr_expect_eq(mo_svec_push(&v, NULL), -EOVERFLOW);
	o.elem_size = 1;
	mo_svec_destroy(&v);
	cr_assert_eq(mo_svec_init(&v, &o), 0);
	cr_expect_eq(mo_svec_reserve(&v, SIZE_MAX), -EOVERFLOW);
	/* (A merely huge request, like 1 << 62, would return -ENOMEM, but
	 * ASan aborts on it instead of failing the malloc.) */
	mo_svec_stats(&v, &st);
	cr_expect_eq(st.failures, 1);
	cr_expect_eq(st.allocs, 0);
	cr_expect_eq(mo_svec_len(&v), 0);
	mo_svec_destroy(&v);
}

/* Random operations against a plain array. */
Test(smallvec, randomized_model)
{
	enum { STEPS = 20000, MAXN = 600 };
	static long model[MAXN];
	size_t n = 0, i;
	unsigned rnd = 99;
	long x;
	long inl[5];
	mo_svec_t v;
	mo_svec_opts_t o = {sizeof(long), _Alignof(long), inl, 5, "m", 0};
	int step;

	cr_assert_eq(mo_svec_init(&v, &o), 0);
	for (step = 0; step < STEPS; step++) {
		rnd = rnd * 1103515245 + 12345;
		unsigned op = (rnd >> 10) % 8;
		size_t at = n ? (rnd >> 14) % (n + 1) : 0;
		x = (long)step * 7 - 3;
		if ((op <= 2) && n < MAXN) {
			cr_assert_eq(mo_svec_push(&v, &x), 0);
			model[n++] = x;
		} else if (op == 3 && n < MAXN) {
			cr_assert_eq(mo_svec_insert(&v, at, &x), 0);
			memmove(&model[at + 1], &model[at],
				(n - at) * sizeof(long));
			model[at] = x;
			n++;
		} else if (op == 4 && n) {
			long y;
			at %= n;
			cr_assert_eq(mo_svec_erase(&v, at, &y), 0);
			cr_assert_eq(y, model[at]);
			memmove(&model[at], &model[at + 1],
				(n - at - 1) * sizeof(long));
			n--;
		} else if (op == 5) {
			long y;
			int rc = mo_svec_pop(&v, &y);
			cr_assert_eq(rc, n ? 0 : -ENOENT);
			if (n)
				cr_assert_eq(y, model[--n]);
		} else if (op == 6 && step % 50 == 0) {
			cr_assert_eq(mo_svec_shrink(&v), 0);
			cr_assert_eq(mo_svec_spilled(&v), n > 5);
		} else if (op == 7 && step % 1000 == 0) {
			mo_svec_clear(&v);
			n = 0;
		}
		cr_assert_eq(mo_svec_len(&v), n);
		cr_assert_geq(mo_svec_capacity(&v), n);
		cr_assert_eq(v.stats.in_use, n * sizeof(long));
	}
	for (i = 0; i < n; i++)
		cr_assert_eq(*(long *)mo_svec_at(&v, i), model[i]);
	mo_svec_destroy(&v);
}

Test(smallvec, profiler_hooks)
{
	ivec_t v;
	int i;

	rec_start();
	cr_assert_eq(ivec_init(&v, "ints"), 0);
	cr_expect_eq(rec.created, 1);
	cr_expect_eq(rec.inst, &v.v);
	cr_expect_str_eq(rec.kind, "svec");
	cr_expect_str_eq(rec.name, "ints");
	for (i = 0; i < 4; i++)
		ivec_push(&v, i);
	cr_expect_eq(rec.allocs, 0, "inline storage is not heap");
	for (i = 0; i < 9; i++)
		ivec_push(&v, i);
	cr_expect_eq(rec.allocs, 2);
	cr_expect_eq(rec.frees, 1);
	cr_expect_eq(rec.live_bytes, 64);
	ivec_clear(&v);
	cr_expect_eq(rec.resets, 1);
	ivec_destroy(&v);
	cr_expect_eq(rec.frees, 2);
	cr_expect_eq(rec.live_bytes, 0);
	cr_expect_eq(rec.destroyed, 1);
	rec_stop();
}

Test(smallvec, elements_from_the_vector_itself)
{
	ivec_t v;
	int i;

	cr_assert_eq(ivec_init(&v, NULL), 0);
	for (i = 0; i < 4; i++)
		ivec_push(&v, i + 1); /* 1 2 3 4, full inline */
	cr_assert_eq(mo_svec_push(&v.v, ivec_at(&v, 1)), 0); /* spills */
	cr_expect_eq(*ivec_at(&v, 4), 2);
	for (i = 5; i < 8; i++)
		ivec_push(&v, 0); /* full heap: 8 of 8 */
	cr_assert_eq(mo_svec_insert(&v.v, 0, ivec_at(&v, 3)), 0); /* grows */
	cr_expect_eq(*ivec_at(&v, 0), 4);
	cr_assert_eq(mo_svec_insert(&v.v, 1, ivec_at(&v, 0)), 0);
	cr_expect_eq(*ivec_at(&v, 1), 4);
	cr_expect_eq(*ivec_at(&v, 2), 1);
	cr_expect_eq(ivec_len(&v), 10);
	ivec_destroy(&v);
}

Test(smallvec, debug_poisons_vacated_elements)
{
	int inl[4];
	mo_svec_opts_t o = {sizeof(int), 0, inl, 4, NULL, MO_ALLOC_DEBUG};
	mo_svec_t v;
	int x = 7;

	cr_assert_eq(mo_svec_init(&v, &o), 0);
	mo_svec_push(&v, &x);
	mo_svec_push(&v, &x);
	mo_svec_push(&v, &x);
	cr_assert_eq(mo_svec_pop(&v, NULL), 0);
	cr_expect_eq((unsigned)inl[2], 0xddddddddu);
	cr_assert_eq(mo_svec_erase(&v, 0, NULL), 0);
	cr_expect_eq((unsigned)inl[1], 0xddddddddu);
	cr_expect_eq(inl[0], 7);
	mo_svec_clear(&v);
	cr_expect_eq((unsigned)inl[0], 0xddddddddu);
	mo_svec_destroy(&v);
}
