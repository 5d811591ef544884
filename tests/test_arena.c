/*
 * Tests of the arena (bump) allocator (lib/alloc/arena.c, memopt/arena.h).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/arena.h>

#include "alloc_test_util.h"

#define KB 1024u
#define PAGE 4096u

TestSuite(arena, .init = setup_handler, .fini = teardown_handler);

static mo_alloc_stats_t stats(const mo_arena_t *a)
{
	mo_alloc_stats_t st;
	mo_arena_stats(a, &st);
	return st;
}

/* in_use, internal_frag, capacity, live, allocs, failures, resets */
#define expect_stats(a, iu, fr, cap, lv, al, fa, rs)                      \
	do {                                                              \
		mo_alloc_stats_t st_ = stats(a);                          \
		cr_expect_eq(st_.in_use, (iu), "in_use %lu", st_.in_use); \
		cr_expect_eq(st_.internal_frag, (fr), "frag %lu",         \
			     st_.internal_frag);                          \
		cr_expect_eq(st_.capacity, (cap), "capacity %lu",         \
			     st_.capacity);                               \
		cr_expect_eq(st_.live, (lv), "live %lu", st_.live);       \
		cr_expect_eq(st_.allocs, (al), "allocs %lu", st_.allocs); \
		cr_expect_eq(st_.failures, (fa), "failures %lu",          \
			     st_.failures);                               \
		cr_expect_eq(st_.resets, (rs), "resets %lu", st_.resets); \
		cr_expect_eq(st_.frees, 0);                               \
	} while (0)

/* 4 KiB blocks that do not grow, requests over 1 KiB get their own. */
static mo_arena_t *small_blocks(unsigned flags)
{
	mo_arena_opts_t o = {.name = "frame",
			     .flags = flags,
			     .block_size = PAGE,
			     .max_block_size = PAGE,
			     .oversize = KB};
	mo_arena_t *a = NULL;
	cr_assert_eq(mo_arena_create(&a, &o), 0);
	return a;
}

static mo_arena_t *reserved(unsigned flags, size_t reserve)
{
	mo_arena_opts_t o = {.name = "range",
			     .flags = flags,
			     .mode = MO_ARENA_RESERVE,
			     .reserve = reserve,
			     .commit_step = 64 * KB};
	mo_arena_t *a = NULL;
	cr_assert_eq(mo_arena_create(&a, &o), 0);
	return a;
}

Test(arena, create_options)
{
	mo_arena_t *a = NULL;
	char buf[64];

	cr_expect_eq(mo_arena_create(&a, NULL), 0);
	cr_expect_eq(mo_arena_align(a), 16);
	expect_stats(a, 0, 0, 0, 0, 0, 0, 0);
	mo_arena_destroy(a);
	mo_arena_destroy(NULL);
	cr_expect_eq(mo_arena_create(&a, &(mo_arena_opts_t){.align = 24}),
		     -EINVAL);
	cr_expect_eq(mo_arena_create(&a, &(mo_arena_opts_t){.mode = 7}),
		     -EINVAL);
	cr_expect_eq(mo_arena_create(&a, &(mo_arena_opts_t){.block_size = PAGE,
							    .oversize = 8192}),
		     -EINVAL);
	cr_expect_eq(
		mo_arena_create(&a, &(mo_arena_opts_t){.mode = MO_ARENA_RESERVE,
						       .buffer = buf,
						       .buffer_size = 64}),
		-EINVAL);
	cr_expect_eq(mo_arena_create(&a, &(mo_arena_opts_t){.buffer = buf}),
		     -EINVAL);
	cr_expect_eq(mo_arena_create(NULL, NULL), -EINVAL);
}

Test(arena, blocks_exact_stats)
{
	mo_arena_t *a = small_blocks(0);
	char *p[10];

	expect_stats(a, 0, 0, 0, 0, 0, 0, 0);
	p[0] = mo_arena_alloc(a, 10); /* maps block 1, offset 0 */
	cr_assert_not_null(p[0]);
	cr_expect_eq((uintptr_t)p[0] % PAGE, 0);
	expect_stats(a, 10, 0, PAGE, 1, 1, 0, 0);
	p[1] = mo_arena_alloc(a, 10); /* pad 6: offset 16 */
	cr_expect_eq(p[1], p[0] + 16);
	expect_stats(a, 20, 6, PAGE, 2, 2, 0, 0);
	p[2] = mo_arena_alloc_aligned(a, 1, 64); /* 26 -> 64: pad 38 */
	cr_expect_eq(p[2], p[0] + 64);
	expect_stats(a, 21, 44, PAGE, 3, 3, 0, 0);
	p[3] = mo_arena_alloc(a, 1000); /* 65 -> 80, to 1080 */
	p[4] = mo_arena_alloc(a, 1000); /* 1088, to 2088 */
	p[5] = mo_arena_alloc(a, 1000); /* 2096, to 3096 */
	cr_expect_eq(p[3], p[0] + 80);
	cr_expect_eq(p[5], p[0] + 2096);
	expect_stats(a, 3021, 44 + 15 + 8 + 8, PAGE, 6, 6, 0, 0);
	/* 3104 + 1000 > 4096: block 2, the 3096..4096 tail is lost */
	p[6] = mo_arena_alloc(a, 1000);
	cr_expect((uintptr_t)p[6] % PAGE == 0 &&
		  (p[6] < p[0] || p[6] >= p[0] + PAGE));
	expect_stats(a, 4021, PAGE + 1000 - 4021, 2 * PAGE, 7, 7, 0, 0);
	/* oversized and no room: a block of its own (8 KiB) */
	p[7] = mo_arena_alloc(a, 5000);
	cr_assert_not_null(p[7]);
	memset(p[7], 7, 5000);
	expect_stats(a, 9021, PAGE + 8192 + 1000 - 9021, 4 * PAGE, 8, 8, 0, 0);
	/* the current block is still block 2 */
	p[8] = mo_arena_alloc(a, 16);
	cr_expect_eq(p[8], p[6] + 1008);
	expect_stats(a, 9037, PAGE + 8192 + 1024 - 9037, 4 * PAGE, 9, 9, 0, 0);
	/* oversized but it fits: served from the current block */
	p[9] = mo_arena_alloc(a, 2000);
	cr_expect_eq(p[9], p[6] + 1024);
	expect_stats(a, 11037, PAGE + 8192 + 3024 - 11037, 4 * PAGE, 10, 10, 0,
		     0);
	cr_expect_eq(stats(a).peak, 11037);
	mo_arena_destroy(a);
}

Test(arena, blocks_grow_by_doubling)
{
	mo_arena_opts_t o = {.block_size = PAGE, .max_block_size = 4 * PAGE};
	mo_arena_t *a = NULL;
	size_t i;

	cr_assert_eq(mo_arena_create(&a, &o), 0);
	/* oversize is block_size / 4 = 1024: 1000-byte requests chain */
	for (i = 0; i < 4; i++) /* 4 in block 1 (4 KiB) would need 4032 */
		cr_assert_not_null(mo_arena_alloc(a, 1000));
	cr_expect_eq(stats(a).capacity, PAGE);
	cr_assert_not_null(mo_arena_alloc(a, 1000));
	cr_expect_eq(stats(a).capacity, PAGE + 2 * PAGE);
	for (i = 0; i < 8; i++)
		cr_assert_not_null(mo_arena_alloc(a, 1000));
	cr_expect_eq(stats(a).capacity, PAGE + 2 * PAGE + 4 * PAGE);
	for (i = 0; i < 16; i++)
		cr_assert_not_null(mo_arena_alloc(a, 1000));
	cr_expect_eq(stats(a).capacity, 7 * PAGE + 4 * PAGE, "capped");
	mo_arena_destroy(a);
}

Test(arena, reserve_exact_stats)
{
	mo_arena_t *a = reserved(0, 1u << 20);
	char *p, *q;

	expect_stats(a, 0, 0, 0, 0, 0, 0, 0);
	p = mo_arena_alloc(a, 10);
	cr_assert_not_null(p);
	expect_stats(a, 10, 0, 64 * KB, 1, 1, 0, 0);
	q = mo_arena_alloc(a, 70000); /* 16 .. 70016: commits 128 KiB */
	cr_assert_eq(q, p + 16);
	memset(q, 1, 70000);
	expect_stats(a, 70010, 6, 128 * KB, 2, 2, 0, 0);
	cr_expect_null(mo_arena_alloc(a, 1u << 20), "past the range");
	expect_stats(a, 70010, 6, 128 * KB, 2, 2, 1, 0);
	/* up to the end of the range exactly */
	q = mo_arena_alloc(a, (1u << 20) - 70016);
	cr_assert_eq(q, p + 70016);
	memset(q, 2, (1u << 20) - 70016);
	expect_stats(a, (1u << 20) - 6, 6, 1u << 20, 3, 3, 1, 0);
	cr_expect_null(mo_arena_alloc(a, 1), "full");
	mo_arena_reset(a);
	expect_stats(a, 0, 0, 1u << 20, 0, 3, 2, 1);
	cr_expect_eq(mo_arena_alloc(a, 8), p, "the range is reused");
	mo_arena_release(a);
	expect_stats(a, 0, 0, 0, 0, 4, 2, 2);
	p = mo_arena_alloc(a, 100);
	cr_assert_not_null(p);
	memset(p, 3, 100);
	expect_stats(a, 100, 0, 64 * KB, 1, 5, 2, 2);
	cr_expect_eq(stats(a).peak, (1u << 20) - 6);
	mo_arena_destroy(a);
}

Test(arena, alignments)
{
	mo_arena_t *arenas[2] = {small_blocks(0), reserved(0, 1u << 24)};
	size_t al, k;

	for (k = 0; k < 2; k++) {
		mo_arena_t *a = arenas[k];
		uint64_t n = 0;
		for (al = 1; al <= 65536; al *= 2) {
			size_t sz;
			for (sz = 1; sz < 300; sz += 37) {
				char *p = mo_arena_alloc_aligned(a, sz, al);
				cr_assert_not_null(p, "align %zu", al);
				cr_expect_eq((uintptr_t)p % al, 0, "align %zu",
					     al);
				memset(p, 0x5a, sz);
				n++;
			}
		}
		cr_expect_null(mo_arena_alloc_aligned(a, 8, 24));
		cr_expect_null(mo_arena_alloc_aligned(a, 8, 0));
		cr_expect_eq(stats(a).live, n);
		cr_expect_eq(stats(a).failures, 2);
		mo_arena_destroy(a);
	}
}

Test(arena, overflow)
{
	mo_arena_t *arenas[2] = {small_blocks(0), reserved(0, 1u << 20)};
	size_t k;

	for (k = 0; k < 2; k++) {
		mo_arena_t *a = arenas[k];
		cr_assert_not_null(mo_arena_alloc(a, 1));
		cr_expect_null(mo_arena_alloc(a, SIZE_MAX));
		cr_expect_null(mo_arena_alloc(a, SIZE_MAX - 8));
		cr_expect_null(mo_arena_alloc_aligned(a, SIZE_MAX - 2, 64));
		cr_expect_null(mo_arena_alloc_aligned(a, SIZE_MAX / 2, 4096));
		cr_expect_null(mo_arena_alloc_array(a, SIZE_MAX / 2, 4, 8));
		cr_expect_null(mo_arena_alloc(a, (size_t)1 << 46));
		expect_stats(a, 1, 0, k ? 64 * KB : PAGE, 1, 1, 6, 0);
		cr_expect_not_null(mo_arena_alloc_array(a, 10, 4, 8));
		cr_expect_eq(stats(a).in_use, 41);
		mo_arena_destroy(a);
	}
}

Test(arena, max_capacity)
{
	mo_arena_opts_t o = {.block_size = PAGE,
			     .max_block_size = PAGE,
			     .oversize = PAGE,
			     .max_capacity = 2 * PAGE};
	mo_arena_t *a = NULL;

	cr_assert_eq(mo_arena_create(&a, &o), 0);
	cr_expect_not_null(mo_arena_alloc(a, 1000));
	cr_expect_not_null(mo_arena_alloc(a, 3500)); /* block 2 */
	cr_expect_null(mo_arena_alloc(a, 2000), "over max_capacity");
	cr_expect_null(mo_arena_alloc(a, 100000), "own block too");
	expect_stats(a, 4500, PAGE + 3500 - 4500, 2 * PAGE, 2, 2, 2, 0);
	mo_arena_destroy(a);
}

Test(arena, caller_buffer)
{
	static _Alignas(64) char buf[1000];
	mo_arena_opts_t o = {.buffer = buf,
			     .buffer_size = sizeof(buf),
			     .block_size = PAGE,
			     .max_block_size = PAGE};
	mo_arena_t *a = NULL;
	char *p, *q;

	cr_assert_eq(mo_arena_create(&a, &o), 0);
	expect_stats(a, 0, 0, 1000, 0, 0, 0, 0);
	p = mo_arena_alloc(a, 600);
	cr_expect_eq(p, buf);
	q = mo_arena_alloc(a, 600); /* no room: block 2 (mmap'd) */
	cr_expect(q < buf || q >= buf + sizeof(buf));
	expect_stats(a, 1200, 1000 + 600 - 1200, 1000 + PAGE, 2, 2, 0, 0);
	mo_arena_reset(a);
	expect_stats(a, 0, 0, 1000 + PAGE, 0, 2, 0, 1);
	cr_expect_eq(mo_arena_alloc(a, 10), buf, "the buffer comes first");
	mo_arena_release(a);
	expect_stats(a, 0, 0, 1000, 0, 3, 0, 2);
	cr_expect_eq(mo_arena_alloc(a, 10), buf, "the buffer stays");
	mo_arena_destroy(a);
}

Test(arena, zero_size)
{
	mo_arena_t *a = small_blocks(0);
	char *p = mo_arena_alloc_aligned(a, 0, 1);

	cr_expect_not_null(p);
	cr_expect_not_null(mo_arena_alloc(a, 0));
	expect_stats(a, 0, 0, 0 + stats(a).capacity, 2, 2, 0, 0);
	mo_arena_destroy(a);
}

Test(arena, nested_marks)
{
	mo_arena_t *a = small_blocks(0);
	mo_arena_mark_t m0, m1, m2;
	char *p, *q;

	p = mo_arena_alloc(a, 100);
	memset(p, 1, 100);
	m0 = mo_arena_mark(a);
	q = mo_arena_alloc(a, 1000);
	cr_expect_eq(q, p + 112);
	m1 = mo_arena_mark(a);
	mo_arena_alloc(a, 1000);
	mo_arena_alloc(a, 1000);
	mo_arena_alloc(a, 1000); /* block 2 */
	mo_arena_alloc(a, 9000); /* own block, 12 KiB */
	expect_stats(a, 13100, PAGE + 12288 + 1000 - 13100, 5 * PAGE, 6, 6, 0,
		     0);
	m2 = mo_arena_mark(a);
	mo_arena_alloc(a, 20000); /* own block, 20 KiB */
	cr_expect_eq(stats(a).capacity, 10 * PAGE);
	mo_arena_rewind(a, m2);
	expect_stats(a, 13100, PAGE + 12288 + 1000 - 13100, 5 * PAGE, 6, 7, 0,
		     1);
	mo_arena_rewind(a, m1);
	/* the own block goes, block 2 is kept for reuse */
	expect_stats(a, 1100, 12, 2 * PAGE, 2, 7, 0, 2);
	cr_expect_eq(mo_arena_alloc(a, 8), q + 1008, "back where m1 was");
	mo_arena_alloc(a, 1000);
	mo_arena_alloc(a, 1000);
	mo_arena_alloc(a, 1000); /* block 2 again */
	cr_expect_eq(stats(a).capacity, 2 * PAGE, "block 2 reused");
	mo_arena_rewind(a, m0);
	expect_stats(a, 100, 0, 2 * PAGE, 1, 11, 0, 3);
	cr_expect_eq(stats(a).peak, 33100);
	for (size_t i = 0; i < 100; i++)
		cr_assert_eq(p[i], 1);
	cr_expect_eq(nseen, 0);
	mo_arena_destroy(a);
}

Test(arena, marks_in_reserve_mode)
{
	mo_arena_t *a = reserved(0, 1u << 22);
	mo_arena_mark_t m;
	char *p = mo_arena_alloc(a, 10), *q;

	m = mo_arena_mark(a);
	q = mo_arena_alloc(a, 1u << 20);
	cr_expect_eq(q, p + 16);
	expect_stats(a, 10 + (1u << 20), 6, (1u << 20) + 64 * KB, 2, 2, 0, 0);
	mo_arena_rewind(a, m);
	expect_stats(a, 10, 0, (1u << 20) + 64 * KB, 1, 2, 0, 1);
	cr_expect_eq(mo_arena_alloc(a, 1), p + 16);
	mo_arena_destroy(a);
}

Test(arena, scope)
{
	mo_arena_t *a = small_blocks(0);
	int runs = 0;

	mo_arena_alloc(a, 10);
	MO_ARENA_SCOPE(a)
	{
		mo_arena_alloc(a, 100);
		MO_ARENA_SCOPE(a)
		{
			mo_arena_alloc(a, 3000);
			mo_arena_alloc(a, 3000);
			cr_expect_eq(stats(a).in_use, 6110);
			runs++;
		}
		cr_expect_eq(stats(a).in_use, 110);
		runs++;
	}
	/* the second 3000 had a block of its own, gone with its scope */
	expect_stats(a, 10, 0, PAGE, 1, 4, 0, 2);
	cr_expect_eq(runs, 2);
	mo_arena_destroy(a);
}

Test(arena, reset_and_release)
{
	mo_arena_t *a = small_blocks(0);
	size_t i;

	for (i = 0; i < 10; i++)
		mo_arena_alloc(a, 1000);
	mo_arena_alloc(a, 10000);
	/* 4 per block: 3 blocks, and one of its own (12 KiB) */
	expect_stats(a, 20000, 2 * PAGE + 12288 + 2008 - 20000, 6 * PAGE, 11,
		     11, 0, 0);
	mo_arena_reset(a);
	/* the chain (3 blocks) stays, the own block goes */
	expect_stats(a, 0, 0, 3 * PAGE, 0, 11, 0, 1);
	for (i = 0; i < 10; i++)
		mo_arena_alloc(a, 1000);
	cr_expect_eq(stats(a).capacity, 3 * PAGE, "blocks reused");
	mo_arena_release(a);
	expect_stats(a, 0, 0, 0, 0, 21, 0, 2);
	cr_expect_eq(stats(a).peak, 20000);
	cr_expect_not_null(mo_arena_alloc(a, 1));
	cr_expect_eq(stats(a).capacity, PAGE);
	mo_arena_destroy(a);
}

/* --- misuse ------------------------------------------------------------ */

Test(arena, rewind_foreign_mark)
{
	mo_arena_t *a = small_blocks(0), *b = small_blocks(0);
	mo_arena_mark_t m = mo_arena_mark(b);

	mo_arena_alloc(a, 10);
	mo_arena_rewind(a, m);
	cr_expect_str_eq(seen, "arena|frame|rewind to a mark of another arena");
	expect_stats(a, 10, 0, PAGE, 1, 1, 0, 0);
	mo_arena_destroy(a);
	mo_arena_destroy(b);
}

Test(arena, rewind_after_reset)
{
	mo_arena_t *a = small_blocks(0);
	mo_arena_mark_t m;

	mo_arena_alloc(a, 10);
	m = mo_arena_mark(a);
	mo_arena_alloc(a, 10);
	mo_arena_reset(a);
	mo_arena_alloc(a, 100);
	mo_arena_rewind(a, m);
	cr_expect_str_eq(seen, "arena|frame|rewind to a mark that is not on "
			       "the arena's stack of marks");
	expect_stats(a, 100, 0, PAGE, 1, 3, 0, 1);
	mo_arena_destroy(a);
}

Test(arena, rewind_past_position)
{
	mo_arena_t *a = small_blocks(0);
	mo_arena_mark_t m0, m1;

	m0 = mo_arena_mark(a);
	mo_arena_alloc(a, 1000);
	mo_arena_alloc(a, 1000);
	mo_arena_alloc(a, 3000); /* block 2 */
	m1 = mo_arena_mark(a);
	mo_arena_rewind(a, m0);
	mo_arena_alloc(a, 10);
	mo_arena_rewind(a, m1); /* its block is no longer in the chain */
	cr_expect_eq(nseen, 1);
	cr_expect_str_eq(seen, "arena|frame|rewind to a mark that is not on "
			       "the arena's stack of marks");
	mo_arena_destroy(a);
}

Test(arena, debug_mark_stack)
{
	mo_arena_t *a = small_blocks(MO_ALLOC_DEBUG);
	mo_arena_mark_t ma, mb, mc;

	mo_arena_alloc(a, 10);
	ma = mo_arena_mark(a);
	mo_arena_alloc(a, 10);
	mb = mo_arena_mark(a);
	mo_arena_rewind(a, ma);
	mo_arena_alloc(a, 100); /* past mb's position, same block */
	mo_arena_rewind(a, mb);
	cr_expect_eq(nseen, 1);
	cr_expect_str_eq(seen, "arena|frame|rewind to a mark that is not on "
			       "the arena's stack of marks");
	cr_expect_eq(stats(a).in_use, 110, "nothing freed");
	mo_arena_rewind(a, ma); /* consumed by the first rewind */
	cr_expect_eq(nseen, 2);
	/* properly nested: fine */
	ma = mo_arena_mark(a);
	mb = mo_arena_mark(a);
	mc = mo_arena_mark(a);
	mo_arena_rewind(a, mb); /* drops mc too */
	mo_arena_rewind(a, ma);
	cr_expect_eq(nseen, 2);
	mo_arena_rewind(a, mc);
	cr_expect_eq(nseen, 3);
	mo_arena_destroy(a);
}

static int all_bytes(const char *p, size_t n, int c)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] != c)
			return 0;
	return 1;
}

Test(arena, debug_poisoning)
{
	mo_arena_t *arenas[2] = {small_blocks(MO_ALLOC_DEBUG),
				 reserved(MO_ALLOC_DEBUG, 1u << 20)};

	for (size_t k = 0; k < 2; k++) {
		mo_arena_t *a = arenas[k];
		char *p = mo_arena_alloc(a, 100), *q, *r;
		mo_arena_mark_t m;

		memset(p, 0x11, 100);
		m = mo_arena_mark(a);
		q = mo_arena_alloc(a, 200);
		memset(q, 0x22, 200);
		r = mo_arena_alloc(a, 1000);
		memset(r, 0x33, 1000);
		if (!k) { /* block 2 */
			mo_arena_alloc(a, 1000);
			mo_arena_alloc(a, 1000);
			r = mo_arena_alloc(a, 1000);
			memset(r, 0x44, 1000);
		}
		mo_arena_rewind(a, m);
		cr_expect(all_bytes(p, 100, 0x11));
		cr_expect(all_bytes(q, 200, MO_ARENA_POISON));
		cr_expect(all_bytes(r, 1000, MO_ARENA_POISON),
			  "block 2 (kept) poisoned too");
		q = mo_arena_alloc(a, 50);
		memset(q, 0x55, 50);
		mo_arena_reset(a);
		cr_expect(all_bytes(p, 100, MO_ARENA_POISON));
		cr_expect(all_bytes(q, 50, MO_ARENA_POISON));
		cr_expect_eq(nseen, 0);
		mo_arena_destroy(a);
	}
}

/* --- profiler hooks ------------------------------------------------------ */

static int h_created, h_destroyed, h_alloc, h_reset;
static size_t h_size, h_reserved;
static const void *h_p;

static void hk_created(const void *inst, const char *kind, const char *name)
{
	(void)inst;
	h_created += !strcmp(kind, "arena") && !strcmp(name, "frame");
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
	h_alloc++;
	h_p = p;
	h_size = size;
	h_reserved = reserved;
}
static void hk_reset(const void *inst)
{
	(void)inst;
	h_reset++;
}

Test(arena, profiler_hooks)
{
	static const mo_alloc_hooks_t hooks = {.created = hk_created,
					       .destroyed = hk_destroyed,
					       .alloc = hk_alloc,
					       .reset = hk_reset};
	mo_arena_t *a;
	char *p, *q;

	mo_alloc_hooks = &hooks;
	a = small_blocks(0);
	p = mo_arena_alloc(a, 10);
	q = mo_arena_alloc_aligned(a, 20, 64);
	cr_expect_eq(h_alloc, 2);
	cr_expect_eq(h_p, q);
	cr_expect_eq(h_size, 20);
	cr_expect_eq(h_reserved, 54 + 20);
	cr_expect_eq(q, p + 64);
	mo_arena_reset(a);
	mo_arena_destroy(a);
	mo_alloc_hooks = NULL;
	cr_expect_eq(h_created, 1);
	cr_expect_eq(h_reset, 1);
	cr_expect_eq(h_destroyed, 1);
}

/* --- randomized test against a model ------------------------------------ */

typedef struct {
	char *p;
	size_t size, align;
	unsigned char fill;
} live_t;

typedef struct {
	mo_arena_mark_t m;
	size_t nlive;
	uint64_t in_use, frag;
} mark_rec_t;

static int cmp_live(const void *x, const void *y)
{
	const live_t *a = x, *b = y;
	if (a->p != b->p)
		return a->p < b->p ? -1 : 1;
	return a->size < b->size ? -1 : a->size > b->size;
}

static void check_live(live_t *lv, size_t n)
{
	live_t *s = malloc((n + 1) * sizeof(*s));

	memcpy(s, lv, n * sizeof(*s));
	for (size_t i = 0; i < n; i++) {
		cr_assert(all_bytes(lv[i].p, lv[i].size, lv[i].fill),
			  "contents of live %zu", i);
		cr_assert_eq((uintptr_t)lv[i].p % lv[i].align, 0);
	}
	qsort(s, n, sizeof(*s), cmp_live);
	for (size_t i = 1; i < n; i++)
		cr_assert(s[i - 1].p + s[i - 1].size <= s[i].p, "overlap");
	free(s);
}

static void model_run(mo_arena_t *a, unsigned seed)
{
	enum { MAXLIVE = 4000, MAXMARKS = 64 };
	static live_t lv[MAXLIVE];
	static mark_rec_t mk[MAXMARKS];
	size_t nlive = 0, nmarks = 0;
	uint64_t in_use = 0, peak = 0, allocs = 0, resets = 0;

	srand(seed);
	for (int step = 0; step < 20000; step++) {
		int op = rand() % 100;
		mo_alloc_stats_t st;

		if (op < 80 && nlive < MAXLIVE) {
			size_t size = rand() % 8 ? (size_t)(rand() % 200)
						 : (size_t)(rand() % 6000);
			size_t align = (size_t)1 << (rand() % 9);
			char *p;
			if (rand() % 2) {
				p = mo_arena_alloc_aligned(a, size, align);
			} else {
				p = mo_arena_alloc(a, size);
				align = mo_arena_align(a);
			}
			if (p == NULL)
				cr_assert_fail("alloc %zu failed", size);
			lv[nlive] = (live_t){p, size, align,
					     (unsigned char)(step & 0xff)};
			memset(p, step & 0xff, size);
			nlive++;
			in_use += size;
			allocs++;
			if (in_use > peak)
				peak = in_use;
		} else if (op < 88 && nmarks < MAXMARKS) {
			mo_arena_stats(a, &st);
			mk[nmarks++] =
				(mark_rec_t){mo_arena_mark(a), nlive, st.in_use,
					     st.internal_frag};
		} else if (op < 98 && nmarks) {
			size_t k = (size_t)rand() % nmarks;
			mo_arena_rewind(a, mk[k].m);
			nlive = mk[k].nlive;
			in_use = mk[k].in_use;
			nmarks = k;
			resets++;
			mo_arena_stats(a, &st);
			cr_assert_eq(st.internal_frag, mk[k].frag);
			check_live(lv, nlive);
		} else if (op >= 99) {
			mo_arena_reset(a);
			nlive = nmarks = 0;
			in_use = 0;
			resets++;
		}
		mo_arena_stats(a, &st);
		cr_assert_eq(st.in_use, in_use);
		cr_assert_eq(st.live, nlive);
		cr_assert_eq(st.allocs, allocs);
		cr_assert_eq(st.peak, peak);
		cr_assert_eq(st.resets, resets);
		cr_assert_eq(st.failures, 0);
		cr_assert_geq(st.capacity, st.in_use + st.internal_frag);
	}
	check_live(lv, nlive);
	cr_expect_eq(nseen, 0);
}

Test(arena, model_blocks)
{
	mo_arena_t *a = small_blocks(0);
	model_run(a, 1);
	mo_arena_destroy(a);
	a = small_blocks(MO_ALLOC_DEBUG);
	model_run(a, 2);
	mo_arena_destroy(a);
}

Test(arena, model_growing_blocks)
{
	mo_arena_opts_t o = {.block_size = PAGE, .align = 8};
	mo_arena_t *a = NULL;

	cr_assert_eq(mo_arena_create(&a, &o), 0);
	model_run(a, 3);
	mo_arena_destroy(a);
}

Test(arena, model_reserve)
{
	mo_arena_t *a = reserved(0, 1u << 26);
	model_run(a, 4);
	mo_arena_destroy(a);
	a = reserved(MO_ALLOC_DEBUG, 1u << 26);
	model_run(a, 5);
	mo_arena_destroy(a);
}
