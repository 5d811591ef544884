/*
 * Buddy allocator (lib/alloc/buddy.c): exact splits, merges and stats,
 * alignment, out of memory, misuse, debug poisoning and a randomized test
 * against a model.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/buddy.h>

#include "alloc_test_util.h"

static _Alignas(1024) unsigned char region[2048];

static mo_buddy_t *make(void *buf, size_t size, size_t min, unsigned flags)
{
	mo_buddy_opts_t o = {.name = "pages",
			     .buf = buf,
			     .size = size,
			     .min_block = min,
			     .flags = flags};
	mo_buddy_t *b = NULL;

	cr_assert_eq(mo_buddy_create(&b, &o), 0);
	return b;
}

/* Free blocks per order as "n0 n1 n2 ...". */
static const char *free_counts(mo_buddy_t *b)
{
	static char s[256];
	mo_buddy_info_t info;
	size_t len = 0;

	mo_buddy_info(b, &info);
	s[0] = '\0';
	for (unsigned k = 0; k <= info.max_order; k++)
		len += (size_t)snprintf(s + len, sizeof(s) - len, "%s%zu",
					k ? " " : "", info.free_blocks[k]);
	return s;
}

Test(buddy, create_errors)
{
	mo_buddy_t *b = NULL;
	mo_buddy_opts_t o = {.buf = region, .size = 1000};

	cr_expect_eq(mo_buddy_create(&b, NULL), -EINVAL);
	cr_expect_eq(mo_buddy_create(&b, &o), -EINVAL, "not a power of 2");
	o.size = 1024;
	o.min_block = 8;
	cr_expect_eq(mo_buddy_create(&b, &o), -EINVAL, "min block < 16");
	o.min_block = 48;
	cr_expect_eq(mo_buddy_create(&b, &o), -EINVAL);
	o.min_block = 2048;
	cr_expect_eq(mo_buddy_create(&b, &o), -EINVAL, "min block > size");
	o.min_block = 0;
	o.buf = region + 8;
	cr_expect_eq(mo_buddy_create(&b, &o), -EINVAL, "misaligned buffer");
	o.buf = NULL;
	o.size = MO_BUDDY_MAX_SIZE * 2;
	cr_expect_eq(mo_buddy_create(&b, &o), -EINVAL);
	cr_expect_null(b);
	mo_buddy_destroy(NULL);
}

Test(buddy, split_and_merge_counts)
{
	mo_buddy_t *b = make(region, 1024, 64, 0);
	mo_buddy_info_t info;
	void *p;

	mo_buddy_info(b, &info);
	cr_expect_eq(info.min_block, 64);
	cr_expect_eq(info.max_order, 4);
	cr_expect_str_eq(free_counts(b), "0 0 0 0 1");
	p = mo_buddy_alloc(b, 1);
	cr_expect_eq(p, region);
	cr_expect_str_eq(free_counts(b), "1 1 1 1 0");
	mo_buddy_info(b, &info);
	cr_expect_eq(info.splits, 4);
	cr_expect_eq(info.free_bytes, 1024 - 64);
	cr_expect_eq(info.largest_free, 512);
	mo_buddy_free(b, p);
	cr_expect_str_eq(free_counts(b), "0 0 0 0 1");
	mo_buddy_info(b, &info);
	cr_expect_eq(info.merges, 4);
	mo_buddy_destroy(b);
}

Test(buddy, three_allocs_free_middle_then_neighbours)
{
	mo_buddy_t *b = make(region, 1024, 64, 0);
	mo_alloc_stats_t st;
	mo_buddy_info_t info;
	char *x, *y, *z;

	x = mo_buddy_alloc(b, 100); /* order 1 at 0 */
	y = mo_buddy_alloc(b, 64);  /* order 0 at 128 */
	z = mo_buddy_alloc(b, 200); /* order 2 at 256 */
	cr_assert(x && y && z);
	cr_expect_eq(x, (char *)region);
	cr_expect_eq(y, (char *)region + 128);
	cr_expect_eq(z, (char *)region + 256);
	cr_expect_str_eq(free_counts(b), "1 0 0 1 0");
	mo_buddy_stats(b, &st);
	cr_expect_eq(st.in_use, 364);
	cr_expect_eq(st.capacity, 1024);
	cr_expect_eq(st.internal_frag, 28 + 0 + 56);
	cr_expect_eq(st.live, 3);
	cr_expect_eq(mo_buddy_usable_size(b, x), 128);
	cr_expect_eq(mo_buddy_usable_size(b, z), 256);
	mo_buddy_info(b, &info);
	cr_expect_eq(info.splits, 4);

	mo_buddy_free(b, y); /* merges with its buddy at 192 */
	cr_expect_str_eq(free_counts(b), "0 1 0 1 0");
	mo_buddy_free(b, x); /* merges with 128..256 */
	cr_expect_str_eq(free_counts(b), "0 0 1 1 0");
	mo_buddy_free(b, z); /* merges twice: one block again */
	cr_expect_str_eq(free_counts(b), "0 0 0 0 1");
	mo_buddy_info(b, &info);
	cr_expect_eq(info.merges, 4);
	mo_buddy_stats(b, &st);
	cr_expect_eq(st.in_use, 0);
	cr_expect_eq(st.peak, 364);
	cr_expect_eq(st.internal_frag, 0);
	cr_expect_eq(st.frees, 3);
	mo_buddy_destroy(b);
}

Test(buddy, no_merge_while_the_buddy_is_used)
{
	mo_buddy_t *b = make(region, 1024, 64, 0);
	void *p[16];

	for (int i = 0; i < 16; i++)
		cr_assert_eq(p[i] = mo_buddy_alloc(b, 64), region + 64 * i);
	cr_expect_null(mo_buddy_alloc(b, 1));
	for (int i = 0; i < 16; i += 2)
		mo_buddy_free(b, p[i]);
	cr_expect_str_eq(free_counts(b), "8 0 0 0 0");
	for (int i = 1; i < 16; i += 2)
		mo_buddy_free(b, p[i]);
	cr_expect_str_eq(free_counts(b), "0 0 0 0 1");
	mo_buddy_destroy(b);
}

Test(buddy, natural_alignment)
{
	mo_buddy_t *b = make(NULL, 1 << 20, 16, 0);
	mo_alloc_stats_t st;
	void *p;

	for (size_t sz = 1; sz <= (1 << 16); sz = sz * 3 + 1) {
		size_t blk = sz < 16 ? 16
				     : (size_t)1
					       << (64 - __builtin_clzl(sz - 1));
		p = mo_buddy_alloc(b, sz);
		cr_assert_not_null(p);
		cr_expect_eq((uintptr_t)p % blk, 0, "size %zu", sz);
		cr_expect_eq(mo_buddy_usable_size(b, p), blk);
	}
	mo_buddy_reset(b);
	size_t aligns[] = {16, 32, 64, 256, 4096, 1 << 16, 1 << 20};
	for (int i = 0; i < 7; i++) {
		p = mo_buddy_alloc_aligned(b, 10, aligns[i]);
		cr_assert_not_null(p, "align %zu", aligns[i]);
		cr_expect_eq((uintptr_t)p % aligns[i], 0);
		cr_expect_eq(mo_buddy_usable_size(b, p), aligns[i]);
		mo_buddy_stats(b, &st);
		cr_expect_eq(st.internal_frag, aligns[i] - 10);
		mo_buddy_free(b, p);
	}
	cr_expect_null(mo_buddy_alloc_aligned(b, 10, 24));
	mo_buddy_stats(b, &st);
	cr_expect_eq(st.failures, 1);
	cr_expect_eq(st.resets, 1);
	mo_buddy_destroy(b);
}

Test(buddy, region_alignment_limits_block_alignment)
{
	/* region + 16 is only 16-aligned. */
	mo_buddy_t *b = make(region + 16, 1024, 16, 0);
	mo_alloc_stats_t st;

	cr_expect_not_null(mo_buddy_alloc_aligned(b, 8, 16));
	cr_expect_null(mo_buddy_alloc_aligned(b, 8, 64));
	mo_buddy_stats(b, &st);
	cr_expect_eq(st.failures, 1);
	cr_expect_eq(st.live, 1);
	mo_buddy_destroy(b);
}

Test(buddy, out_of_memory)
{
	mo_buddy_t *b = make(region, 1024, 64, 0);
	mo_alloc_stats_t st;

	cr_expect_null(mo_buddy_alloc(b, 1025));
	cr_expect_null(mo_buddy_alloc(b, SIZE_MAX));
	cr_expect_not_null(mo_buddy_alloc(b, 513));
	cr_expect_null(mo_buddy_alloc(b, 1));
	mo_buddy_stats(b, &st);
	cr_expect_eq(st.failures, 3);
	cr_expect_eq(st.internal_frag, 1024 - 513);
	mo_buddy_reset(b);
	cr_expect_str_eq(free_counts(b), "0 0 0 0 1");
	mo_buddy_stats(b, &st);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.in_use, 0);
	cr_expect_eq(st.resets, 1);
	cr_expect_eq(mo_buddy_alloc(b, 0), region);
	mo_buddy_destroy(b);
}

Test(buddy, default_min_block_and_mapped_region)
{
	mo_buddy_t *b = make(NULL, 1 << 16, 0, 0);
	mo_buddy_info_t info;
	char *p;

	mo_buddy_info(b, &info);
	cr_expect_eq(info.min_block, MO_BUDDY_DEFAULT_MIN);
	cr_expect_eq(info.max_order, 10);
	p = mo_buddy_alloc(b, 1 << 16);
	cr_assert_not_null(p);
	cr_expect_eq((uintptr_t)p % (1 << 16), 0, "mapped aligned to its size");
	memset(p, 0x5a, 1 << 16);
	mo_buddy_free(b, p);
	mo_buddy_destroy(b);
}

/* --- profiler hooks ---------------------------------------------------- */

Test(buddy, profiler_hooks)
{
	static const mo_alloc_hooks_t hooks = {.created = log_created,
					       .destroyed = log_destroyed,
					       .alloc = log_alloc,
					       .free = log_free,
					       .reset = log_reset};
	mo_buddy_t *b;
	void *p;

	mo_alloc_hooks = &hooks;
	b = make(region, 1024, 64, 0);
	p = mo_buddy_alloc(b, 100);
	mo_buddy_free(b, p);
	mo_buddy_alloc_aligned(b, 1, 256);
	mo_buddy_reset(b);
	mo_buddy_destroy(b);
	mo_alloc_hooks = NULL;
	cr_expect_str_eq(hook_log, "created buddy pages;alloc 100 128;"
				   "free 100;alloc 1 256;reset;destroyed;");
}

/* --- misuse ---------------------------------------------------------- */

static void expect_misuse(const char *fmt, const void *p)
{
	char want[256], what[200];
	snprintf(what, sizeof(what), fmt, p);
	snprintf(want, sizeof(want), "buddy|pages|%s", what);
	cr_expect_str_eq(seen, want);
}

Test(buddy, misuse_messages)
{
	mo_buddy_t *b = make(region, 1024, 64, 0);
	mo_alloc_stats_t st;
	char *x, *y, *z;
	int local;

	mo_alloc_set_misuse_handler(record_misuse);
	x = mo_buddy_alloc(b, 64);
	y = mo_buddy_alloc(b, 64);
	z = mo_buddy_alloc(b, 256);
	mo_buddy_free(b, x);
	mo_buddy_free(b, x);
	expect_misuse("double free of %p", x);
	mo_buddy_free(b, y); /* merges with x */
	mo_buddy_free(b, y);
	expect_misuse("double free of %p", y);
	mo_buddy_free(b, &local);
	expect_misuse("free of foreign pointer %p", &local);
	mo_buddy_free(b, region + 1024);
	expect_misuse("free of foreign pointer %p", region + 1024);
	mo_buddy_free(b, z + 64);
	expect_misuse("free of %p: not the start of a block", z + 64);
	mo_buddy_free(b, z + 1);
	expect_misuse("free of %p: not the start of a block", z + 1);
	cr_expect_eq(mo_buddy_usable_size(b, y), 0);
	expect_misuse("usable_size of freed block %p", y);
	cr_expect_eq(nseen, 7);
	mo_buddy_stats(b, &st);
	cr_expect_eq(st.frees, 2);
	cr_expect_eq(st.live, 1);
	mo_alloc_set_misuse_handler(NULL);
	mo_buddy_destroy(b);
}

Test(buddy, misuse_aborts_by_default, .signal = SIGABRT)
{
	mo_buddy_t *b = make(region, 1024, 64, 0);
	void *p = mo_buddy_alloc(b, 8);
	mo_buddy_free(b, p);
	mo_buddy_free(b, p);
}

Test(buddy, debug_poisons_freed_memory)
{
	mo_buddy_t *b = make(region, 1024, 64, MO_ALLOC_DEBUG);
	unsigned char *p = mo_buddy_alloc(b, 256);
	size_t n = 0;

	memset(p, 0x11, 256);
	mo_buddy_free(b, p);
	for (size_t i = 16; i < 1024; i++)
		n += region[i] == MO_BUDDY_POISON;
	cr_expect_eq(n, 1024 - 16, "all but the free-list links");
	mo_buddy_destroy(b);
}

Test(buddy, debug_detects_writes_after_free)
{
	mo_buddy_t *b = make(region, 1024, 64, MO_ALLOC_DEBUG);
	char *x = mo_buddy_alloc(b, 64), *y = mo_buddy_alloc(b, 64);

	mo_alloc_set_misuse_handler(record_misuse);
	mo_buddy_free(b, y);
	mo_buddy_free(b, x); /* merges back to one block */
	y[40] = 1;	     /* a dangling write */
	nseen = 0;
	cr_expect_eq(mo_buddy_alloc(b, 1024), x, "the block is handed out");
	cr_expect_eq(nseen, 1);
	expect_misuse("write after free at %p", y + 40);
	mo_buddy_free(b, x);
	nseen = 0;
	cr_expect_not_null(mo_buddy_alloc(b, 100));
	cr_expect_not_null(mo_buddy_alloc(b, 300));
	cr_expect_eq(nseen, 0, "clean memory is not reported");
	mo_alloc_set_misuse_handler(NULL);
	mo_buddy_destroy(b);
}

/* --- randomized test against a model ------------------------------------ */

typedef struct slot {
	unsigned char *p;
	size_t size;
	unsigned char fill;
} slot_t;

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Fails if two live blocks (their requested bytes) overlap. */
static void check_no_overlap(const slot_t *slots, size_t n)
{
	static span_t sp[1024];
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (slots[i].p)
			sp[k++] =
				(span_t){(uintptr_t)slots[i].p,
					 (uintptr_t)slots[i].p + slots[i].size};
	check_disjoint(sp, k);
}

static void check_model(mo_buddy_t *b, slot_t *slots, size_t n)
{
	uint64_t in_use = 0, live = 0, frag = 0, held = 0;
	mo_alloc_stats_t st;
	mo_buddy_info_t info;

	check_no_overlap(slots, n);
	for (size_t i = 0; i < n; i++) {
		if (!slots[i].p)
			continue;
		size_t blk = mo_buddy_usable_size(b, slots[i].p);
		in_use += slots[i].size;
		live++;
		held += blk;
		frag += blk - slots[i].size;
	}
	mo_buddy_stats(b, &st);
	mo_buddy_info(b, &info);
	cr_assert_eq(st.in_use, in_use);
	cr_assert_eq(st.live, live);
	cr_assert_eq(st.internal_frag, frag);
	cr_assert_eq(info.free_bytes + held, 1 << 20);
	cr_assert_eq(info.splits - info.merges,
		     live + info.free_blocks[0] + info.free_blocks[1] +
			     info.free_blocks[2] + info.free_blocks[3] +
			     info.free_blocks[4] + info.free_blocks[5] +
			     info.free_blocks[6] + info.free_blocks[7] +
			     info.free_blocks[8] + info.free_blocks[9] +
			     info.free_blocks[10] + info.free_blocks[11] +
			     info.free_blocks[12] + info.free_blocks[13] +
			     info.free_blocks[14] + info.free_blocks[15] +
			     info.free_blocks[16] - 1,
		     "every split adds one block, every merge removes one");
}

Test(buddy, random_model, .timeout = 120)
{
	enum { NSLOT = 500, OPS = 300000 };
	static slot_t slots[NSLOT];
	mo_buddy_t *b = make(NULL, 1 << 20, 16, 0);
	size_t fails = 0;
	mo_alloc_stats_t st;
	mo_buddy_info_t info;

	for (long op = 0; op < OPS; op++) {
		slot_t *s = &slots[next_rand() % NSLOT];
		uint64_t r = next_rand();

		if (op % 5000 == 0)
			check_model(b, slots, NSLOT);
		if (s->p) {
			for (size_t i = 0; i < s->size; i++)
				if (s->p[i] != s->fill)
					cr_assert_fail("op %ld: block %p "
						       "overwritten at %zu",
						       op, (void *)s->p, i);
			mo_buddy_free(b, s->p);
			s->p = NULL;
			continue;
		}
		s->size = r % 16 ? r % 600 : r % 20000;
		s->fill = (unsigned char)(r >> 40);
		s->p = mo_buddy_alloc(b, s->size);
		if (!s->p) {
			fails++;
			continue;
		}
		size_t blk = mo_buddy_usable_size(b, s->p);
		cr_assert_geq(blk, s->size);
		cr_assert(mo_is_pow2(blk));
		cr_assert_eq((uintptr_t)s->p % blk, 0, "natural alignment");
		memset(s->p, s->fill, s->size);
	}
	check_model(b, slots, NSLOT);
	mo_buddy_stats(b, &st);
	cr_expect_eq(st.failures, fails);
	for (size_t i = 0; i < NSLOT; i++)
		mo_buddy_free(b, slots[i].p);
	cr_expect_str_eq(free_counts(b), "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1");
	mo_buddy_info(b, &info);
	cr_expect_eq(info.splits, info.merges);
	mo_buddy_destroy(b);
}
