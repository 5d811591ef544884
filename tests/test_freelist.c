/*
 * Free-list allocator (lib/alloc/freelist.c): exact layouts and stats,
 * first-fit vs best-fit, coalescing, alignment, out of memory, misuse,
 * debug poisoning and a randomized test against a model.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/freelist.h>

#include "alloc_test_util.h"

static _Alignas(16) unsigned char region[1024];

static mo_fl_t *make(void *buf, size_t size, mo_fl_fit_t fit, unsigned flags)
{
	mo_fl_opts_t o = {.name = "heap",
			  .buf = buf,
			  .size = size,
			  .fit = fit,
			  .flags = flags};
	mo_fl_t *fl = NULL;

	cr_assert_eq(mo_fl_create(&fl, &o), 0);
	return fl;
}

/* The block layout as a string: "u112 f208 ..." (usable bytes). */
typedef struct layout {
	char s[512];
	size_t len;
} layout_t;

static int add_block(void *arg, void *p, size_t usable, int is_free)
{
	layout_t *l = arg;
	(void)p;
	l->len += (size_t)snprintf(l->s + l->len, sizeof(l->s) - l->len,
				   "%s%c%zu", l->len ? " " : "",
				   is_free ? 'f' : 'u', usable);
	return 0;
}

static const char *layout(mo_fl_t *fl)
{
	static layout_t l;
	l.len = 0;
	l.s[0] = '\0';
	mo_fl_walk(fl, add_block, &l);
	return l.s;
}

Test(freelist, create_errors)
{
	mo_fl_t *fl = NULL;
	mo_fl_opts_t o = {.buf = region, .size = 127};

	cr_expect_eq(mo_fl_create(&fl, NULL), -EINVAL);
	cr_expect_eq(mo_fl_create(&fl, &o), -EINVAL, "too small");
	o.size = sizeof(region);
	o.fit = (mo_fl_fit_t)7;
	cr_expect_eq(mo_fl_create(&fl, &o), -EINVAL, "unknown fit");
	o.buf = (void *)(UINTPTR_MAX - 200);
	o.size = 4096;
	o.fit = MO_FL_FIRST_FIT;
	cr_expect_eq(mo_fl_create(&fl, &o), -EOVERFLOW);
	o.buf = NULL;
	o.size = SIZE_MAX - 10;
	cr_expect_eq(mo_fl_create(&fl, &o), -EOVERFLOW);
	cr_expect_null(fl);
	mo_fl_destroy(NULL);
}

Test(freelist, three_allocs_free_middle_then_neighbours)
{
	mo_fl_t *fl = make(region, sizeof(region), MO_FL_FIRST_FIT, 0);
	mo_alloc_stats_t st;
	mo_fl_frag_t f;
	char *a, *b, *c;

	/* 1024 bytes minus the epilogue: one free block of 1008. */
	cr_expect_str_eq(layout(fl), "f992");
	a = mo_fl_alloc(fl, 100); /* block 128 */
	b = mo_fl_alloc(fl, 200); /* block 224 */
	c = mo_fl_alloc(fl, 50);  /* block 80 */
	cr_assert(a && b && c);
	cr_expect_eq(a, (char *)region + 16);
	cr_expect_eq(b, a + 128);
	cr_expect_eq(c, b + 224);
	cr_expect_str_eq(layout(fl), "u112 u208 u64 f560");
	mo_fl_stats(fl, &st);
	cr_expect_eq(st.in_use, 350);
	cr_expect_eq(st.peak, 350);
	cr_expect_eq(st.capacity, 1024);
	cr_expect_eq(st.internal_frag, 28 + 24 + 30);
	cr_expect_eq(st.live, 3);
	cr_expect_eq(st.allocs, 3);
	cr_expect_eq(mo_fl_usable_size(fl, b), 208);

	mo_fl_free(fl, b);
	cr_expect_str_eq(layout(fl), "u112 f208 u64 f560");
	mo_fl_frag(fl, &f);
	cr_expect_eq(f.free_bytes, 224 + 576);
	cr_expect_eq(f.free_blocks, 2);
	cr_expect_eq(f.largest_free, 576);
	cr_expect_eq(f.largest_alloc, 560);
	cr_expect_float_eq(f.external, 1.0 - 576.0 / 800.0, 1e-12);

	mo_fl_free(fl, a); /* merges with the next block */
	cr_expect_str_eq(layout(fl), "f336 u64 f560");
	mo_fl_free(fl, c); /* merges with both */
	cr_expect_str_eq(layout(fl), "f992");
	mo_fl_frag(fl, &f);
	cr_expect_eq(f.free_blocks, 1);
	cr_expect_float_eq(f.external, 0.0, 1e-12);
	mo_fl_stats(fl, &st);
	cr_expect_eq(st.in_use, 0);
	cr_expect_eq(st.peak, 350);
	cr_expect_eq(st.internal_frag, 0);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.frees, 3);
	mo_fl_destroy(fl);
}

Test(freelist, merge_with_previous_only)
{
	mo_fl_t *fl = make(region, sizeof(region), MO_FL_BEST_FIT, 0);
	char *a = mo_fl_alloc(fl, 32), *b = mo_fl_alloc(fl, 32);
	char *c = mo_fl_alloc(fl, 32);

	cr_expect_str_eq(layout(fl), "u32 u32 u32 f848");
	mo_fl_free(fl, a);
	mo_fl_free(fl, b); /* merges with a */
	cr_expect_str_eq(layout(fl), "f80 u32 f848");
	/* a request of exactly 80 fills the hole (best fit, exact). */
	cr_expect_eq(mo_fl_alloc(fl, 80), a);
	cr_expect_str_eq(layout(fl), "u80 u32 f848");
	(void)c;
	mo_fl_destroy(fl);
}

Test(freelist, small_remainder_stays_in_the_block)
{
	mo_fl_t *fl = make(region, sizeof(region), MO_FL_FIRST_FIT, 0);
	mo_alloc_stats_t st;
	/* 992 usable; asking 960 leaves 32 bytes: too small to split. */
	char *p = mo_fl_alloc(fl, 960);

	cr_assert_not_null(p);
	cr_expect_str_eq(layout(fl), "u992");
	mo_fl_stats(fl, &st);
	cr_expect_eq(st.internal_frag, 1008 - 960);
	mo_fl_destroy(fl);
}

Test(freelist, small_sizes_have_exact_bins)
{
	/* Below 1024 bytes each size has a bin: both fits take the exact
	 * block, though a larger one was freed last. */
	for (int fit = 0; fit < 2; fit++) {
		mo_fl_t *fl = make(region, sizeof(region), (mo_fl_fit_t)fit, 0);
		char *big = mo_fl_alloc(fl, 240); /* block 256 */
		char *s1 = mo_fl_alloc(fl, 16);
		char *small = mo_fl_alloc(fl, 48); /* block 64 */
		char *s2 = mo_fl_alloc(fl, 16);

		cr_assert(big && s1 && small && s2);
		mo_fl_free(fl, small);
		mo_fl_free(fl, big);
		cr_expect_str_eq(layout(fl), "f240 u32 f48 u32 f576");
		cr_expect_eq(mo_fl_alloc(fl, 40), small); /* block 64 */
		cr_expect_str_eq(layout(fl), "f240 u32 u48 u32 f576");
		mo_fl_destroy(fl);
	}
}

static _Alignas(16) unsigned char region4k[4096];

Test(freelist, first_fit_and_best_fit_choose_different_blocks)
{
	for (int fit = 0; fit < 2; fit++) {
		mo_fl_t *fl =
			make(region4k, sizeof(region4k), (mo_fl_fit_t)fit, 0);
		char *x = mo_fl_alloc(fl, 1024); /* block 1040 */
		char *s1 = mo_fl_alloc(fl, 16);	 /* block 48 */
		char *y = mo_fl_alloc(fl, 1008); /* block 1024 */
		char *s2 = mo_fl_alloc(fl, 16);	 /* block 48 */
		char *p;

		cr_assert(x && s1 && y && s2);
		/* x and y share the bin [1024, 1056): list y, x. */
		cr_expect_eq(mo_fl_bin(1040), mo_fl_bin(1024));
		mo_fl_free(fl, x);
		mo_fl_free(fl, y);
		cr_expect_str_eq(layout(fl), "f1024 u32 f1008 u32 f1904");
		p = mo_fl_alloc(fl, 1024); /* block 1040 */
		if (fit == MO_FL_FIRST_FIT) {
			/* Not every block of [1024, 1056) fits: the first
			 * block of the next non-empty bin, the tail. */
			cr_expect_eq(p, s2 + 48);
			cr_expect_str_eq(layout(fl),
					 "f1024 u32 f1008 u32 u1024 f864");
			/* No bin above fits any more: need's own bin is
			 * scanned, y is too small, x fits. */
			cr_expect_not_null(mo_fl_alloc(fl, 848));
			cr_expect_eq(mo_fl_alloc(fl, 1024), x);
			cr_expect_str_eq(layout(fl),
					 "u1024 u32 f1008 u32 u1024 u864");
		} else {
			/* The smallest block of the own bin that fits. */
			cr_expect_eq(p, x);
			cr_expect_str_eq(layout(fl),
					 "u1024 u32 f1008 u32 f1904");
		}
		mo_fl_destroy(fl);
	}
}

Test(freelist, best_fit_takes_the_next_bin_when_its_own_has_no_fit)
{
	mo_fl_t *fl = make(region4k, sizeof(region4k), MO_FL_BEST_FIT, 0);
	char *x = mo_fl_alloc(fl, 1136); /* block 1152: [1152, 1184) */
	char *s1 = mo_fl_alloc(fl, 16);
	char *y = mo_fl_alloc(fl, 1008); /* block 1024: [1024, 1056) */
	char *s2 = mo_fl_alloc(fl, 16);
	char *tail = mo_fl_alloc(fl, 1600); /* block 1616 */

	cr_assert(x && s1 && y && s2 && tail);
	mo_fl_free(fl, x);
	mo_fl_free(fl, y);
	cr_expect_str_eq(layout(fl), "f1136 u32 f1008 u32 u1600 f176");
	/* need 1040: y (own bin) is too small; x, the next bin's first. */
	cr_expect_eq(mo_fl_alloc(fl, 1024), x);
	cr_expect_str_eq(layout(fl), "u1024 f96 u32 f1008 u32 u1600 f176");
	mo_fl_destroy(fl);
}

/* The bin of a block as the header documents it. */
static size_t ref_bin(size_t s)
{
	int k = 63 - __builtin_clzl(s);

	if (s < 1024)
		return s / 16;
	return 32 * (size_t)(k - 8) + ((s - ((size_t)1 << k)) >> (k - 5));
}

Test(freelist, bin_mapping)
{
	size_t prev = 3;

	cr_expect_eq(mo_fl_bin(0), 0);
	cr_expect_eq(mo_fl_bin(32), 0);
	cr_expect_eq(mo_fl_bin(48), 3);
	cr_expect_eq(mo_fl_bin(1008), 63);
	cr_expect_eq(mo_fl_bin(1024), 64);
	cr_expect_eq(mo_fl_bin(1056), 65);
	cr_expect_eq(mo_fl_bin(2048), 96);
	for (size_t s = 48; s < (1u << 22); s += 16) {
		size_t b = mo_fl_bin(s);
		cr_assert_eq(b, ref_bin(s), "size %zu", s);
		cr_assert(b == prev || b == prev + 1, "size %zu", s);
		prev = b;
	}
	for (int k = 22; k < 64; k++) {
		size_t s = (size_t)1 << k;
		cr_assert_eq(mo_fl_bin(s), ref_bin(s), "2^%d", k);
		cr_assert_eq(mo_fl_bin(s - 16), ref_bin(s - 16), "2^%d-16", k);
	}
}

Test(freelist, check_finds_a_corrupted_link)
{
	mo_fl_t *fl = make(region, sizeof(region), MO_FL_FIRST_FIT, 0);
	char *a = mo_fl_alloc(fl, 200), *b = mo_fl_alloc(fl, 8);
	char why[128], want[128];
	void *saved;

	cr_assert(a && b);
	mo_fl_free(fl, a);
	cr_expect_eq(mo_fl_check(fl, why, sizeof(why)), 0);
	saved = ((void **)a)[1]; /* a's back link, after the next one */
	((void **)a)[1] = a;
	cr_expect_eq(mo_fl_check(fl, why, sizeof(why)), -EFAULT);
	snprintf(want, sizeof(want), "bin 14: bad back link at %p",
		 (void *)(a - 16));
	cr_expect_str_eq(why, want);
	((void **)a)[1] = saved;
	cr_expect_eq(mo_fl_check(fl, NULL, 0), 0);
	mo_fl_destroy(fl);
}

Test(freelist, aligned)
{
	mo_fl_t *fl = make(NULL, 1 << 20, MO_FL_FIRST_FIT, 0);
	mo_alloc_stats_t st;
	size_t aligns[] = {1, 8, 16, 32, 64, 128, 256, 4096, 65536};
	void *ps[9];

	for (int i = 0; i < 9; i++) {
		ps[i] = mo_fl_alloc_aligned(fl, 24 + (size_t)i, aligns[i]);
		cr_assert_not_null(ps[i]);
		cr_expect_eq((uintptr_t)ps[i] % aligns[i], 0, "align %zu",
			     aligns[i]);
		cr_expect_eq((uintptr_t)ps[i] % 16, 0);
		memset(ps[i], i, 24 + (size_t)i);
	}
	mo_fl_stats(fl, &st);
	cr_expect_eq(st.capacity, 1 << 20);
	cr_expect_eq(st.live, 9);
	/* No padding is charged: each block is the plain size rounded. */
	uint64_t frag = 0;
	for (int i = 0; i < 9; i++)
		frag += 48 - (24 + (uint64_t)i);
	cr_expect_eq(st.internal_frag, frag);
	cr_expect_null(mo_fl_alloc_aligned(fl, 8, 24), "not a power of two");
	cr_expect_null(mo_fl_alloc_aligned(fl, 8, MO_FL_MAX_ALIGN * 2));
	mo_fl_stats(fl, &st);
	cr_expect_eq(st.failures, 2);
	for (int i = 0; i < 9; i++)
		mo_fl_free(fl, ps[i]);
	mo_fl_frag_t f;
	mo_fl_frag(fl, &f);
	cr_expect_eq(f.free_blocks, 1, "everything merged back");
	mo_fl_destroy(fl);
}

Test(freelist, out_of_memory)
{
	mo_fl_t *fl = make(region, sizeof(region), MO_FL_BEST_FIT, 0);
	mo_alloc_stats_t st;
	mo_fl_frag_t f;

	cr_expect_null(mo_fl_alloc(fl, 2000));
	cr_expect_null(mo_fl_alloc(fl, SIZE_MAX));
	cr_expect_null(mo_fl_alloc(fl, SIZE_MAX - 20));
	mo_fl_frag(fl, &f);
	cr_assert_not_null(mo_fl_alloc(fl, f.largest_alloc));
	cr_expect_null(mo_fl_alloc(fl, 0));
	mo_fl_stats(fl, &st);
	cr_expect_eq(st.failures, 4);
	cr_expect_eq(st.allocs, 1);
	cr_expect_eq(st.live, 1);
	mo_fl_destroy(fl);
}

Test(freelist, reset)
{
	mo_fl_t *fl = make(region, sizeof(region), MO_FL_FIRST_FIT, 0);
	mo_alloc_stats_t st;

	for (int i = 0; i < 5; i++)
		cr_assert_not_null(mo_fl_alloc(fl, 10));
	mo_fl_reset(fl);
	cr_expect_str_eq(layout(fl), "f992");
	mo_fl_stats(fl, &st);
	cr_expect_eq(st.in_use, 0);
	cr_expect_eq(st.peak, 50);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.allocs, 5);
	cr_expect_eq(st.frees, 0);
	cr_expect_eq(st.resets, 1);
	cr_expect_eq(mo_fl_alloc(fl, 10), (char *)region + 16);
	mo_fl_destroy(fl);
}

/* --- misuse ---------------------------------------------------------- */

static char seen[256];
static int nseen;

static void record(const char *kind, const char *name, const char *what)
{
	snprintf(seen, sizeof(seen), "%s|%s|%s", kind, name, what);
	nseen++;
}

static void expect_misuse(const char *fmt, const void *p)
{
	char want[256], what[200];
	snprintf(what, sizeof(what), fmt, p);
	snprintf(want, sizeof(want), "freelist|heap|%s", what);
	cr_expect_str_eq(seen, want);
}

Test(freelist, misuse_messages)
{
	mo_fl_t *fl = make(region, sizeof(region), MO_FL_FIRST_FIT, 0);
	mo_alloc_stats_t st;
	char *a, *b, *c;
	int local;

	mo_alloc_set_misuse_handler(record);
	a = mo_fl_alloc(fl, 64);
	b = mo_fl_alloc(fl, 64);
	c = mo_fl_alloc(fl, 64);
	memset(c, 0, 64); /* (a fresh block is poison in debug mode) */
	mo_fl_free(fl, b);
	mo_fl_free(fl, b);
	expect_misuse("double free of %p", b);
	mo_fl_free(fl, a); /* merges with b */
	mo_fl_free(fl, b); /* b's old header is inside a free block */
	expect_misuse("double free of %p", b);
	mo_fl_free(fl, a);
	expect_misuse("double free of %p", a);
	mo_fl_free(fl, &local);
	expect_misuse("free of foreign pointer %p", &local);
	mo_fl_free(fl, c + 1);
	expect_misuse("free of %p: bad block header (not a block start, or "
		      "corrupted)",
		      c + 1);
	mo_fl_free(fl, c + 32);
	expect_misuse("free of %p: bad block header (not a block start, or "
		      "corrupted)",
		      c + 32);
	cr_expect_eq(mo_fl_usable_size(fl, a), 0);
	expect_misuse("usable_size of freed block %p", a);
	((uint32_t *)c)[-2] ^= 1; /* corrupt c's magic */
	mo_fl_free(fl, c);
	expect_misuse("free of %p: bad block header (not a block start, or "
		      "corrupted)",
		      c);
	cr_expect_eq(nseen, 8);
	mo_fl_stats(fl, &st);
	cr_expect_eq(st.frees, 2, "misuse frees nothing");
	cr_expect_eq(st.live, 1);
	mo_alloc_set_misuse_handler(NULL);
	mo_fl_destroy(fl);
}

Test(freelist, misuse_aborts_by_default, .signal = SIGABRT)
{
	mo_fl_t *fl = make(region, sizeof(region), MO_FL_FIRST_FIT, 0);
	void *p = mo_fl_alloc(fl, 8);
	mo_fl_free(fl, p);
	mo_fl_free(fl, p);
}

Test(freelist, debug_poisons_freed_memory)
{
	mo_fl_t *fl =
		make(region, sizeof(region), MO_FL_FIRST_FIT, MO_ALLOC_DEBUG);
	unsigned char *p = mo_fl_alloc(fl, 200), *q = mo_fl_alloc(fl, 8);
	size_t n = 0;

	memset(p, 0x11, 200);
	mo_fl_free(fl, p);
	for (size_t i = 16; i < 200; i++)
		n += p[i] == MO_FL_POISON;
	cr_expect_eq(n, 184, "all but the free-list links are poisoned");
	/* The tail of a fresh debug region is poisoned too. */
	cr_expect_eq(q[100], MO_FL_POISON);
	mo_fl_destroy(fl);
}

Test(freelist, debug_detects_writes_after_free)
{
	mo_fl_t *fl =
		make(region, sizeof(region), MO_FL_FIRST_FIT, MO_ALLOC_DEBUG);
	char *p = mo_fl_alloc(fl, 200), *q = mo_fl_alloc(fl, 100);
	char *r = mo_fl_alloc(fl, 8);

	mo_alloc_set_misuse_handler(record);
	mo_fl_free(fl, p);
	mo_fl_free(fl, q); /* merges with p: q's header is poisoned */
	mo_fl_free(fl, q);
	expect_misuse("double free of %p", q);
	p[50] = 1; /* a dangling write */
	nseen = 0;
	cr_expect_eq(mo_fl_alloc(fl, 100), p, "the block is handed out");
	cr_expect_eq(nseen, 1);
	expect_misuse("write after free at %p", p + 50);
	nseen = 0;
	mo_fl_free(fl, r);
	cr_expect_not_null(mo_fl_alloc(fl, 500));
	cr_expect_eq(nseen, 0, "clean memory is not reported");
	mo_alloc_set_misuse_handler(NULL);
	mo_fl_destroy(fl);
}

/* --- profiler hooks ---------------------------------------------------- */

Test(freelist, profiler_hooks)
{
	static const mo_alloc_hooks_t hooks = {.created = log_created,
					       .destroyed = log_destroyed,
					       .alloc = log_alloc,
					       .free = log_free,
					       .reset = log_reset};
	mo_fl_t *fl;
	void *p;

	mo_alloc_hooks = &hooks;
	fl = make(region, sizeof(region), MO_FL_FIRST_FIT, 0);
	p = mo_fl_alloc(fl, 100);
	mo_fl_free(fl, p);
	mo_fl_alloc(fl, 1);
	mo_fl_reset(fl);
	mo_fl_destroy(fl);
	mo_alloc_hooks = NULL;
	cr_expect_str_eq(hook_log, "created freelist heap;alloc 100 128;"
				   "free 100;alloc 1 48;reset;destroyed;");
}

/* --- randomized test against a model ------------------------------------ */

typedef struct slot {
	unsigned char *p;
	size_t size, align;
	unsigned char fill;
} slot_t;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

typedef struct walk_sum {
	size_t total, free_bytes, blocks, adjacent_free;
	int prev_free;
} walk_sum_t;

static int sum_block(void *arg, void *p, size_t usable, int is_free)
{
	walk_sum_t *w = arg;
	(void)p;
	w->total += usable + MO_FL_HEADER;
	w->blocks++;
	if (is_free) {
		w->free_bytes += usable + MO_FL_HEADER;
		w->adjacent_free += w->prev_free;
	}
	w->prev_free = is_free;
	return 0;
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

static void check_model(mo_fl_t *fl, slot_t *slots, size_t n)
{
	uint64_t in_use = 0, live = 0, frag = 0;
	mo_alloc_stats_t st;
	walk_sum_t w = {0};
	mo_fl_frag_t f;
	char why[160] = "";

	cr_assert_eq(mo_fl_check(fl, why, sizeof(why)), 0, "%s", why);
	check_no_overlap(slots, n);
	for (size_t i = 0; i < n; i++) {
		if (!slots[i].p)
			continue;
		in_use += slots[i].size;
		live++;
		frag += mo_fl_usable_size(fl, slots[i].p) + MO_FL_HEADER -
			slots[i].size;
	}
	mo_fl_stats(fl, &st);
	cr_assert_eq(st.in_use, in_use);
	cr_assert_eq(st.live, live);
	cr_assert_eq(st.internal_frag, frag);
	cr_assert_eq(st.allocs - st.frees, live);
	mo_fl_walk(fl, sum_block, &w);
	mo_fl_frag(fl, &f);
	cr_assert_eq(w.total, (1u << 20) - MO_FL_HEADER);
	cr_assert_eq(w.free_bytes, f.free_bytes);
	cr_assert_eq(w.adjacent_free, 0, "two free neighbours not merged");
	cr_assert_eq(w.blocks - live, f.free_blocks);
}

static void random_run(mo_fl_fit_t fit, unsigned flags)
{
	enum { NSLOT = 600, OPS = 300000 };
	static slot_t slots[NSLOT];
	mo_fl_t *fl = make(NULL, 1 << 20, fit, flags);
	size_t fails = 0;
	mo_alloc_stats_t st;

	memset(slots, 0, sizeof(slots));
	for (long op = 0; op < OPS; op++) {
		slot_t *s = &slots[next_rand() % NSLOT];
		uint64_t r = next_rand();

		if (op % 5000 == 0)
			check_model(fl, slots, NSLOT);
		if (s->p) {
			for (size_t i = 0; i < s->size; i++)
				if (s->p[i] != s->fill)
					cr_assert_fail("op %ld: block %p "
						       "overwritten at %zu",
						       op, (void *)s->p, i);
			mo_fl_free(fl, s->p);
			s->p = NULL;
		} else {
			s->size = r % 16 ? r % 512 : r % 8192;
			s->align =
				(r >> 20) % 4 ? 0 : (size_t)1 << (r >> 24) % 13;
			s->fill = (unsigned char)(r >> 40);
			s->p = s->align ? mo_fl_alloc_aligned(fl, s->size,
							      s->align)
					: mo_fl_alloc(fl, s->size);
			if (!s->p) {
				fails++;
				continue;
			}
			cr_assert_eq((uintptr_t)s->p % 16, 0);
			if (s->align)
				cr_assert_eq((uintptr_t)s->p % s->align, 0);
			cr_assert_geq(mo_fl_usable_size(fl, s->p), s->size);
			memset(s->p, s->fill, s->size);
		}
	}
	check_model(fl, slots, NSLOT);
	mo_fl_stats(fl, &st);
	cr_expect_eq(st.failures, fails);
	for (size_t i = 0; i < NSLOT; i++)
		mo_fl_free(fl, slots[i].p);
	mo_fl_frag_t f;
	mo_fl_frag(fl, &f);
	cr_expect_eq(f.free_blocks, 1);
	mo_fl_destroy(fl);
}

Test(freelist, random_model_first_fit, .timeout = 120)
{
	random_run(MO_FL_FIRST_FIT, 0);
}

Test(freelist, random_model_best_fit, .timeout = 120)
{
	random_run(MO_FL_BEST_FIT, 0);
}

Test(freelist, random_model_debug_mode, .timeout = 120)
{
	random_run(MO_FL_BEST_FIT, MO_ALLOC_DEBUG);
}
