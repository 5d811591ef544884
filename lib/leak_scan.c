/*
 * Leak classification with the rules of valgrind 3.19 memcheck's leak
 * checker (doc/leaks.md).  Written from the description of its behaviour;
 * this is not memcheck's code.
 *
 * What counts as a pointer.  Only aligned 8-byte words are looked at: a
 * range [a, a + len) is scanned from a rounded up to 8 to a + len rounded
 * down to 8, so a partial last word of a block is never a pointer.  A word
 * v points to block b when b.addr <= v < b.addr + b.size (v == b.addr is a
 * start pointer, anything else an interior pointer); a zero-size block is
 * pointed to only by its start, and the address just past a block is not
 * a pointer to it.  Words that cannot be read hold nothing; unreadability
 * is taken page by page (4 KiB), as the kernel grants it.
 *
 * Reachedness (memcheck's mark pass).  A block is still reachable when a
 * chain of "definite" pointers leads to it from a root: a definite pointer
 * is a start pointer, or an interior pointer that one of the heuristics
 * accepts, held by a root or by a still reachable block.  A block that is
 * not still reachable but that any chain of pointers (start or interior,
 * through still reachable or possibly lost blocks) reaches from a root is
 * possibly lost.  Memcheck gets there with one mark stack, upgrading
 * Possible blocks to Reachable and scanning them again; the fixpoint does
 * not depend on the order, so this scanner computes it in two phases that
 * scan every block once: phase 1 follows definite pointers from the roots
 * (marking Possible, without scanning, the blocks only an interior pointer
 * reaches), phase 2 scans the Possible blocks and spreads Possible to every
 * unreached block they reach.  Since no Possible block can make another
 * block Reachable, phase 1 is complete before phase 2 starts.
 *
 * Heuristics (memcheck's default --leak-check-heuristics=all: the four
 * below), tried only for interior pointers from roots and reachable blocks
 * (from a possibly lost block every pointer is a possible one), words read
 * from the pointed-to block, any read failure meaning "no":
 * - stdstring: v == addr + 24, the word at +8 (capacity) satisfies
 *   size == 24 + capacity + 1, and the word at +0 (length) <= capacity
 *   (libstdc++'s old copy-on-write string: length, capacity, refcount,
 *   characters, NUL).
 * - length64: v == addr + 8 and the word at +0 is size - 8, nonzero
 *   (sqlite's allocator).
 * - newarray: v == addr + 8 and the word at +0 is a nonzero n with
 *   (size - 8) % n == 0 (new[] of a type with a destructor).
 * - multipleinheritance: v is 8-aligned, the word w at v lies in the block
 *   (v + 8 <= addr + size), the word f at +0 and w are both 8-aligned,
 *   >= 4096, and both look like vtables: the address lies in a file-backed
 *   readable mapping, and of the words from it up to 20 words further (not
 *   the mapping's last word), at least 2 nonzero words come before any word
 *   that is not 0 or an address in a file-backed executable mapping.  This
 *   needs the caller's map callback (mo_ls_set_map); without it this
 *   heuristic never applies.
 *
 * Lost blocks (memcheck's clique pass).  For each block still unreached,
 * in address order, all as-yet-unreached blocks it reaches through any
 * pointers (start or interior, no heuristics) become indirectly lost; it
 * stays the leader.  A pointer back to the current leader is ignored (so
 * the first block of a lost cycle in address order is definitely lost and
 * the rest indirectly lost), and a leader of an earlier clique that the
 * current one reaches becomes indirectly lost.  Leaders left at the end
 * are definitely lost.  Memcheck scans an absorbed leader again; that scan
 * cannot find anything new (everything it reached was marked when it led),
 * so this scanner skips it and scans every lost block once.
 *
 * Not reproduced: memcheck ignores words whose bits are undefined (never
 * written since allocation); this scanner has no definedness information
 * and takes every readable word.
 *
 * Speed: a word is first compared with [lowest start, highest end); inside,
 * a bucket table (one bucket per ~2 blocks over that span) narrows the
 * binary search over the sorted blocks to the few blocks near the word.
 * Candidate words are looked up 64 at a time in stages with prefetches, so
 * that their cache misses overlap.  Memory is read through the callback in
 * chunks of up to 16 KiB.  Every block is scanned once in all.  All state
 * lives in the caller's work memory (mark stack of n entries, n state
 * bytes, the bucket table, a read buffer); no recursion, no allocation.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "leak_scan.h"

#define MO_LS_CHUNK 16384u /* bytes read at once */
#define MO_LS_PAGE 4096u   /* granularity of unreadable memory */
#define MO_LS_VTABLE_WORDS 20u
#define MO_LS_BATCH 64u /* words whose lookups overlap in memory */

/* Per-block states during the scan. */
enum {
	ST_UNREACHED = 0,
	ST_REACHABLE = 1,    /* phase 1: on the stack or scanned */
	ST_POSSIBLE_NEW = 2, /* phase 1: reached by an interior ptr only */
	ST_POSSIBLE = 3,     /* phase 2: on the stack or scanned */
	ST_INDIRECT = 4,     /* clique member */
	ST_LEADER = 5	     /* clique leader: definitely lost */
};

/* How a scanned range's words are treated. */
enum { MODE_DEFINITE, MODE_POSSIBLE, MODE_CLIQUE };

struct mo_ls {
	const mo_scan_block_t *blocks;
	uint32_t n;
	uint8_t *kinds;
	mo_ls_read_fn read;
	void *ctx;
	mo_ls_map_fn map;
	void *map_ctx;
	uint64_t lo;   /* lowest block start */
	uint64_t span; /* highest block end - lo; 0 without blocks */
	unsigned shift;
	uint32_t nb;	 /* buckets */
	uint32_t *first; /* [nb + 1]: first block ending after bucket start */
	uint32_t *stack; /* [n] */
	uint32_t top;
	uint8_t *state; /* [n] */
	int mode;	/* of the words in batch */
	uint32_t leader;
	uint32_t nbatch;
	uint64_t batch[MO_LS_BATCH]; /* candidate words, looked up together */
	uint32_t bidx[MO_LS_BATCH];
	uint64_t buf[MO_LS_CHUNK / 8];
};

static size_t align16(size_t x)
{
	return (x + 15) & ~(size_t)15;
}

static uint32_t bucket_count(size_t n)
{
	uint32_t nb = 1;
	while (nb < (n + 1) / 2)
		nb <<= 1;
	return nb;
}

size_t mo_ls_work_size(size_t n)
{
	if (n > UINT32_MAX)
		return 0;
	return align16(sizeof(mo_ls_t)) +
	       align16(((size_t)bucket_count(n) + 1) * sizeof(uint32_t)) +
	       align16(n * sizeof(uint32_t)) + align16(n);
}

/* End of the address range that points to block b (a zero-size block is
 * pointed to by its start only). */
static inline uint64_t eff_end(const mo_scan_block_t *b)
{
	return b->addr + (b->size ? b->size : 1);
}

static void build_buckets(mo_ls_t *ls)
{
	uint32_t n = ls->n;
	if (n == 0) {
		ls->span = 0;
		ls->shift = 0;
		ls->first[0] = ls->first[1] = 0;
		ls->nb = 1;
		return;
	}
	ls->lo = ls->blocks[0].addr;
	ls->span = eff_end(&ls->blocks[n - 1]) - ls->lo;
	if (ls->span > (UINT64_C(1) << 62)) {
		/* Never in a user address space: two halves. */
		ls->nb = 2;
		ls->shift = 63;
	} else {
		unsigned s = 0;
		while (((ls->span - 1) >> s) >= ls->nb)
			s++;
		ls->shift = s;
	}
	uint32_t i = 0;
	for (uint32_t k = 0; k < ls->nb; k++) {
		uint64_t bstart = (uint64_t)k << ls->shift;
		while (i < n && eff_end(&ls->blocks[i]) - ls->lo <= bstart)
			i++;
		ls->first[k] = i;
	}
	ls->first[ls->nb] = n;
}

mo_ls_t *mo_ls_init(void *work, const mo_scan_block_t *blocks, size_t n,
		    uint8_t *kinds, mo_ls_read_fn read, void *ctx)
{
	if (!work || n > UINT32_MAX || (n && (!blocks || !kinds)) || !read)
		return NULL;
	char *p = work;
	mo_ls_t *ls = (mo_ls_t *)p;
	uint32_t nb = bucket_count(n);
	p += align16(sizeof(mo_ls_t));
	memset(ls, 0, offsetof(mo_ls_t, buf));
	ls->first = (uint32_t *)p;
	p += align16(((size_t)nb + 1) * sizeof(uint32_t));
	ls->stack = (uint32_t *)p;
	p += align16(n * sizeof(uint32_t));
	ls->state = (uint8_t *)p;
	memset(ls->state, ST_UNREACHED, n);
	ls->blocks = blocks;
	ls->n = (uint32_t)n;
	ls->kinds = kinds;
	ls->read = read;
	ls->ctx = ctx;
	ls->nb = nb;
	ls->mode = MODE_DEFINITE; /* root ranges */
	build_buckets(ls);
	return ls;
}

void mo_ls_set_map(mo_ls_t *ls, mo_ls_map_fn map, void *ctx)
{
	ls->map = map;
	ls->map_ctx = ctx;
}

/* Index of the block v (inside [lo, lo + span)) points to, searching
 * blocks [a, b] of its bucket; -1 if none. */
static inline int64_t find_in(const mo_ls_t *ls, uint64_t v, uint32_t a,
			      uint32_t b)
{
	const mo_scan_block_t *bl = ls->blocks;
	if (b >= ls->n)
		b = ls->n - 1;
	if (a > b)
		return -1;
	/* Last block in [a, b] starting at or below v. */
	while (a < b) {
		uint32_t m = a + (b - a + 1) / 2;
		if (bl[m].addr <= v)
			a = m;
		else
			b = m - 1;
	}
	if (bl[a].addr <= v && v < eff_end(&bl[a]))
		return a;
	return -1;
}

/* Index of the block v points to, or -1. */
static inline int64_t find_block(const mo_ls_t *ls, uint64_t v)
{
	uint64_t off = v - ls->lo;
	if (off >= ls->span)
		return -1;
	uint64_t k = off >> ls->shift;
	return find_in(ls, v, ls->first[k], ls->first[k + 1]);
}

static inline int read_word(mo_ls_t *ls, uint64_t addr, uint64_t *w)
{
	return ls->read(ls->ctx, addr, w, sizeof(*w));
}

/* memcheck's vtable test (see the top of this file). */
static int is_vtable(mo_ls_t *ls, uint64_t p)
{
	uint64_t end;
	unsigned f = ls->map(ls->map_ctx, p, &end);
	if (!(f & MO_LS_MAP_FILE) || !(f & MO_LS_MAP_READ) || end < 16)
		return 0;
	uint64_t last = p + MO_LS_VTABLE_WORDS * 8;
	if (last > end - 9)
		last = end - 9;
	unsigned found = 0;
	for (uint64_t q = p; q <= last; q += 8) {
		uint64_t fn, fend;
		if (read_word(ls, q, &fn) != 0)
			return 0;
		if (fn == 0)
			continue;
		f = ls->map(ls->map_ctx, fn, &fend);
		if (!(f & MO_LS_MAP_FILE) || !(f & MO_LS_MAP_EXEC))
			return 0;
		if (++found == 2)
			return 1;
	}
	return 0;
}

/* Whether interior pointer v to block b counts as a start pointer under
 * memcheck's default heuristics (see the top of this file). */
static int heuristic_reachable(mo_ls_t *ls, uint64_t v,
			       const mo_scan_block_t *b)
{
	uint64_t off = v - b->addr, w0, w1;
	if (off == 24 && b->size >= 25) { /* stdstring */
		if (read_word(ls, b->addr + 8, &w1) != 0)
			return 0;
		if (w1 == b->size - 25) {
			if (read_word(ls, b->addr, &w0) != 0)
				return 0;
			if (w0 <= w1)
				return 1;
		}
	}
	if (off == 8) { /* length64, then newarray */
		if (read_word(ls, b->addr, &w0) != 0)
			return 0;
		if (w0 > 0 && b->size - 8 == w0)
			return 1;
		if (w0 > 0 && (b->size - 8) % w0 == 0)
			return 1;
	}
	if (ls->map && (v & 7) == 0 && off + 8 <= b->size) {
		/* multipleinheritance */
		uint64_t inner, head;
		if (read_word(ls, v, &inner) != 0)
			return 0;
		if ((inner & 7) || inner < MO_LS_PAGE)
			return 0;
		if (read_word(ls, b->addr, &head) != 0)
			return 0;
		if ((head & 7) || head < MO_LS_PAGE)
			return 0;
		return is_vtable(ls, inner) && is_vtable(ls, head);
	}
	return 0;
}

/* Pushes block i, and starts fetching its memory for its scan (a prefetch
 * never faults). */
static inline void push(mo_ls_t *ls, uint32_t i)
{
	ls->stack[ls->top++] = i;
	__builtin_prefetch((const void *)(uintptr_t)ls->blocks[i].addr);
}

/* One word held by a root or a still reachable block. */
static inline void word_definite(mo_ls_t *ls, uint64_t v, int64_t i)
{
	if (i < 0)
		return;
	uint8_t st = ls->state[i];
	if (st == ST_REACHABLE)
		return;
	const mo_scan_block_t *b = &ls->blocks[i];
	if (v == b->addr || heuristic_reachable(ls, v, b)) {
		ls->state[i] = ST_REACHABLE;
		push(ls, (uint32_t)i);
	} else if (st == ST_UNREACHED) {
		ls->state[i] = ST_POSSIBLE_NEW;
	}
}

/* One word held by a possibly lost block. */
static inline void word_possible(mo_ls_t *ls, int64_t i)
{
	if (i < 0)
		return;
	uint8_t st = ls->state[i];
	if (st == ST_UNREACHED || st == ST_POSSIBLE_NEW) {
		ls->state[i] = ST_POSSIBLE;
		push(ls, (uint32_t)i);
	}
}

/* One word held by a block of the clique led by leader. */
static inline void word_clique(mo_ls_t *ls, int64_t i, uint32_t leader)
{
	if (i < 0 || (uint32_t)i == leader)
		return;
	uint8_t st = ls->state[i];
	if (st == ST_UNREACHED) {
		ls->state[i] = ST_INDIRECT;
		push(ls, (uint32_t)i);
	} else if (st == ST_LEADER) {
		/* An earlier clique joins this one; nothing new to scan. */
		ls->state[i] = ST_INDIRECT;
	}
}

/* Looks up and handles the batched words.  The lookups of one word are a
 * chain of dependent cache misses (bucket, block, state); doing them in
 * stages over the whole batch, with prefetches, overlaps the misses of
 * different words.  Order does not matter: each phase computes a
 * fixpoint, and a clique is the set its leader reaches. */
static void flush(mo_ls_t *ls)
{
	uint32_t cnt = ls->nbatch;
	uint64_t *w = ls->batch;
	uint32_t *idx = ls->bidx;
	ls->nbatch = 0;
	for (uint32_t j = 0; j < cnt; j++) {
		idx[j] = (uint32_t)((w[j] - ls->lo) >> ls->shift);
		__builtin_prefetch(&ls->first[idx[j]]);
	}
	for (uint32_t j = 0; j < cnt; j++) {
		idx[j] = ls->first[idx[j]];
		__builtin_prefetch(&ls->blocks[idx[j] < ls->n ? idx[j] : 0]);
	}
	for (uint32_t j = 0; j < cnt; j++) {
		uint64_t k = (w[j] - ls->lo) >> ls->shift;
		int64_t i = find_in(ls, w[j], idx[j], ls->first[k + 1]);
		idx[j] = (uint32_t)i;
		if (i >= 0)
			__builtin_prefetch(&ls->state[i]);
	}
	for (uint32_t j = 0; j < cnt; j++) {
		int64_t i = idx[j] == UINT32_MAX ? -1 : (int64_t)idx[j];
		if (ls->mode == MODE_DEFINITE)
			word_definite(ls, w[j], i);
		else if (ls->mode == MODE_POSSIBLE)
			word_possible(ls, i);
		else
			word_clique(ls, i, ls->leader);
	}
}

/* Queues the words that fall in the blocks' span. */
static void scan_words(mo_ls_t *ls, const uint64_t *w, size_t cnt)
{
	uint64_t lo = ls->lo, span = ls->span;
	for (size_t k = 0; k < cnt; k++) {
		uint64_t v = w[k];
		if (v - lo >= span)
			continue;
		ls->batch[ls->nbatch++] = v;
		if (ls->nbatch == MO_LS_BATCH)
			flush(ls);
	}
}

/* Scans the aligned words of [addr, addr + len). */
static void scan_range(mo_ls_t *ls, uint64_t addr, uint64_t len)
{
	if (ls->span == 0 || len == 0)
		return;
	uint64_t p = (addr + 7) & ~UINT64_C(7);
	uint64_t end = addr + len < addr ? UINT64_MAX : addr + len;
	end &= ~UINT64_C(7);
	if (p < addr) /* addr + 7 wrapped */
		return;
	while (p < end) {
		uint64_t cend =
			(p & ~(uint64_t)(MO_LS_CHUNK - 1)) + MO_LS_CHUNK;
		if (cend > end || cend < p)
			cend = end;
		if (ls->read(ls->ctx, p, ls->buf, cend - p) == 0) {
			scan_words(ls, ls->buf, (cend - p) / 8);
		} else {
			/* Some page of the chunk is unreadable: page by
			 * page, skipping the bad ones. */
			for (uint64_t q = p; q < cend;) {
				uint64_t pend =
					(q & ~(uint64_t)(MO_LS_PAGE - 1)) +
					MO_LS_PAGE;
				if (pend > cend || pend < q)
					pend = cend;
				if (ls->read(ls->ctx, q, ls->buf, pend - q) ==
				    0)
					scan_words(ls, ls->buf, (pend - q) / 8);
				q = pend;
			}
		}
		p = cend;
	}
}

void mo_ls_root_range(mo_ls_t *ls, uint64_t addr, uint64_t len)
{
	scan_range(ls, addr, len); /* ls->mode is MODE_DEFINITE */
}

void mo_ls_root_word(mo_ls_t *ls, uint64_t value)
{
	if (value - ls->lo < ls->span)
		word_definite(ls, value, find_block(ls, value));
}

/* Pops and scans until the mark stack and the batch are empty. */
static void drain(mo_ls_t *ls, int mode, uint32_t leader)
{
	ls->mode = mode;
	ls->leader = leader;
	for (;;) {
		while (ls->top > 0) {
			uint32_t i = ls->stack[--ls->top];
			const mo_scan_block_t *b = &ls->blocks[i];
			scan_range(ls, b->addr, b->size);
		}
		if (ls->nbatch == 0)
			break;
		flush(ls);
	}
}

void mo_ls_finish(mo_ls_t *ls)
{
	uint32_t n = ls->n;
	uint8_t *st = ls->state;

	/* Phase 1: still reachable blocks, from the roots. */
	drain(ls, MODE_DEFINITE, 0);

	/* Phase 2: possibly lost blocks. */
	for (uint32_t i = 0; i < n; i++) {
		if (st[i] != ST_POSSIBLE_NEW)
			continue;
		st[i] = ST_POSSIBLE;
		push(ls, i);
		drain(ls, MODE_POSSIBLE, 0);
	}

	/* Cliques of lost blocks, in address order. */
	for (uint32_t i = 0; i < n; i++) {
		if (st[i] != ST_UNREACHED)
			continue;
		st[i] = ST_LEADER;
		push(ls, i);
		drain(ls, MODE_CLIQUE, i);
	}

	for (uint32_t i = 0; i < n; i++) {
		switch (st[i]) {
		case ST_REACHABLE:
			ls->kinds[i] = MO_LEAK_REACHABLE;
			break;
		case ST_POSSIBLE:
			ls->kinds[i] = MO_LEAK_POSSIBLE;
			break;
		case ST_INDIRECT:
			ls->kinds[i] = MO_LEAK_INDIRECT;
			break;
		default:
			ls->kinds[i] = MO_LEAK_DEFINITE;
			break;
		}
	}
}
