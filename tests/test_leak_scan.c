/*
 * Tests of the leak classifier (lib/leak_scan.c) on synthetic address
 * spaces: a page-aligned buffer stands for the heap, with blocks at known
 * offsets, and other buffers for roots, vtables and unreadable memory.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "leak_scan.h"

#define HEAP_BYTES (64u * 1024)
#define ROOT_BYTES (2u * 4096)
#define MAX_BLOCKS 64

typedef struct region {
	uint64_t addr, len;
	unsigned flags; /* MO_LS_MAP_* for the map callback */
} region_t;

/* The synthetic address space: readable regions, unreadable holes in
 * them, and mapping descriptions for the vtable heuristic. */
typedef struct space {
	region_t ok[8];
	int nok;
	region_t bad[8];
	int nbad;
	region_t maps[8];
	int nmaps;
	int outside; /* reads outside every readable region */
} space_t;

static int overlaps(const region_t *r, uint64_t addr, uint64_t len)
{
	return addr < r->addr + r->len && r->addr < addr + len;
}

static int sp_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	space_t *sp = ctx;
	for (int i = 0; i < sp->nbad; i++)
		if (overlaps(&sp->bad[i], addr, len))
			return -EFAULT;
	for (int i = 0; i < sp->nok; i++) {
		const region_t *r = &sp->ok[i];
		if (addr >= r->addr && addr + len <= r->addr + r->len) {
			memcpy(buf, (const void *)(uintptr_t)addr, len);
			return 0;
		}
	}
	sp->outside++;
	return -EFAULT;
}

static unsigned sp_map(void *ctx, uint64_t addr, uint64_t *end)
{
	space_t *sp = ctx;
	for (int i = 0; i < sp->nmaps; i++) {
		const region_t *r = &sp->maps[i];
		if (addr >= r->addr && addr < r->addr + r->len) {
			*end = r->addr + r->len;
			return r->flags;
		}
	}
	return 0;
}

static space_t sp;
static uint8_t *heap;  /* HEAP_BYTES, page-aligned */
static uint64_t *root; /* ROOT_BYTES, page-aligned */
static mo_scan_block_t blocks[MAX_BLOCKS];
static uint8_t kinds[MAX_BLOCKS];
static size_t nblocks;
static void *work;
static mo_ls_t *ls;

static void add_ok(const void *p, uint64_t len)
{
	sp.ok[sp.nok++] = (region_t){(uintptr_t)p, len, 0};
}

static void add_bad(const void *p, uint64_t len)
{
	sp.bad[sp.nbad++] = (region_t){(uintptr_t)p, len, 0};
}

static void add_map(uint64_t addr, uint64_t len, unsigned flags)
{
	sp.maps[sp.nmaps++] = (region_t){addr, len, flags};
}

static void setup(void)
{
	memset(&sp, 0, sizeof(sp));
	heap = mmap(NULL, HEAP_BYTES, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	root = mmap(NULL, ROOT_BYTES, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(heap != MAP_FAILED && root != MAP_FAILED);
	add_ok(heap, HEAP_BYTES);
	add_ok(root, ROOT_BYTES);
	nblocks = 0;
	memset(kinds, 0xee, sizeof(kinds));
	work = NULL;
	ls = NULL;
}

static void teardown(void)
{
	cr_expect_eq(sp.outside, 0, "the scanner read outside the space");
	munmap(heap, HEAP_BYTES);
	munmap(root, ROOT_BYTES);
	free(work);
}

TestSuite(leak_scan, .init = setup, .fini = teardown);

/* Adds a block at heap offset off (blocks in address order); returns its
 * address. */
static uint64_t blk(uint64_t off, uint64_t size)
{
	uint64_t a = (uintptr_t)heap + off;
	cr_assert(nblocks < MAX_BLOCKS);
	cr_assert(off + size <= HEAP_BYTES);
	if (nblocks)
		cr_assert(blocks[nblocks - 1].addr + blocks[nblocks - 1].size <=
			  a);
	blocks[nblocks++] = (mo_scan_block_t){a, size};
	return a;
}

static void put(uint64_t addr, uint64_t value)
{
	memcpy((void *)(uintptr_t)addr, &value, 8);
}

static mo_ls_t *start(void)
{
	size_t sz = mo_ls_work_size(nblocks);
	cr_assert(sz > 0);
	work = aligned_alloc(16, (sz + 15) & ~(size_t)15);
	cr_assert(work);
	ls = mo_ls_init(work, blocks, nblocks, kinds, sp_read, &sp);
	cr_assert(ls);
	return ls;
}

static void scan_root(void)
{
	mo_ls_root_range(ls, (uintptr_t)root, ROOT_BYTES);
}

/* Finishes and checks kinds against a string, one letter per block:
 * R reachable, P possible, I indirect, D definite. */
static void expect(const char *want)
{
	static const char letters[] = "RPID";
	char got[MAX_BLOCKS + 1];
	mo_ls_finish(ls);
	cr_assert_eq(strlen(want), nblocks);
	for (size_t i = 0; i < nblocks; i++)
		got[i] = kinds[i] < 4 ? letters[kinds[i]] : '?';
	got[nblocks] = 0;
	cr_assert_str_eq(got, want);
}

Test(leak_scan, start_and_interior_pointers_from_roots)
{
	uint64_t a = blk(0, 32), b = blk(64, 32);
	blk(128, 32);
	start();
	root[0] = a;
	root[1] = b + 8; /* word 0 of b is 0: no heuristic applies */
	scan_root();
	expect("RPD");
}

Test(leak_scan, chain_from_root)
{
	uint64_t a = blk(0, 16), b = blk(16, 16), c = blk(32, 16);
	put(a, b);
	put(b + 8, c);
	root[7] = a;
	start();
	scan_root();
	expect("RRR");
}

Test(leak_scan, tree_from_root_and_unrelated_block)
{
	uint64_t a = blk(0, 24), b = blk(32, 8), c = blk(48, 8);
	blk(64, 8);
	put(a, b);
	put(a + 16, c);
	root[100] = a;
	start();
	scan_root();
	expect("RRRD");
}

Test(leak_scan, lost_tree_root_definite_children_indirect)
{
	uint64_t a = blk(0, 16), b = blk(16, 16), c = blk(32, 16),
		 d = blk(48, 16);
	put(a, b);
	put(a + 8, c + 8); /* interior: cliques ignore the difference */
	put(b, d);
	start();
	scan_root();
	expect("DIII");
}

Test(leak_scan, lost_cycle_first_in_address_order_is_definite)
{
	uint64_t a = blk(0, 16), b = blk(32, 16), c = blk(64, 16);
	put(b, a); /* b -> a -> c -> b */
	put(a, c);
	put(c, b);
	start();
	scan_root();
	expect("DII");
}

Test(leak_scan, lost_block_above_a_lost_cycle_is_definite_too)
{
	uint64_t a = blk(0, 16), b = blk(32, 16), x = blk(64, 16);
	put(a, b);
	put(b, a);
	put(x, b); /* x comes after the cycle's leader a */
	start();
	scan_root();
	expect("DID");
}

Test(leak_scan, lost_block_below_a_lost_cycle_leads_it)
{
	uint64_t x = blk(0, 16), a = blk(32, 16), b = blk(64, 16);
	put(a, b);
	put(b, a);
	put(x, b);
	start();
	scan_root();
	expect("DII");
}

Test(leak_scan, later_leader_absorbs_earlier_clique)
{
	/* a -> b, then c -> a: a leads {b} first, then c absorbs both. */
	uint64_t a = blk(0, 16), b = blk(16, 16), c = blk(32, 16);
	put(a, b);
	put(c + 8, a + 4);
	start();
	scan_root();
	expect("IID");
}

Test(leak_scan, cycle_reachable_from_root)
{
	uint64_t a = blk(0, 16), b = blk(16, 16);
	put(a, b);
	put(b, a);
	root[3] = b;
	start();
	scan_root();
	expect("RR");
}

Test(leak_scan, self_pointer_lost_block_is_definite)
{
	uint64_t a = blk(0, 16);
	put(a, a);
	start();
	scan_root();
	expect("D");
}

Test(leak_scan, possible_chain)
{
	/* root -?-> a -> b -?-> c */
	uint64_t a = blk(0, 32), b = blk(32, 32), c = blk(64, 32);
	put(a + 16, b);
	put(b + 24, c + 20);
	root[0] = a + 16;
	start();
	scan_root();
	expect("PPP");
}

Test(leak_scan, possible_block_cannot_make_reachable)
{
	/* root -?-> a -> b; root -> c -> a + 8: a, b possible. */
	uint64_t a = blk(0, 32), b = blk(32, 32), c = blk(64, 32);
	put(a + 16, b);
	put(c, a + 16);
	root[0] = a + 16;
	root[1] = c;
	start();
	scan_root();
	expect("PPR");
}

static void upgrade_case(int start_first)
{
	/* root -?-> a -> c; root -> b -> a: a, c reachable. */
	uint64_t a = blk(0, 32), b = blk(32, 32), c = blk(64, 32);
	put(a + 8, c);
	put(b, a);
	root[start_first ? 1 : 0] = a + 16;
	root[start_first ? 0 : 1] = b;
	start();
	scan_root();
	expect("RRR");
}

Test(leak_scan, upgrade_possible_to_reachable_interior_first)
{
	upgrade_case(0);
}

Test(leak_scan, upgrade_possible_to_reachable_start_first)
{
	upgrade_case(1);
}

Test(leak_scan, upgrade_across_root_ranges_and_registers)
{
	uint64_t a = blk(0, 32), b = blk(32, 32), c = blk(64, 32);
	put(a + 8, c);
	put(a + 16, b + 8);
	root[0] = a + 24;
	start();
	scan_root();
	mo_ls_root_word(ls, a); /* a register, after the root range */
	expect("RPR");
}

Test(leak_scan, zero_size_blocks_only_start_pointer)
{
	uint64_t z1 = blk(0, 0), z2 = blk(32, 0), e = blk(64, 16);
	blk(128, 16);
	root[0] = z1;
	root[1] = z2 + 1; /* not a pointer to z2 */
	root[2] = e + 16; /* just past e, before the next block */
	start();
	scan_root();
	expect("RDDD");
}

Test(leak_scan, zero_size_block_in_lost_structure)
{
	uint64_t a = blk(0, 16), z = blk(16, 0);
	put(a, z);
	start();
	scan_root();
	expect("DI");
}

Test(leak_scan, pointer_just_past_block_is_next_block_start)
{
	uint64_t a = blk(0, 16);
	blk(16, 16);
	root[0] = a + 16;
	start();
	scan_root();
	expect("DR");
}

Test(leak_scan, unaligned_words_are_ignored)
{
	uint64_t a = blk(0, 16), b = blk(16, 16);
	put((uintptr_t)root + 36, a); /* straddles root[4] and root[5] */
	put((uintptr_t)root + 50, b); /* straddles root[6] and root[7] */
	start();
	scan_root();
	expect("DD");
}

Test(leak_scan, root_range_rounded_to_whole_aligned_words)
{
	uint64_t a = blk(0, 16), b = blk(16, 16), c = blk(32, 16);
	root[0] = a;
	root[1] = b;
	root[2] = c;
	start();
	/* [root + 3, root + 21): only the word at root + 8 is inside */
	mo_ls_root_range(ls, (uintptr_t)root + 3, 18);
	expect("DRD");
}

Test(leak_scan, partial_last_word_of_a_block_is_not_scanned)
{
	uint64_t a = blk(0, 12), b = blk(64, 16), c = blk(128, 16);
	put(a, c);
	put(a + 8, b); /* bytes 8..15: only 8..11 are in a */
	root[0] = a;
	start();
	scan_root();
	expect("RDR");
}

Test(leak_scan, unreadable_pages_hold_nothing)
{
	uint64_t a = blk(0, 16), b = blk(16, 16), c = blk(4096, 16),
		 d = blk(4112, 16);
	add_bad((char *)root + 4096, 4096);
	root[0] = a;
	root[512] = b; /* in the unreadable second page */
	add_bad(heap + 4096, 4096);
	put(a, c);
	put(c, d); /* c is unreadable: d is not reached through it */
	start();
	scan_root();
	expect("RDRD");
}

Test(leak_scan, unreadable_block_in_lost_clique)
{
	uint64_t a = blk(0, 16), b = blk(4096, 16), c = blk(8192, 16);
	put(a, b);
	put(b, c);
	add_bad(heap + 4096, 4096);
	start();
	scan_root();
	expect("DID");
}

Test(leak_scan, register_root_words)
{
	uint64_t a = blk(0, 16), b = blk(16, 16), c = blk(32, 16);
	blk(48, 16);
	put(a, c);
	start();
	mo_ls_root_word(ls, a);
	mo_ls_root_word(ls, b + 4);
	mo_ls_root_word(ls, 0);
	mo_ls_root_word(ls, UINT64_MAX);
	expect("RPRD");
}

Test(leak_scan, no_blocks)
{
	start();
	scan_root();
	mo_ls_root_word(ls, (uintptr_t)heap);
	mo_ls_finish(ls);
	cr_assert_eq(kinds[0], 0xee);
}

Test(leak_scan, init_rejects_bad_arguments)
{
	char w[4096] __attribute__((aligned(16)));
	blk(0, 16);
	cr_assert_null(mo_ls_init(NULL, blocks, 1, kinds, sp_read, &sp));
	cr_assert_null(mo_ls_init(w, blocks, 1, kinds, NULL, &sp));
	cr_assert_geq(mo_ls_work_size(1000), 1000 * 9);
	cr_assert_gt(mo_ls_work_size(1), mo_ls_work_size(0));
}

/* --- heuristics ---------------------------------------------------------- */

/* A std::string body: length, capacity, refcount, chars, NUL. */
static uint64_t stdstring(uint64_t off, uint64_t len, uint64_t cap,
			  uint64_t size)
{
	uint64_t s = blk(off, size);
	put(s, len);
	put(s + 8, cap);
	return s;
}

Test(leak_scan, heuristic_stdstring)
{
	uint64_t s1 = stdstring(0, 5, 10, 35);	  /* ok */
	uint64_t s2 = stdstring(64, 10, 10, 35);  /* length == capacity */
	uint64_t s3 = stdstring(128, 5, 11, 35);  /* capacity mismatch */
	uint64_t s4 = stdstring(192, 11, 10, 35); /* length > capacity */
	uint64_t s5 = stdstring(256, 5, 10, 35);  /* pointer not at +24 */
	root[0] = s1 + 24;
	root[1] = s2 + 24;
	root[2] = s3 + 24;
	root[3] = s4 + 24;
	root[4] = s5 + 16;
	start();
	scan_root();
	expect("RRPPP");
}

Test(leak_scan, heuristic_length64)
{
	uint64_t l1 = blk(0, 40), l2 = blk(64, 40), l3 = blk(128, 40);
	put(l1, 32); /* ok */
	put(l2, 0);  /* zero length */
	put(l3, 31); /* wrong length, and 32 % 31 != 0 */
	root[0] = l1 + 8;
	root[1] = l2 + 8;
	root[2] = l3 + 8;
	start();
	scan_root();
	expect("RPP");
}

Test(leak_scan, heuristic_newarray)
{
	uint64_t a1 = blk(0, 56), a2 = blk(64, 56), a3 = blk(128, 56);
	put(a1, 3); /* 48 bytes of 3 elements */
	put(a2, 5); /* 48 % 5 != 0 */
	put(a3, 3);
	root[0] = a1 + 8;
	root[1] = a2 + 8;
	root[2] = a3 + 16; /* not the first element */
	start();
	scan_root();
	expect("RPP");
}

Test(leak_scan, heuristic_block_children_are_reachable)
{
	uint64_t l = blk(0, 40), c = blk(64, 16);
	put(l, 32);
	put(l + 16, c);
	root[0] = l + 8;
	start();
	scan_root();
	expect("RR");
}

Test(leak_scan, heuristics_apply_only_from_definite_sources)
{
	/* root -?-> x -> l + 8 (length64 layout): l stays possible. */
	uint64_t x = blk(0, 32), l = blk(64, 40);
	put(l, 32);
	put(x + 16, l + 8);
	root[0] = x + 16;
	start();
	scan_root();
	expect("PP");
}

Test(leak_scan, heuristics_do_not_apply_in_lost_cliques)
{
	/* Lost: a -> l + 8 with the length64 layout; l is indirect. */
	uint64_t a = blk(0, 16), l = blk(64, 40);
	put(l, 32);
	put(a, l + 8);
	start();
	scan_root();
	expect("DI");
}

/* A fake "text" range and a file-backed read-only page holding vtables. */
#define TEXT_LO UINT64_C(0x10000000)
static uint64_t *ro;

static void vtables(unsigned ro_flags)
{
	ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(ro != MAP_FAILED);
	add_ok(ro, 4096);
	add_map((uintptr_t)ro, 4096, ro_flags);
	add_map(TEXT_LO, 0x10000,
		MO_LS_MAP_FILE | MO_LS_MAP_READ | MO_LS_MAP_EXEC);
	add_map(TEXT_LO + 0x10000, 0x10000,
		MO_LS_MAP_READ | MO_LS_MAP_EXEC); /* anonymous code */
	/* vt1 at ro[0]: offset-to-top, typeinfo 0, two functions */
	ro[0] = 0;
	ro[1] = TEXT_LO + 0x100;
	ro[2] = TEXT_LO + 0x200;
	/* vt2 at ro[8]: two functions */
	ro[8] = TEXT_LO + 0x300;
	ro[9] = TEXT_LO + 0x400;
	/* not a vtable at ro[16]: one function then data */
	ro[16] = TEXT_LO + 0x500;
	ro[17] = (uintptr_t)ro;
	/* not a vtable at ro[24]: functions in anonymous code */
	ro[24] = TEXT_LO + 0x10100;
	ro[25] = TEXT_LO + 0x10200;
	/* not a vtable at ro[510]: the mapping's last word is not looked at */
	ro[510] = TEXT_LO + 0x600;
	ro[511] = TEXT_LO + 0x700;
}

/* An object with two vtable pointers, at +0 and +16. */
static uint64_t mi_object(uint64_t off, uint64_t vt_head, uint64_t vt_inner)
{
	uint64_t m = blk(off, 32);
	put(m, vt_head);
	put(m + 16, vt_inner);
	return m;
}

Test(leak_scan, heuristic_multipleinheritance)
{
	vtables(MO_LS_MAP_FILE | MO_LS_MAP_READ);
	uint64_t vt1 = (uintptr_t)&ro[0], vt2 = (uintptr_t)&ro[8];
	uint64_t bad1 = (uintptr_t)&ro[16], bad2 = (uintptr_t)&ro[24];
	uint64_t m1 = mi_object(0, vt1, vt2);	 /* ok */
	uint64_t m2 = mi_object(64, vt1, bad1);	 /* inner not a vtable */
	uint64_t m3 = mi_object(128, bad2, vt2); /* head not a vtable */
	uint64_t m4 = mi_object(192, vt1, vt2);	 /* pointer unaligned */
	uint64_t m5 = mi_object(256, vt1, vt2 + 4);
	uint64_t m6 = mi_object(320, vt1, (uintptr_t)&ro[510]);
	root[0] = m1 + 16;
	root[1] = m2 + 16;
	root[2] = m3 + 16;
	root[3] = m4 + 17;
	root[4] = m5 + 16; /* inner value unaligned */
	root[5] = m6 + 16;
	start();
	mo_ls_set_map(ls, sp_map, &sp);
	scan_root();
	expect("RPPPPP");
	munmap(ro, 4096);
}

Test(leak_scan, heuristic_multipleinheritance_needs_file_mapping)
{
	vtables(MO_LS_MAP_READ); /* vtables in anonymous memory */
	uint64_t m = mi_object(0, (uintptr_t)&ro[0], (uintptr_t)&ro[8]);
	root[0] = m + 16;
	start();
	mo_ls_set_map(ls, sp_map, &sp);
	scan_root();
	expect("P");
	munmap(ro, 4096);
}

Test(leak_scan, heuristic_multipleinheritance_off_without_map)
{
	vtables(MO_LS_MAP_FILE | MO_LS_MAP_READ);
	uint64_t m = mi_object(0, (uintptr_t)&ro[0], (uintptr_t)&ro[8]);
	root[0] = m + 16;
	start();
	scan_root();
	expect("P");
	munmap(ro, 4096);
}

/* --- randomized against a reference -------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(uint64_t bound)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return bound ? rng_state % bound : 0;
}

static int ref_find(uint64_t v)
{
	for (size_t i = 0; i < nblocks; i++) {
		uint64_t end =
			blocks[i].addr + (blocks[i].size ? blocks[i].size : 1);
		if (v >= blocks[i].addr && v < end)
			return (int)i;
	}
	return -1;
}

static uint64_t word_at(uint64_t a)
{
	uint64_t w;
	memcpy(&w, (const void *)(uintptr_t)a, 8);
	return w;
}

static int ref_heuristic(uint64_t v, int t)
{
	uint64_t a = blocks[t].addr, size = blocks[t].size;
	if (v == a + 24 && size >= 25 && 3 * 8 + word_at(a + 8) + 1 == size &&
	    word_at(a) <= word_at(a + 8))
		return 1;
	if (v == a + 8 && word_at(a) > 0 && size - 8 == word_at(a))
		return 1;
	if (v == a + 8 && word_at(a) > 0 && (size - 8) % word_at(a) == 0)
		return 1;
	return 0;
}

/* Calls f(v, arg) for every aligned word of [a, a + len). */
#define FOR_WORDS(a, len, v, body)                                          \
	for (uint64_t p_ = ((a) + 7) & ~UINT64_C(7); p_ + 8 <= (a) + (len); \
	     p_ += 8) {                                                     \
		uint64_t v = word_at(p_);                                   \
		body                                                        \
	}

/* Memcheck's algorithm as plainly as possible: fixpoints for reachable and
 * possible, then its literal clique pass with pending flags, rescanning
 * absorbed leaders. */
static void reference(uint64_t root_addr, uint64_t root_len, char *out)
{
	enum { U, R, P, I };
	int st[MAX_BLOCKS] = {0}, changed;
	do {
		changed = 0;
		for (int src = -1; src < (int)nblocks; src++) {
			uint64_t a = src < 0 ? root_addr : blocks[src].addr;
			uint64_t len = src < 0 ? root_len : blocks[src].size;
			if (src >= 0 && st[src] != R)
				continue;
			FOR_WORDS(a, len, v, {
				int t = ref_find(v);
				if (t >= 0 && st[t] != R &&
				    (v == blocks[t].addr ||
				     ref_heuristic(v, t))) {
					st[t] = R;
					changed = 1;
				}
			})
		}
	} while (changed);
	do {
		changed = 0;
		for (int src = -1; src < (int)nblocks; src++) {
			uint64_t a = src < 0 ? root_addr : blocks[src].addr;
			uint64_t len = src < 0 ? root_len : blocks[src].size;
			if (src >= 0 && st[src] == U)
				continue;
			FOR_WORDS(a, len, v, {
				int t = ref_find(v);
				if (t >= 0 && st[t] == U) {
					st[t] = P;
					changed = 1;
				}
			})
		}
	} while (changed);
	for (int i = 0; i < (int)nblocks; i++) {
		if (st[i] != U)
			continue;
		int stack[MAX_BLOCKS], top = 0, pending[MAX_BLOCKS] = {0};
		stack[top++] = i;
		pending[i] = 1;
		while (top) {
			int b = stack[--top];
			pending[b] = 0;
			FOR_WORDS(blocks[b].addr, blocks[b].size, v, {
				int t = ref_find(v);
				if (t >= 0 && st[t] == U && t != i) {
					if (!pending[t]) {
						stack[top++] = t;
						pending[t] = 1;
					}
					st[t] = I;
				}
			})
		}
	}
	for (size_t i = 0; i < nblocks; i++)
		out[i] = "DRPI"[st[i]];
	out[nblocks] = 0;
}

/* A random word: mostly pointers to, into or just past blocks, sometimes
 * plain numbers. */
static uint64_t random_word(void)
{
	size_t t = rnd(nblocks);
	switch (rnd(8)) {
	case 0:
		return 0;
	case 1:
		return rnd(64);
	case 2:
	case 3:
	case 4:
		return blocks[t].addr;
	case 5:
		return blocks[t].addr + rnd(blocks[t].size + 1);
	case 6:
		return blocks[t].addr + 8 * rnd(4);
	default:
		return blocks[t].addr + blocks[t].size;
	}
}

Test(leak_scan, random_against_reference)
{
	rng_state = 0x2545f4914f6cdd1dull;
	static const uint64_t sizes[] = {0, 1, 8, 12, 16, 24, 25, 33, 40, 56};
	for (int iter = 0; iter < 3000; iter++) {
		memset(heap, 0, 4096);
		memset(root, 0, 256);
		nblocks = 0;
		size_t n = 1 + rnd(12);
		uint64_t off = 16 * rnd(3);
		for (size_t i = 0; i < n; i++) {
			uint64_t size = sizes[rnd(10)];
			blk(off, size);
			off += (size + 15) / 16 * 16 + 16 * rnd(3);
			if (size == 0)
				off += 16;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t a = blocks[i].addr;
			for (uint64_t w = 0; w + 8 <= blocks[i].size; w += 8)
				put(a + w, rnd(3) ? 0 : random_word());
			uint64_t size = blocks[i].size;
			if (size > 8 && rnd(4) == 0) /* length64/newarray */
				put(a, rnd(2) ? size - 8 : 1 + rnd(6));
			if (size == 33 && rnd(2)) { /* stdstring */
				put(a + 8, 8);
				put(a, rnd(10));
			}
		}
		uint64_t nroot = rnd(6);
		for (uint64_t w = 0; w < nroot; w++)
			root[w] = random_word();
		char want[MAX_BLOCKS + 1], got[MAX_BLOCKS + 1];
		reference((uintptr_t)root, 8 * nroot, want);
		size_t sz = mo_ls_work_size(n);
		void *wk = aligned_alloc(16, (sz + 15) & ~(size_t)15);
		mo_ls_t *s = mo_ls_init(wk, blocks, n, kinds, sp_read, &sp);
		cr_assert(s);
		mo_ls_root_range(s, (uintptr_t)root, 8 * nroot);
		mo_ls_finish(s);
		free(wk);
		for (size_t i = 0; i < n; i++)
			got[i] = "RPID"[kinds[i] & 3];
		got[n] = 0;
		cr_assert_str_eq(got, want, "iteration %d", iter);
	}
}

/* --- scale --------------------------------------------------------------- */

Test(leak_scan, million_blocks)
{
	const size_t n = 1000000, bsz = 64;
	uint8_t *big = mmap(NULL, n * bsz, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert(big != MAP_FAILED);
	add_ok(big, n * bsz);
	mo_scan_block_t *bl = malloc(n * sizeof(*bl));
	uint8_t *k = malloc(n);
	cr_assert(bl && k);
	for (size_t i = 0; i < n; i++) {
		bl[i] = (mo_scan_block_t){(uintptr_t)big + i * bsz, 48};
		uint64_t *w = (uint64_t *)(big + i * bsz);
		/* [0, n/2): chain from the root; [n/2, 3n/4): lost chain
		 * forward; [3n/4, n): lost chain backward. */
		if (i + 1 < n / 2 || (i >= n / 2 && i + 1 < 3 * n / 4))
			w[0] = bl[0].addr + (i + 1) * bsz;
		else if (i > 3 * n / 4)
			w[0] = bl[0].addr + (i - 1) * bsz;
		w[1] = bl[0].addr + (i * 7919 % n) * bsz + 56; /* padding */
		w[2] = i;
	}
	size_t sz = mo_ls_work_size(n);
	void *wk = aligned_alloc(16, (sz + 15) & ~(size_t)15);
	mo_ls_t *s = mo_ls_init(wk, bl, n, k, sp_read, &sp);
	cr_assert(s);
	mo_ls_root_word(s, bl[0].addr);
	mo_ls_finish(s);
	size_t count[4] = {0};
	for (size_t i = 0; i < n; i++)
		count[k[i] & 3]++;
	cr_assert_eq(count[MO_LEAK_REACHABLE], n / 2);
	cr_assert_eq(count[MO_LEAK_POSSIBLE], 0);
	cr_assert_eq(count[MO_LEAK_DEFINITE], 2);
	cr_assert_eq(count[MO_LEAK_INDIRECT], n / 2 - 2);
	cr_assert_eq(k[n / 2 - 1], MO_LEAK_REACHABLE);
	cr_assert_eq(k[n / 2], MO_LEAK_DEFINITE);
	cr_assert_eq(k[n - 1], MO_LEAK_DEFINITE);
	cr_assert_eq(k[3 * n / 4], MO_LEAK_INDIRECT);
	free(wk);
	free(bl);
	free(k);
	munmap(big, n * bsz);
}
