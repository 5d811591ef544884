/*
 * tl_graph: a heap of known shape for the leak classification tests
 * (tests/test_leaks.c): trees, reachable and unreachable cycles, interior
 * pointers, roots in .data and .bss, zero-size blocks, and blocks from
 * malloc, calloc, realloc, strdup, memalign, posix_memalign and
 * aligned_alloc.  No threads and no stdio: every block live at exit is
 * listed here.  Prints nothing, exits 0 (>= 10 if an allocation fails).
 *
 * Every size is a multiple of 16 or 9 to 15 more than one (0, 12, 14, 125,
 * ...): with glibc's chunk layout no block then reaches over the header of
 * the chunk after it, so the allocator's own pointers to chunk headers
 * (main_arena's bins and top) never point inside a live block; tl_arena
 * tests that case on purpose.  Interior pointers sit at offsets 16, 32,
 * 40 or 48, which none of memcheck's heuristics accepts, except in
 * heuristic_* (offsets 8 and 24, shaped for the length64 and stdstring
 * heuristics).
 *
 * Still reachable (1164 bytes in 19 blocks):
 *   reach_tree      .data root -> tl_block(64) -> 2 x tl_block(48),
 *                   each -> 3 x calloc(4, 8)               352 B  9 blocks
 *   reach_cycle     .bss root -> ring of 3 x tl_block(80)  240 B  3
 *   reach_zero      .bss root -> malloc(0)                   0 B  1
 *   reach_strdup    .data root -> strdup("kept string")     12 B  1
 *   reach_aligned   .bss root -> aligned_alloc(64, 256)    256 B  1
 *   reach_realloc   .data root -> realloc(malloc(256), 96)  96 B  1
 *   reach_both      tl_block(48): .bss holds an interior pointer (+32)
 *                   and reach_tree's root a start pointer   48 B  1
 *   heuristic_length64  .data holds block+8 of tl_block(96)
 *                   whose first word is 88                  96 B  1
 *   heuristic_stdstring .bss holds block+24 of tl_block(64)
 *                   laid out as length 10, capacity 39      64 B  1
 * Possibly lost (400 bytes in 5 blocks):
 *   possible_chain  .bss holds P+40, P = tl_block(96); P[0] -> Q =
 *                   tl_block(64) (start pointer, but from a possibly
 *                   lost block), P[1] -> R+16, R = tl_block(48)
 *                                                          208 B  3
 *   possible_offset8 .data holds S+8, S = tl_block(32) whose first
 *                   word is 0 (no heuristic applies)        32 B  1
 *   possible_memalign .data holds M+48, M = memalign(32, 160)
 *                                                          160 B  1
 * Definitely lost (1035 bytes in 12 blocks) and indirectly lost (736
 * bytes in 12 blocks):
 *   lost_tree       tl_block(64) -> 2 x tl_block(48), each -> 2 x
 *                   calloc(2, 16)        definite 64 B 1, indirect 224 B 6
 *   lost_cycle      ring of 4 x tl_block(96): the first one scanned
 *                   leads              definite 96 B 1, indirect 288 B 3
 *   lost_cycle_tail A = tl_block(112) <-> B = tl_block(112), B -> C =
 *                   tl_block(48)      definite 112 B 1, indirect 160 B 2
 *   lost_zero       malloc(0)                           definite 0 B 1
 *   lost_realloc    realloc(malloc(48), 208)          definite 208 B 1
 *   lost_strdup     strdup("lost string!!")            definite 14 B 1
 *   lost_posix_memalign  posix_memalign(64, 192)      definite 192 B 1
 *   lost_calloc     calloc(5, 25)                     definite 125 B 1
 *   lost_interior   L = tl_block(80), L[1] -> M+16, M = tl_block(64)
 *                   (lost blocks reach through interior pointers too)
 *                                      definite 80 B 1, indirect 64 B 1
 *   lost_to_reachable tl_block(32) -> reach_tree's root
 *                                                      definite 32 B 1
 *   lost_freed_holder X = tl_block(48); its only pointer is stored in
 *                   F = tl_block(64), then F is freed   definite 48 B 1
 *   lost_memalign   memalign(128, 64)                  definite 64 B 1
 * Suppressed: nothing.
 *
 * In all: 48 blocks (3335 bytes) live at exit; 51 allocations, 3 frees
 * (the first blocks of reach_realloc and lost_realloc, and
 * lost_freed_holder's F), 3703 bytes allocated.
 */
#include "tl_common.h"

#include <malloc.h>
#include <stdio.h>

/* Roots: .data (initialised, so not in .bss) and .bss. */
uintptr_t tl_data_roots[8] = {1, 1, 1, 1, 1, 1, 1, 1};
uintptr_t tl_bss_roots[8];

/* Slots of the root arrays. */
enum {
	D_TREE,
	D_STRDUP,
	D_REALLOC,
	D_LENGTH64,
	D_OFFSET8,
	D_MEMALIGN,
	B_CYCLE = 0,
	B_ZERO,
	B_ALIGNED,
	B_BOTH,
	B_STDSTRING,
	B_CHAIN,
};

static TL_NOINLINE void *tl_calloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		tl_die(11, "tl_graph: calloc failed\n");
	return p;
}

/* --- still reachable -------------------------------------------------- */

static TL_NOINLINE void reach_tree(void)
{
	void *root = tl_block(64);

	for (int i = 0; i < 2; i++) {
		void *node = tl_block(48);
		for (int j = 0; j < 3; j++)
			tl_put(node, 8 * j, (uintptr_t)tl_calloc(4, 8));
		tl_put(root, 8 * i, (uintptr_t)node);
	}
	tl_data_roots[D_TREE] = (uintptr_t)root;
	root = NULL;
}

static TL_NOINLINE void reach_cycle(void)
{
	void *a = tl_block(80), *b = tl_block(80), *c = tl_block(80);

	tl_put(a, 0, (uintptr_t)b);
	tl_put(b, 0, (uintptr_t)c);
	tl_put(c, 0, (uintptr_t)a);
	tl_bss_roots[B_CYCLE] = (uintptr_t)b;
	a = b = c = NULL;
}

static TL_NOINLINE void reach_zero(void)
{
	void *p = malloc(0);

	if (p == NULL)
		tl_die(12, "tl_graph: malloc(0) returned NULL\n");
	tl_bss_roots[B_ZERO] = (uintptr_t)p;
	p = NULL;
}

static TL_NOINLINE void reach_strdup(void)
{
	char *s = strdup("kept string");

	if (s == NULL)
		tl_die(13, "tl_graph: strdup failed\n");
	tl_data_roots[D_STRDUP] = (uintptr_t)s;
	s = NULL;
}

static TL_NOINLINE void reach_aligned(void)
{
	void *p = aligned_alloc(64, 256);

	if (p == NULL)
		tl_die(14, "tl_graph: aligned_alloc failed\n");
	memset(p, 0, 256);
	tl_bss_roots[B_ALIGNED] = (uintptr_t)p;
	p = NULL;
}

static TL_NOINLINE void reach_realloc(void)
{
	void *p = tl_block(256);
	void *q = realloc(p, 96);

	if (q == NULL)
		tl_die(15, "tl_graph: realloc failed\n");
	tl_data_roots[D_REALLOC] = (uintptr_t)q;
	p = q = NULL;
}

/* After reach_tree: its root's slot 2 holds a start pointer. */
static TL_NOINLINE void reach_both(void)
{
	void *p = tl_block(48);

	tl_bss_roots[B_BOTH] = (uintptr_t)p + 32;
	tl_put((void *)tl_data_roots[D_TREE], 16, (uintptr_t)p);
	p = NULL;
}

static TL_NOINLINE void heuristic_length64(void)
{
	void *p = tl_block(96);

	tl_put(p, 0, 96 - 8);
	tl_data_roots[D_LENGTH64] = (uintptr_t)p + 8;
	p = NULL;
}

static TL_NOINLINE void heuristic_stdstring(void)
{
	/* length, capacity, refcount, then capacity + 1 chars. */
	void *p = tl_block(3 * 8 + 39 + 1);

	tl_put(p, 0, 10);
	tl_put(p, 8, 39);
	memcpy((char *)p + 24, "0123456789", 11);
	tl_bss_roots[B_STDSTRING] = (uintptr_t)p + 24;
	p = NULL;
}

/* --- possibly lost ---------------------------------------------------- */

static TL_NOINLINE void possible_chain(void)
{
	void *p = tl_block(96), *q = tl_block(64), *r = tl_block(48);

	tl_put(p, 0, (uintptr_t)q);
	tl_put(p, 8, (uintptr_t)r + 16);
	tl_bss_roots[B_CHAIN] = (uintptr_t)p + 40;
	p = q = r = NULL;
}

static TL_NOINLINE void possible_offset8(void)
{
	void *s = tl_block(32);

	tl_data_roots[D_OFFSET8] = (uintptr_t)s + 8;
	s = NULL;
}

static TL_NOINLINE void possible_memalign(void)
{
	void *m = memalign(32, 160);

	if (m == NULL)
		tl_die(16, "tl_graph: memalign failed\n");
	memset(m, 0, 160);
	tl_data_roots[D_MEMALIGN] = (uintptr_t)m + 48;
	m = NULL;
}

/* --- definitely and indirectly lost ----------------------------------- */

static TL_NOINLINE void lost_tree(void)
{
	void *root = tl_block(64);

	for (int i = 0; i < 2; i++) {
		void *node = tl_block(48);
		for (int j = 0; j < 2; j++)
			tl_put(node, 8 * j, (uintptr_t)tl_calloc(2, 16));
		tl_put(root, 8 * i, (uintptr_t)node);
	}
	root = NULL;
}

static TL_NOINLINE void lost_cycle(void)
{
	void *ring[4];

	for (int i = 0; i < 4; i++)
		ring[i] = tl_block(96);
	for (int i = 0; i < 4; i++)
		tl_put(ring[i], 0, (uintptr_t)ring[(i + 1) % 4]);
	memset(ring, 0, sizeof(ring));
}

static TL_NOINLINE void lost_cycle_tail(void)
{
	void *a = tl_block(112), *b = tl_block(112), *c = tl_block(48);

	tl_put(a, 0, (uintptr_t)b);
	tl_put(b, 0, (uintptr_t)a);
	tl_put(b, 8, (uintptr_t)c);
	a = b = c = NULL;
}

static TL_NOINLINE void lost_zero(void)
{
	void *volatile p = malloc(0);

	if (p == NULL)
		tl_die(17, "tl_graph: malloc(0) returned NULL\n");
	p = NULL;
}

static TL_NOINLINE void lost_realloc(void)
{
	void *p = tl_block(48);

	p = realloc(p, 208);
	if (p == NULL)
		tl_die(18, "tl_graph: realloc failed\n");
	memset(p, 0, 208);
	p = NULL;
}

static TL_NOINLINE void lost_strdup(void)
{
	char *volatile s = strdup("lost string!!");

	if (s == NULL)
		tl_die(19, "tl_graph: strdup failed\n");
	s = NULL;
}

static TL_NOINLINE void lost_posix_memalign(void)
{
	void *p = NULL;

	if (posix_memalign(&p, 64, 192) != 0)
		tl_die(20, "tl_graph: posix_memalign failed\n");
	memset(p, 0, 192);
	p = NULL;
}

static TL_NOINLINE void lost_calloc(void)
{
	tl_calloc(5, 25);
}

static TL_NOINLINE void lost_interior(void)
{
	void *l = tl_block(80), *m = tl_block(64);

	tl_put(l, 8, (uintptr_t)m + 16);
	l = m = NULL;
}

static TL_NOINLINE void lost_to_reachable(void)
{
	void *p = tl_block(32);

	tl_put(p, 0, tl_data_roots[D_TREE]);
	p = NULL;
}

static TL_NOINLINE void lost_freed_holder(void)
{
	void *x = tl_block(48), *f = tl_block(64);

	/* Past the words glibc reuses in a freed chunk. */
	tl_put(f, 24, (uintptr_t)x);
	tl_put(f, 32, (uintptr_t)x);
	free(f);
	x = f = NULL;
}

static TL_NOINLINE void lost_memalign(void)
{
	void *volatile p = memalign(128, 64);

	if (p == NULL)
		tl_die(21, "tl_graph: memalign failed\n");
	memset(p, 0, 64);
	p = NULL;
}

int main(void)
{
	reach_tree();
	reach_cycle();
	reach_zero();
	reach_strdup();
	reach_aligned();
	reach_realloc();
	reach_both();
	heuristic_length64();
	heuristic_stdstring();
	possible_chain();
	possible_offset8();
	possible_memalign();
	lost_tree();
	lost_cycle();
	lost_cycle_tail();
	lost_zero();
	lost_realloc();
	lost_strdup();
	lost_posix_memalign();
	lost_calloc();
	lost_interior();
	lost_to_reachable();
	lost_freed_holder();
	lost_memalign();
	tl_wipe_stack();
	return 0;
}
