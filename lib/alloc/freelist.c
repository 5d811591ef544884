/*
 * Free-list allocator (memopt/freelist.h).
 *
 * The region is a sequence of blocks, each a multiple of 16 bytes with a
 * 16-byte header: the block size with two flags in its low bits (used,
 * previous block used), a magic number and, for used blocks, the slack
 * (block bytes minus the requested ones).  Free blocks also carry a footer
 * (their size, in their last 8 bytes) and the links of a doubly linked
 * free list, so a free finds both neighbours and merges with them in O(1).
 * The free lists are segregated by size, TLSF-style: one bin per size
 * below 1024 bytes, 32 bins per power of two above, a bitmap of non-empty
 * bins per power of two and a bitmap of non-empty bitmaps, so the first
 * non-empty bin at or above any size is two bit scans away.
 * An epilogue header (size 0, used) ends the region.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memopt/freelist.h>

#ifndef MO_ALLOC_DEBUG_ALL
#define MO_ALLOC_DEBUG_ALL 0
#endif

#define F_USED ((size_t)1)
#define F_PREV_USED ((size_t)2)
#define F_MASK ((size_t)15)
#define MAGIC_USED 0x6d6f666cu /* "mofl" */
#define MAGIC_FREE 0x66726565u /* "free" */
#define MAGIC_END 0x656e6421u  /* "end!" */
/* A header inside poisoned free space (debug mode). */
#define POISON_MAGIC (0x01010101u * MO_FL_POISON)

typedef struct hdr {
	size_t size; /* block bytes | F_USED | F_PREV_USED */
	uint32_t magic;
	uint32_t slack; /* used blocks: block bytes - requested bytes */
} hdr_t;

typedef struct fblk {
	hdr_t h;
	struct fblk *next, *prev;
} fblk_t;

/* Bins: SL_COUNT per power of two (see bin_of()). */
#define SL_LOG 5 /* 32 bins per power of two */
#define SL_COUNT (1u << SL_LOG)
#define NFL (64 - (SL_LOG + 3))
#define NBINS (NFL * SL_COUNT)

_Static_assert(sizeof(hdr_t) == MO_FL_HEADER, "header size");
_Static_assert(sizeof(fblk_t) + sizeof(size_t) <= MO_FL_MIN_BLOCK,
	       "minimum block");

struct mo_fl {
	char *base; /* first block, 16-aligned */
	char *end;  /* epilogue header */
	void *map;  /* the mapping, if we made it */
	size_t map_len;
	size_t cap;
	uint64_t fl_map;      /* bit f: sl_map[f] != 0 */
	uint32_t sl_map[NFL]; /* bit s of [f]: bins[f * 32 + s] */
	fblk_t *bins[NBINS];  /* LIFO lists of free blocks */
	mo_fl_fit_t fit;
	int debug;
	mo_alloc_stats_t st;
	char name[];
};

static inline size_t bsize(const hdr_t *h)
{
	return h->size & ~F_MASK;
}

static inline hdr_t *next_hdr(const hdr_t *h)
{
	return (hdr_t *)((char *)h + bsize(h));
}

/* Only valid when h's previous block is free (it then has a footer). */
static inline hdr_t *prev_hdr(const hdr_t *h)
{
	size_t ps = ((const size_t *)h)[-1];
	return (hdr_t *)((char *)h - ps);
}

/* Bin of a block of s bytes (a multiple of 16, at least MO_FL_MIN_BLOCK):
 * below 1024 bytes every size has a bin of its own (s / 16); above,
 * [2^k, 2^(k+1)) is split into SL_COUNT bins of equal width, bins
 * f * SL_COUNT .. f * SL_COUNT + SL_COUNT - 1 with f = k - 8. */
static inline unsigned bin_of(size_t s)
{
	unsigned lg, fli, sli;

	if (s < ((size_t)1 << (SL_LOG + 5)))
		return (unsigned)(s >> 4);
	lg = 63u - (unsigned)__builtin_clzl(s);
	fli = lg - (SL_LOG + 4);
	sli = (unsigned)(s >> (lg - SL_LOG)) & (SL_COUNT - 1);
	return fli * SL_COUNT + SL_COUNT + sli;
}

/* A size whose bin and every bin above it hold only blocks of at least s
 * bytes: s itself if it starts its bin, else a size in the next bin.  s is
 * at most the region size. */
static inline size_t round_to_bin(size_t s)
{
	unsigned lg;

	if (s < ((size_t)1 << (SL_LOG + 5)))
		return s;
	lg = 63u - (unsigned)__builtin_clzl(s);
	return s + (((size_t)1 << (lg - SL_LOG)) - 1);
}

static inline void list_push(mo_fl_t *fl, fblk_t *b)
{
	unsigned i = bin_of(bsize(&b->h));
	fblk_t *h = fl->bins[i];

	b->prev = NULL;
	b->next = h;
	if (h)
		h->prev = b;
	fl->bins[i] = b;
	fl->sl_map[i / SL_COUNT] |= 1u << (i % SL_COUNT);
	fl->fl_map |= (uint64_t)1 << (i / SL_COUNT);
}

static inline void list_del(mo_fl_t *fl, fblk_t *b)
{
	if (b->next)
		b->next->prev = b->prev;
	if (b->prev) {
		b->prev->next = b->next;
	} else {
		unsigned i = bin_of(bsize(&b->h));
		fl->bins[i] = b->next;
		if (!b->next &&
		    !(fl->sl_map[i / SL_COUNT] &= ~(1u << (i % SL_COUNT))))
			fl->fl_map &= ~((uint64_t)1 << (i / SL_COUNT));
	}
}

/* First non-empty bin at or above i, or NBINS. */
static inline unsigned next_bin(const mo_fl_t *fl, unsigned i)
{
	unsigned f = i / SL_COUNT;
	uint32_t sl;
	uint64_t fm;

	if (i >= NBINS)
		return NBINS;
	sl = fl->sl_map[f] & (~0u << (i % SL_COUNT));
	if (sl)
		return f * SL_COUNT + (unsigned)__builtin_ctz(sl);
	fm = f + 1 < 64 ? fl->fl_map & (~(uint64_t)0 << (f + 1)) : 0;
	if (!fm)
		return NBINS;
	f = (unsigned)__builtin_ctzll(fm);
	return f * SL_COUNT + (unsigned)__builtin_ctz(fl->sl_map[f]);
}

/* Writes a free block's header and footer (not its links). */
static void set_free(hdr_t *h, size_t size, size_t prev_used)
{
	h->size = size | prev_used;
	h->magic = MAGIC_FREE;
	h->slack = 0;
	/* Through an integer: the footer lies beyond the header object. */
	*(size_t *)((uintptr_t)h + size - sizeof(size_t)) = size;
}

/* Poisons a free block's payload after its links (not its footer). */
static void poison(const mo_fl_t *fl, hdr_t *h)
{
	if (fl->debug)
		memset((char *)h + sizeof(fblk_t), MO_FL_POISON,
		       bsize(h) - sizeof(fblk_t) - sizeof(size_t));
}

static void poison_range(const mo_fl_t *fl, char *p, size_t n)
{
	if (fl->debug)
		memset(p, MO_FL_POISON, n);
}

/* Debug mode: reports the first byte of [p, p + n) that is not poison. */
static void check_poison(const mo_fl_t *fl, const unsigned char *p, size_t n)
{
	char what[96];

	for (size_t i = 0; i < n; i++) {
		if (p[i] == MO_FL_POISON)
			continue;
		snprintf(what, sizeof(what), "write after free at %p",
			 (const void *)(p + i));
		mo_alloc_misuse("freelist", fl->name, what);
		return;
	}
}

static void fl_init(mo_fl_t *fl)
{
	hdr_t *h = (hdr_t *)fl->base;
	hdr_t *e = (hdr_t *)fl->end;

	e->size = F_USED;
	e->magic = MAGIC_END;
	e->slack = 0;
	set_free(h, (size_t)(fl->end - fl->base), F_PREV_USED);
	/* Empties the non-empty bins (all of them are NULL after create). */
	for (unsigned i = next_bin(fl, 0); i < NBINS; i = next_bin(fl, i + 1))
		fl->bins[i] = NULL;
	fl->fl_map = 0;
	memset(fl->sl_map, 0, sizeof(fl->sl_map));
	list_push(fl, (fblk_t *)h);
	poison(fl, h);
}

int mo_fl_create(mo_fl_t **out, const mo_fl_opts_t *o)
{
	const char *name = o && o->name ? o->name : "freelist";
	size_t nlen = strlen(name) + 1;
	uintptr_t start, end;
	mo_fl_t *fl;
	int rc;

	if (!out || !o || o->size < 128 ||
	    (o->fit != MO_FL_FIRST_FIT && o->fit != MO_FL_BEST_FIT))
		return -EINVAL;
	fl = calloc(1, sizeof(*fl) + nlen);
	if (!fl)
		return -ENOMEM;
	memcpy(fl->name, name, nlen);
	fl->fit = o->fit;
	fl->debug = MO_ALLOC_DEBUG_ALL || (o->flags & MO_ALLOC_DEBUG);
	if (o->buf) {
		start = (uintptr_t)o->buf;
		rc = -EOVERFLOW;
		if (start + o->size < start)
			goto fail;
		end = start + o->size;
		fl->cap = o->size;
	} else {
		size_t len;
		rc = mo_size_align(o->size, (size_t)sysconf(_SC_PAGESIZE),
				   &len);
		if (rc)
			goto fail;
		fl->map = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		rc = -ENOMEM;
		if (fl->map == MAP_FAILED)
			goto fail;
		fl->map_len = fl->cap = len;
		start = (uintptr_t)fl->map;
		end = start + len;
	}
	start = (start + 15) & ~(uintptr_t)15;
	end = (end - MO_FL_HEADER) & ~(uintptr_t)15;
	fl->base = (char *)start;
	fl->end = (char *)end;
	fl_init(fl);
	*out = fl;
	MO_ALLOC_HOOK(created, fl, "freelist", fl->name);
	return 0;
fail:
	free(fl);
	return rc;
}

void mo_fl_destroy(mo_fl_t *fl)
{
	if (!fl)
		return;
	MO_ALLOC_HOOK(destroyed, fl);
	if (fl->map)
		munmap(fl->map, fl->map_len);
	free(fl);
}

/* Block bytes for a request, or 0 if it cannot fit in any region. */
static inline size_t block_need(size_t req)
{
	size_t n;

	if (req > SIZE_MAX - MO_FL_HEADER - 15)
		return 0;
	n = (req + MO_FL_HEADER + 15) & ~(size_t)15;
	return n < MO_FL_MIN_BLOCK ? MO_FL_MIN_BLOCK : n;
}

static void *fail(mo_fl_t *fl)
{
	fl->st.failures++;
	return NULL;
}

/* Turns the free block b (in the list) into a used block of need bytes,
 * splitting off the remainder if it can be a block of its own. */
static void *place(mo_fl_t *fl, fblk_t *b, size_t need, size_t req)
{
	hdr_t *h = &b->h;
	size_t s = bsize(h), prev_used = h->size & F_PREV_USED;
	void *p = h + 1;

	if (fl->debug)
		check_poison(fl, (unsigned char *)b + sizeof(fblk_t),
			     (s - need >= MO_FL_MIN_BLOCK
				      ? need
				      : s - sizeof(size_t)) -
				     sizeof(fblk_t));
	list_del(fl, b);
	if (s - need >= MO_FL_MIN_BLOCK) {
		hdr_t *r = (hdr_t *)((char *)h + need);
		set_free(r, s - need, F_PREV_USED);
		list_push(fl, (fblk_t *)r);
		s = need;
	} else {
		next_hdr(h)->size |= F_PREV_USED;
	}
	h->size = s | prev_used | F_USED;
	h->magic = MAGIC_USED;
	h->slack = (uint32_t)(s - req);
	fl->st.in_use += req;
	if (fl->st.in_use > fl->st.peak)
		fl->st.peak = fl->st.in_use;
	fl->st.internal_frag += s - req;
	fl->st.live++;
	fl->st.allocs++;
	MO_ALLOC_HOOK(alloc, fl, p, req, s);
	return p;
}

/* The free block of at least need bytes that the fit picks, or NULL. */
static inline fblk_t *find(const mo_fl_t *fl, size_t need)
{
	unsigned own = bin_of(need), i;
	fblk_t *best = NULL;

	if (fl->fit == MO_FL_FIRST_FIT) {
		i = next_bin(fl, bin_of(round_to_bin(need)));
		if (i < NBINS)
			return fl->bins[i];
		for (fblk_t *b = fl->bins[own]; b; b = b->next)
			if (bsize(&b->h) >= need)
				return b;
		return NULL;
	}
	for (fblk_t *b = fl->bins[own]; b; b = b->next) {
		size_t s = bsize(&b->h);
		if (s < need || (best && s >= bsize(&best->h)))
			continue;
		best = b;
		if (s == need)
			break;
	}
	if (best)
		return best;
	i = next_bin(fl, own + 1);
	return i < NBINS ? fl->bins[i] : NULL;
}

void *mo_fl_alloc(mo_fl_t *fl, size_t size)
{
	size_t need = block_need(size);
	fblk_t *b;

	if (!need || need > fl->cap)
		return fail(fl);
	b = find(fl, need);
	return b ? place(fl, b, need, size) : fail(fl);
}

/* Bytes to skip at the start of free block b so that its payload is
 * aligned, the skipped part being 0 or a free block of its own. */
static size_t align_gap(const fblk_t *b, size_t align)
{
	uintptr_t pl = (uintptr_t)b + MO_FL_HEADER;
	uintptr_t q = (pl + align - 1) & ~(uintptr_t)(align - 1);

	if (q != pl && q - pl < MO_FL_MIN_BLOCK)
		q = (pl + MO_FL_MIN_BLOCK + align - 1) &
		    ~(uintptr_t)(align - 1);
	return (size_t)(q - pl);
}

/* Aligned allocation's slow path: the first free block, bins in
 * ascending order from need's, that holds need bytes after its gap. */
static fblk_t *find_aligned(const mo_fl_t *fl, size_t need, size_t align)
{
	for (unsigned i = next_bin(fl, bin_of(need)); i < NBINS;
	     i = next_bin(fl, i + 1))
		for (fblk_t *b = fl->bins[i]; b; b = b->next) {
			size_t s = bsize(&b->h), g = align_gap(b, align);
			if (g <= s && s - g >= need)
				return b;
		}
	return NULL;
}

void *mo_fl_alloc_aligned(mo_fl_t *fl, size_t size, size_t align)
{
	size_t need, gap = 0, s;
	fblk_t *b = NULL, *n;

	if (!mo_is_pow2(align) || align > MO_FL_MAX_ALIGN)
		return fail(fl);
	if (align <= 16)
		return mo_fl_alloc(fl, size);
	need = block_need(size);
	if (!need || need > fl->cap)
		return fail(fl);
	/* Any block of need + align + 32 bytes fits with its gap. */
	if (need + align + 32 <= fl->cap)
		b = find(fl, need + align + 32);
	if (!b && !(b = find_aligned(fl, need, align)))
		return fail(fl);
	gap = align_gap(b, align);
	if (gap) {
		/* b keeps the gap, in the bin of its new size. */
		s = bsize(&b->h);
		n = (fblk_t *)((char *)b + gap);
		list_del(fl, b);
		set_free(&b->h, gap, b->h.size & F_PREV_USED);
		list_push(fl, b);
		set_free(&n->h, s - gap, 0);
		list_push(fl, n);
		b = n;
	}
	return place(fl, b, need, size);
}

/* Returns p's header if p is a live block, else reports op's misuse. */
static hdr_t *check(const mo_fl_t *fl, const void *p, const char *op)
{
	uintptr_t a = (uintptr_t)p;
	const hdr_t *h = (const hdr_t *)p - 1;
	char what[128];

	if (a < (uintptr_t)fl->base + MO_FL_HEADER || a >= (uintptr_t)fl->end)
		snprintf(what, sizeof(what), "%s of foreign pointer %p", op, p);
	else if (!(a & 15) && (h->magic == MAGIC_FREE ||
			       (fl->debug && h->magic == POISON_MAGIC)))
		snprintf(what, sizeof(what),
			 strcmp(op, "free") ? "%s of freed block %p"
					    : "double %s of %p",
			 op, p);
	else if ((a & 15) || h->magic != MAGIC_USED || !(h->size & F_USED) ||
		 bsize(h) < MO_FL_MIN_BLOCK ||
		 bsize(h) > (size_t)(fl->end - (const char *)h))
		snprintf(what, sizeof(what),
			 "%s of %p: bad block header (not a block start, or "
			 "corrupted)",
			 op, p);
	else
		return (hdr_t *)h;
	mo_alloc_misuse("freelist", fl->name, what);
	return NULL;
}

void mo_fl_free(mo_fl_t *fl, void *p)
{
	hdr_t *h, *n;
	size_t s, req, prev_used;

	if (!p || !(h = check(fl, p, "free")))
		return;
	s = bsize(h);
	req = s - h->slack;
	fl->st.in_use -= req;
	fl->st.internal_frag -= h->slack;
	fl->st.live--;
	fl->st.frees++;
	MO_ALLOC_HOOK(free, fl, p, req);
	prev_used = h->size & F_PREV_USED;
	h->magic = MAGIC_FREE;
	h->size = s | prev_used;
	poison(fl, h);
	n = next_hdr(h);
	if (!(n->size & F_USED)) {
		list_del(fl, (fblk_t *)n);
		s += bsize(n);
		/* Debug: our would-be footer, n's header and links. */
		poison_range(fl, (char *)n - sizeof(size_t),
			     sizeof(size_t) + sizeof(fblk_t));
	}
	if (!prev_used) {
		hdr_t *pv = prev_hdr(h);
		list_del(fl, (fblk_t *)pv);
		s += bsize(pv);
		prev_used = pv->size & F_PREV_USED;
		/* Debug: pv's footer, our header and links. */
		poison_range(fl, (char *)h - sizeof(size_t),
			     sizeof(size_t) + sizeof(fblk_t));
		h = pv;
	}
	set_free(h, s, prev_used);
	next_hdr(h)->size &= ~F_PREV_USED;
	list_push(fl, (fblk_t *)h);
}

void mo_fl_reset(mo_fl_t *fl)
{
	fl_init(fl);
	fl->st.in_use = 0;
	fl->st.internal_frag = 0;
	fl->st.live = 0;
	fl->st.resets++;
	MO_ALLOC_HOOK(reset, fl);
}

void mo_fl_stats(const mo_fl_t *fl, mo_alloc_stats_t *st)
{
	*st = fl->st;
	st->capacity = fl->cap;
}

void mo_fl_frag(const mo_fl_t *fl, mo_fl_frag_t *f)
{
	memset(f, 0, sizeof(*f));
	for (unsigned i = next_bin(fl, 0); i < NBINS; i = next_bin(fl, i + 1))
		for (const fblk_t *b = fl->bins[i]; b; b = b->next) {
			size_t s = bsize(&b->h);
			f->free_bytes += s;
			f->free_blocks++;
			if (s > f->largest_free)
				f->largest_free = s;
		}
	if (f->largest_free)
		f->largest_alloc = f->largest_free - MO_FL_HEADER;
	if (f->free_bytes)
		f->external =
			1.0 - (double)f->largest_free / (double)f->free_bytes;
}

size_t mo_fl_usable_size(const mo_fl_t *fl, const void *p)
{
	const hdr_t *h = check(fl, p, "usable_size");
	return h ? bsize(h) - MO_FL_HEADER : 0;
}

int mo_fl_walk(const mo_fl_t *fl,
	       int (*fn)(void *arg, void *p, size_t usable, int is_free),
	       void *arg)
{
	for (hdr_t *h = (hdr_t *)fl->base; (char *)h < fl->end;
	     h = next_hdr(h)) {
		int rc = fn(arg, h + 1, bsize(h) - MO_FL_HEADER,
			    !(h->size & F_USED));
		if (rc)
			return rc;
	}
	return 0;
}

#define BAD(...)                                         \
	do {                                             \
		if (why && len)                          \
			snprintf(why, len, __VA_ARGS__); \
		return -EFAULT;                          \
	} while (0)

/* Address order: boundary tags, flags and footers; counts free blocks. */
static int check_blocks(const mo_fl_t *fl, size_t *nfree, char *why, size_t len)
{
	size_t prev_used = F_PREV_USED;

	*nfree = 0;
	for (const hdr_t *h = (const hdr_t *)fl->base;
	     (const char *)h < fl->end; h = next_hdr(h)) {
		size_t s = bsize(h);
		if (s < MO_FL_MIN_BLOCK || s > (size_t)(fl->end - (char *)h))
			BAD("block %p: size %zu", (const void *)h, s);
		if ((h->size & F_PREV_USED) != prev_used)
			BAD("block %p: wrong previous-used flag",
			    (const void *)h);
		prev_used = h->size & F_USED ? F_PREV_USED : 0;
		if (prev_used)
			continue;
		if (h->magic != MAGIC_FREE ||
		    *(const size_t *)((uintptr_t)h + s - sizeof(size_t)) != s)
			BAD("free block %p: bad magic or footer",
			    (const void *)h);
		if (!(next_hdr(h)->size & F_USED))
			BAD("free block %p: free neighbour not merged",
			    (const void *)h);
		++*nfree;
	}
	if ((fl->end != (char *)fl->base &&
	     (((const hdr_t *)fl->end)->size & F_PREV_USED) != prev_used))
		BAD("epilogue: wrong previous-used flag");
	return 0;
}

int mo_fl_check(const mo_fl_t *fl, char *why, size_t len)
{
	size_t nfree, inbins = 0;
	int rc = check_blocks(fl, &nfree, why, len);

	if (rc)
		return rc;
	for (unsigned f = 0; f < NFL; f++) {
		if (!!fl->sl_map[f] != !!(fl->fl_map & ((uint64_t)1 << f)))
			BAD("first-level bitmap bit %u is wrong", f);
		for (unsigned i = f * SL_COUNT; i < (f + 1) * SL_COUNT; i++) {
			const fblk_t *prev = NULL;
			if (!!fl->bins[i] !=
			    !!(fl->sl_map[f] & (1u << (i % SL_COUNT))))
				BAD("bitmap bit of bin %u is wrong", i);
			for (const fblk_t *b = fl->bins[i]; b; b = b->next) {
				if ((const char *)b < fl->base ||
				    (const char *)b >= fl->end ||
				    b->h.magic != MAGIC_FREE ||
				    (b->h.size & F_USED))
					BAD("bin %u: %p is not a free block", i,
					    (const void *)b);
				if (bin_of(bsize(&b->h)) != i)
					BAD("bin %u: block %p of %zu bytes "
					    "belongs in bin %u",
					    i, (const void *)b, bsize(&b->h),
					    bin_of(bsize(&b->h)));
				if (b->prev != prev)
					BAD("bin %u: bad back link at %p", i,
					    (const void *)b);
				if (++inbins > nfree)
					break;
				prev = b;
			}
		}
	}
	if (inbins != nfree)
		BAD("%zu free blocks in the bins, %zu in the region", inbins,
		    nfree);
	return 0;
}

size_t mo_fl_bin(size_t block_bytes)
{
	return block_bytes < MO_FL_MIN_BLOCK ? 0
					     : bin_of(block_bytes & ~F_MASK);
}
