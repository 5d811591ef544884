/*
 * Free-list allocator (memopt/freelist.h).
 *
 * The region is a sequence of blocks, each a multiple of 16 bytes with a
 * 16-byte header: the block size with two flags in its low bits (used,
 * previous block used), a magic number and, for used blocks, the slack
 * (block bytes minus the requested ones).  Free blocks also carry a footer
 * (their size, in their last 8 bytes) and the links of one doubly linked
 * free list, so a free finds both neighbours and merges with them in O(1).
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

_Static_assert(sizeof(hdr_t) == MO_FL_HEADER, "header size");
_Static_assert(sizeof(fblk_t) + sizeof(size_t) <= MO_FL_MIN_BLOCK,
	       "minimum block");

struct mo_fl {
	char *base; /* first block, 16-aligned */
	char *end;  /* epilogue header */
	void *map;  /* the mapping, if we made it */
	size_t map_len;
	size_t cap;
	fblk_t *head;
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

static void list_push(mo_fl_t *fl, fblk_t *b)
{
	b->prev = NULL;
	b->next = fl->head;
	if (fl->head)
		fl->head->prev = b;
	fl->head = b;
}

static void list_del(mo_fl_t *fl, fblk_t *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		fl->head = b->next;
	if (b->next)
		b->next->prev = b->prev;
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
	fl->head = NULL;
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
static size_t block_need(size_t req)
{
	size_t n;

	if (mo_size_add(req, MO_FL_HEADER, &n) || mo_size_align(n, 16, &n))
		return 0;
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

void *mo_fl_alloc(mo_fl_t *fl, size_t size)
{
	size_t need = block_need(size);
	fblk_t *best = NULL;

	if (!need)
		return fail(fl);
	for (fblk_t *b = fl->head; b; b = b->next) {
		size_t s = bsize(&b->h);
		if (s < need)
			continue;
		if (fl->fit == MO_FL_FIRST_FIT || s == need)
			return place(fl, b, need, size);
		if (!best || s < bsize(&best->h))
			best = b;
	}
	return best ? place(fl, best, need, size) : fail(fl);
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

void *mo_fl_alloc_aligned(mo_fl_t *fl, size_t size, size_t align)
{
	size_t need, gap = 0;
	fblk_t *best = NULL;

	if (!mo_is_pow2(align) || align > MO_FL_MAX_ALIGN)
		return fail(fl);
	if (align <= 16)
		return mo_fl_alloc(fl, size);
	need = block_need(size);
	if (!need)
		return fail(fl);
	for (fblk_t *b = fl->head; b; b = b->next) {
		size_t s = bsize(&b->h), g = align_gap(b, align);
		if (g > s || s - g < need)
			continue;
		if (!best || s < bsize(&best->h)) {
			best = b;
			gap = g;
		}
		if (fl->fit == MO_FL_FIRST_FIT || s - g == need)
			break;
	}
	if (!best)
		return fail(fl);
	if (gap) {
		/* best keeps the gap (and its place in the list). */
		size_t s = bsize(&best->h);
		fblk_t *n = (fblk_t *)((char *)best + gap);
		set_free(&best->h, gap, best->h.size & F_PREV_USED);
		set_free(&n->h, s - gap, 0);
		list_push(fl, n);
		best = n;
	}
	return place(fl, best, need, size);
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
	for (const fblk_t *b = fl->head; b; b = b->next) {
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
