/*
 * Aligned-allocation helpers (lib/alloc/aligned.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/aligned.h>

#include "hook_rec.h"

Test(aligned, inline_helpers)
{
	cr_expect_eq(mo_align_up(0, 16), 0);
	cr_expect_eq(mo_align_up(1, 16), 16);
	cr_expect_eq(mo_align_up(16, 16), 16);
	cr_expect_eq(mo_align_up(17, 4096), 4096);
	cr_expect_eq(mo_align_down(17, 16), 16);
	cr_expect_eq(mo_align_down(15, 16), 0);
	cr_expect_eq(mo_align_down(8191, 4096), 4096);
	cr_expect(mo_is_aligned((void *)0x1000, 4096));
	cr_expect(!mo_is_aligned((void *)0x1008, 16));
	cr_expect(mo_is_aligned((void *)0x1008, 8));
	cr_expect(mo_is_aligned((void *)0x1001, 1));
}

Test(aligned, every_alignment)
{
	size_t align, size;

	for (align = 1; align <= MO_ALIGNED_MAX; align *= 2) {
		for (size = 0; size < 100; size += 33) {
			unsigned char *p = mo_aligned_alloc(size, align);
			cr_assert_not_null(p, "align %zu size %zu", align,
					   size);
			cr_expect(mo_is_aligned(p, align), "%p %zu", p, align);
			cr_expect(mo_is_aligned(p, 16));
			cr_expect_eq(mo_aligned_size(p), size);
			cr_expect_eq(mo_aligned_alignment(p),
				     align < 16 ? 16 : align);
			memset(p, 0xab, size);
			mo_aligned_free(p);
		}
	}
	mo_aligned_free(NULL);
	cr_expect_eq(mo_aligned_size(NULL), 0);
}

Test(aligned, arbitrary_size_unlike_aligned_alloc)
{
	/* 100 bytes at 64: aligned_alloc needs a multiple of 64. */
	char *p = mo_aligned_alloc(100, 64);

	cr_assert_not_null(p);
	cr_expect(mo_is_aligned(p, 64));
	mo_aligned_free(p);
}

Test(aligned, bad_alignment)
{
	errno = 0;
	cr_expect_null(mo_aligned_alloc(8, 0));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_null(mo_aligned_alloc(8, 48));
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_null(mo_aligned_alloc(8, MO_ALIGNED_MAX * 2));
	cr_expect_eq(errno, EINVAL);
}

Test(aligned, overflow_fails_cleanly)
{
	errno = 0;
	cr_expect_null(mo_aligned_alloc(SIZE_MAX, 16));
	cr_expect_eq(errno, ENOMEM);
	errno = 0;
	cr_expect_null(mo_aligned_alloc(SIZE_MAX - 20, 64));
	cr_expect_eq(errno, ENOMEM);
	errno = 0;
	cr_expect_null(mo_aligned_calloc(SIZE_MAX / 2, 3, 16));
	cr_expect_eq(errno, ENOMEM);
	errno = 0;
	cr_expect_null(mo_aligned_calloc((size_t)1 << 40, (size_t)1 << 40, 8));
	cr_expect_eq(errno, ENOMEM);
}

Test(aligned, calloc_zeroes)
{
	size_t i;
	unsigned char *p = mo_aligned_calloc(100, 3, 256);

	cr_assert_not_null(p);
	cr_expect(mo_is_aligned(p, 256));
	cr_expect_eq(mo_aligned_size(p), 300);
	for (i = 0; i < 300; i++)
		cr_assert_eq(p[i], 0);
	mo_aligned_free(p);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 31 + seed))
			return 0;
	return 1;
}

Test(aligned, realloc_keeps_alignment_and_contents)
{
	unsigned char *p = mo_aligned_realloc(NULL, 10, 4096);
	size_t sizes[] = {10, 5000, 3, 100000, 0, 70, 1 << 20, 17};
	size_t i, prev = 10;

	cr_assert_not_null(p);
	fill(p, 10, 7);
	for (i = 1; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t keep = prev < sizes[i] ? prev : sizes[i];
		p = mo_aligned_realloc(p, sizes[i], 4096);
		cr_assert_not_null(p);
		cr_expect(mo_is_aligned(p, 4096));
		cr_expect_eq(mo_aligned_size(p), sizes[i]);
		cr_expect(check(p, keep, 7), "step %zu", i);
		fill(p, sizes[i], 7);
		prev = sizes[i];
	}
	/* Changing the alignment, both ways. */
	p = mo_aligned_realloc(p, 17, 1 << 16);
	cr_assert_not_null(p);
	cr_expect(mo_is_aligned(p, 1 << 16));
	cr_expect(check(p, 17, 7));
	p = mo_aligned_realloc(p, 17, 32);
	cr_assert_not_null(p);
	cr_expect(mo_is_aligned(p, 32));
	cr_expect_eq(mo_aligned_alignment(p), 32);
	cr_expect(check(p, 17, 7));
	mo_aligned_free(p);
}

Test(aligned, realloc_failure_leaves_the_block)
{
	unsigned char *p = mo_aligned_alloc(40, 128);

	cr_assert_not_null(p);
	fill(p, 40, 3);
	errno = 0;
	cr_expect_null(mo_aligned_realloc(p, SIZE_MAX - 8, 128));
	cr_expect_eq(errno, ENOMEM);
	cr_expect_null(mo_aligned_realloc(p, 8, 3));
	cr_expect_eq(errno, EINVAL);
	cr_expect_eq(mo_aligned_size(p), 40);
	cr_expect(check(p, 40, 3));
	mo_aligned_free(p);
}

/* Random sequence against a model: every live block keeps its alignment
 * and contents and no two blocks overlap. */
Test(aligned, randomized_model)
{
	enum { N = 64, STEPS = 4000 };
	struct {
		unsigned char *p;
		size_t size, align;
		unsigned seed;
	} live[N] = {{0}};
	unsigned rnd = 12345;
	int step, i, j;

	for (step = 0; step < STEPS; step++) {
		rnd = rnd * 1103515245 + 12345;
		i = (rnd >> 8) % N;
		size_t size = (rnd >> 3) % 3000;
		size_t align = (size_t)1 << ((rnd >> 16) % 14);
		if (live[i].p && (rnd & 1)) {
			cr_assert(check(live[i].p, live[i].size, live[i].seed));
			mo_aligned_free(live[i].p);
			live[i].p = NULL;
			continue;
		}
		if (live[i].p) {
			size_t keep = size < live[i].size ? size : live[i].size;
			live[i].p = mo_aligned_realloc(live[i].p, size, align);
			cr_assert_not_null(live[i].p);
			cr_assert(check(live[i].p, keep, live[i].seed));
		} else {
			live[i].p = mo_aligned_alloc(size, align);
			cr_assert_not_null(live[i].p);
		}
		cr_assert(mo_is_aligned(live[i].p, align));
		live[i].size = size;
		live[i].align = align;
		live[i].seed = (unsigned)step;
		fill(live[i].p, size, live[i].seed);
	}
	for (i = 0; i < N; i++) {
		if (!live[i].p)
			continue;
		for (j = 0; j < N; j++) {
			if (j == i || !live[j].p)
				continue;
			cr_assert(live[i].p + live[i].size <= live[j].p ||
				  live[j].p + live[j].size <= live[i].p ||
				  !live[i].size || !live[j].size);
		}
		cr_assert(check(live[i].p, live[i].size, live[i].seed));
		cr_assert_eq(mo_aligned_size(live[i].p), live[i].size);
		mo_aligned_free(live[i].p);
	}
}

static char seen[160];

static void record_misuse(const char *kind, const char *name, const char *what)
{
	snprintf(seen, sizeof(seen), "%s|%s|%s", kind, name, what);
}

Test(aligned, foreign_pointer_is_reported)
{
	static uint64_t buf[64]; /* zeroes: no header */
	char want[160];

	mo_alloc_set_misuse_handler(record_misuse);
	mo_aligned_free(&buf[32]);
	snprintf(want, sizeof(want),
		 "aligned|mo_aligned|free of %p: not from mo_aligned_alloc",
		 (void *)&buf[32]);
	cr_expect_str_eq(seen, want);
	cr_expect_eq(mo_aligned_size(&buf[32]), 0);
	mo_alloc_set_misuse_handler(NULL);
}

Test(aligned, profiler_hooks)
{
	void *a, *b;

	rec_start();
	a = mo_aligned_alloc(100, 64);
	b = mo_aligned_alloc(28, 4096);
	cr_assert(a && b);
	cr_expect_eq(rec.created, 1);
	cr_expect_str_eq(rec.kind, "aligned");
	cr_expect_str_eq(rec.name, "mo_aligned");
	cr_expect_eq(rec.live_bytes, 128);
	a = mo_aligned_realloc(a, 300, 64);
	cr_assert_not_null(a);
	cr_expect_eq(rec.live_bytes, 328);
	mo_aligned_free(a);
	mo_aligned_free(b);
	cr_expect_eq(rec.created, 1, "announced once");
	cr_expect_eq(rec.allocs, 3);
	cr_expect_eq(rec.frees, 3);
	cr_expect_eq(rec.live_bytes, 0);
	rec_stop();
}
