/*
 * String interner (lib/alloc/intern.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <memopt/intern.h>

#include "hook_rec.h"

Test(intern, dedup_and_dense_ids)
{
	mo_intern_t *t;
	mo_intern_info_t in;
	mo_alloc_stats_t st;
	uint32_t id;
	const char *p;

	cr_assert_eq(mo_intern_create(&t, NULL), 0);
	cr_expect_eq(mo_intern_find(t, "a", &id), -ENOENT);
	cr_expect_eq(mo_intern_add(t, "malloc", &id), 1);
	cr_expect_eq(id, 0);
	p = mo_intern_str(t, 0);
	cr_expect_str_eq(p, "malloc");
	cr_expect_eq(mo_intern_add(t, "free", &id), 1);
	cr_expect_eq(id, 1);
	cr_expect_eq(mo_intern_add(t, "malloc", &id), 0);
	cr_expect_eq(id, 0);
	cr_expect_eq(mo_intern_add(t, "", &id), 1);
	cr_expect_eq(id, 2);
	cr_expect_eq(mo_intern_add(t, "", &id), 0);
	cr_expect_eq(id, 2);
	cr_expect_eq(mo_intern_count(t), 3);
	cr_expect_eq(mo_intern_str(t, 0), p, "stable pointer");
	cr_expect_null(mo_intern_str(t, 3));
	cr_expect_eq(mo_intern_len(t, 1), 4);
	cr_expect_eq(mo_intern_len(t, 9), 0);
	cr_expect_eq(mo_intern_find(t, "free", &id), 0);
	cr_expect_eq(id, 1);

	mo_intern_info(t, &in);
	cr_expect_eq(in.strings, 3);
	cr_expect_eq(in.adds, 5);
	cr_expect_eq(in.bytes_stored, 7 + 5 + 1);
	cr_expect_eq(in.bytes_naive, 7 + 5 + 7 + 1 + 1);
	cr_expect_eq(in.bytes_saved, 8);
	cr_expect_eq(in.chunk_bytes, 64 << 10);
	mo_intern_stats(t, &st);
	cr_expect_eq(st.in_use, 13);
	cr_expect_eq(st.capacity, in.chunk_bytes + in.index_bytes);
	cr_expect_eq(st.internal_frag, st.capacity - 13);
	cr_expect_eq(st.live, 3, "chunk, id table, index");
	mo_intern_destroy(t);
}

Test(intern, embedded_nuls_and_prefixes)
{
	mo_intern_t *t;
	uint32_t a, b, c;

	cr_assert_eq(mo_intern_create(&t, NULL), 0);
	cr_expect_eq(mo_intern_addn(t, "ab\0cd", 5, &a), 1);
	cr_expect_eq(mo_intern_addn(t, "ab", 2, &b), 1);
	cr_expect_eq(mo_intern_addn(t, "ab\0cd", 5, &c), 0);
	cr_expect_eq(a, c);
	cr_expect_neq(a, b);
	cr_expect_eq(mo_intern_len(t, a), 5);
	cr_expect_eq(memcmp(mo_intern_str(t, a), "ab\0cd", 6), 0);
	cr_expect_eq(mo_intern_findn(t, "ab\0c", 4, NULL), -ENOENT);
	mo_intern_destroy(t);
}

Test(intern, chunks_and_long_strings)
{
	mo_intern_opts_t o = {.chunk_size = 32, .name = "syms"};
	mo_intern_t *t;
	mo_intern_info_t in;
	char big[100];
	uint32_t id;

	cr_assert_eq(mo_intern_create(&t, &o), 0);
	cr_expect_eq(mo_intern_add(t, "0123456789", &id), 1); /* 11 of 32 */
	memset(big, 'x', 99);
	big[99] = '\0';
	cr_expect_eq(mo_intern_add(t, big, &id), 1);   /* own chunk of 100 */
	cr_expect_eq(mo_intern_add(t, "abc", &id), 1); /* still chunk 1 */
	mo_intern_info(t, &in);
	cr_expect_eq(in.chunk_bytes, 132);
	cr_expect_eq(mo_intern_add(t, "0123456789012345678", &id), 1);
	mo_intern_info(t, &in);
	cr_expect_eq(in.chunk_bytes, 164, "20 more do not fit in 17 left");
	cr_expect_str_eq(mo_intern_str(t, 1), big);
	cr_expect_str_eq(mo_intern_str(t, 2), "abc");

	mo_intern_clear(t);
	cr_expect_eq(mo_intern_count(t), 0);
	cr_expect_eq(mo_intern_find(t, "abc", NULL), -ENOENT);
	mo_intern_info(t, &in);
	cr_expect_eq(in.chunk_bytes, 32, "the newest chunk stays");
	cr_expect_eq(in.bytes_stored, 0);
	cr_expect_eq(mo_intern_add(t, "abc", &id), 1);
	cr_expect_eq(id, 0);
	mo_alloc_stats_t st;
	mo_intern_stats(t, &st);
	cr_expect_eq(st.resets, 1);
	mo_intern_destroy(t);
}

/* Many strings: ids stay dense and stable, pointers stay valid, and
 * lookups agree with a model array. */
Test(intern, randomized_model)
{
	enum { DISTINCT = 5000, STEPS = 40000 };
	static const char *ptr[DISTINCT];
	static int64_t idof[DISTINCT];
	mo_intern_opts_t o = {.chunk_size = 1000};
	mo_intern_t *t;
	mo_intern_info_t in;
	unsigned rnd = 31337;
	uint32_t next = 0, id;
	uint64_t naive = 0, stored = 0;
	char s[64];
	int step, i;

	for (i = 0; i < DISTINCT; i++)
		idof[i] = -1;
	cr_assert_eq(mo_intern_create(&t, &o), 0);
	for (step = 0; step < STEPS; step++) {
		rnd = rnd * 1103515245 + 12345;
		i = (rnd >> 8) % DISTINCT;
		int len = snprintf(s, sizeof(s), "sym_%d_%.*s", i, i % 40,
				   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN");
		int rc = mo_intern_add(t, s, &id);
		naive += len + 1;
		if (idof[i] < 0) {
			cr_assert_eq(rc, 1);
			cr_assert_eq(id, next++);
			idof[i] = id;
			ptr[i] = mo_intern_str(t, id);
			stored += len + 1;
		} else {
			cr_assert_eq(rc, 0);
			cr_assert_eq(id, (uint32_t)idof[i]);
			cr_assert_eq(mo_intern_str(t, id), ptr[i]);
		}
		cr_assert_str_eq(ptr[i], s);
	}
	cr_assert_eq(mo_intern_count(t), next);
	for (i = 0; i < DISTINCT; i++) {
		if (idof[i] < 0)
			continue;
		cr_assert_eq(mo_intern_find(t, ptr[i], &id), 0);
		cr_assert_eq(id, (uint32_t)idof[i]);
	}
	mo_intern_info(t, &in);
	cr_expect_eq(in.bytes_naive, naive);
	cr_expect_eq(in.bytes_stored, stored);
	cr_expect_eq(in.bytes_saved, naive - stored);
	cr_expect_eq(in.adds, STEPS);
	mo_intern_destroy(t);
}

Test(intern, invalid)
{
	mo_intern_opts_t o = {.chunk_size = SIZE_MAX};
	mo_intern_t *t = (mo_intern_t *)1;

	mo_alloc_stats_t st;

	cr_expect_eq(mo_intern_create(&t, &o), -EINVAL);
	cr_expect_null(t);
	cr_assert_eq(mo_intern_create(&t, NULL), 0);
	cr_expect_eq(mo_intern_addn(t, "x", SIZE_MAX, NULL), -EOVERFLOW);
	cr_expect_eq(mo_intern_addn(t, "x", PTRDIFF_MAX, NULL), -EOVERFLOW);
	cr_expect_eq(mo_intern_findn(t, "x", SIZE_MAX, NULL), -ENOENT);
	mo_intern_stats(t, &st);
	cr_expect_eq(st.failures, 2);
	cr_expect_eq(mo_intern_count(t), 0);
	mo_intern_destroy(t);
	mo_intern_destroy(NULL);
}

Test(intern, profiler_hooks)
{
	mo_intern_opts_t o = {.name = "syms"};
	mo_intern_t *t;
	mo_alloc_stats_t st;

	rec_start();
	cr_assert_eq(mo_intern_create(&t, &o), 0);
	cr_expect_eq(rec.created, 1);
	cr_expect_eq(rec.inst, t);
	cr_expect_str_eq(rec.kind, "intern");
	cr_expect_str_eq(rec.name, "syms");
	cr_assert_eq(mo_intern_add(t, "x", NULL), 1);
	cr_expect_eq(rec.allocs, 3, "id table, index, chunk");
	mo_intern_stats(t, &st);
	cr_expect_eq(st.live, 3);
	cr_expect_gt(rec.live_bytes, 65536);
	mo_intern_clear(t);
	cr_expect_eq(rec.resets, 1);
	mo_intern_destroy(t);
	cr_expect_eq(rec.frees, 3);
	cr_expect_eq(rec.live_bytes, 0);
	cr_expect_eq(rec.destroyed, 1);
	rec_stop();
}
