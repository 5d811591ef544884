/*
 * Buddy allocator (memopt/buddy.h).
 *
 * One byte per order-0 block says whether a block starts there and, if so,
 * its order and whether it is free; a 32-bit slack per order-0 block keeps
 * the bytes a live block holds beyond the request.  Free blocks of each
 * order form a doubly linked list through their first 16 bytes, so taking
 * a buddy out of its list is O(1).  The buddy of the block at offset off
 * of order k is at off ^ (min_block << k).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memopt/buddy.h>

#ifndef MO_ALLOC_DEBUG_ALL
#define MO_ALLOC_DEBUG_ALL 0
#endif

#define M_FREE 0x80u
#define M_USED 0x40u
#define M_ORDER 0x3fu

typedef struct node {
	struct node *next, *prev;
} node_t;

struct mo_buddy {
	char *base;
	size_t size;
	unsigned shift;	    /* log2(min_block) */
	unsigned max_order; /* log2(size / min_block) */
	void *map;
	size_t map_len;
	uint8_t *meta;	 /* per order-0 block */
	uint32_t *slack; /* per order-0 block (heads of live blocks) */
	node_t *free[MO_BUDDY_ORDERS + 1];
	size_t nfree[MO_BUDDY_ORDERS + 1];
	uint64_t splits, merges;
	int debug;
	mo_alloc_stats_t st;
	char name[];
};

static inline size_t idx_of(const mo_buddy_t *b, const void *p)
{
	return (size_t)((const char *)p - b->base) >> b->shift;
}

static void push(mo_buddy_t *b, void *p, unsigned k)
{
	node_t *n = p;

	n->prev = NULL;
	n->next = b->free[k];
	if (n->next)
		n->next->prev = n;
	b->free[k] = n;
	b->nfree[k]++;
	b->meta[idx_of(b, p)] = (uint8_t)(M_FREE | k);
}

static void unlink_node(mo_buddy_t *b, node_t *n, unsigned k)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		b->free[k] = n->next;
	if (n->next)
		n->next->prev = n->prev;
	b->nfree[k]--;
	b->meta[idx_of(b, n)] = 0;
}

static void poison(const mo_buddy_t *b, void *p, size_t len)
{
	if (b->debug && len > sizeof(node_t))
		memset((char *)p + sizeof(node_t), MO_BUDDY_POISON,
		       len - sizeof(node_t));
}

/* Debug mode: reports the first byte of [p, p + n) that is not poison. */
static void check_poison(const mo_buddy_t *b, const unsigned char *p, size_t n)
{
	char what[96];

	for (size_t i = 0; i < n; i++) {
		if (p[i] == MO_BUDDY_POISON)
			continue;
		snprintf(what, sizeof(what), "write after free at %p",
			 (const void *)(p + i));
		mo_alloc_misuse("buddy", b->name, what);
		return;
	}
}

static void buddy_init(mo_buddy_t *b)
{
	memset(b->meta, 0, b->size >> b->shift);
	memset(b->free, 0, sizeof(b->free));
	memset(b->nfree, 0, sizeof(b->nfree));
	push(b, b->base, b->max_order);
	poison(b, b->base, b->size);
}

static unsigned log2_exact(size_t v)
{
	return (unsigned)__builtin_ctzl(v);
}

static int map_region(mo_buddy_t *b)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = b->size < page ? page : b->size;
	size_t extra = b->size > page ? b->size : 0;
	char *raw, *al;

	raw = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return -ENOMEM;
	al = (char *)(((uintptr_t)raw + b->size - 1) &
		      ~(uintptr_t)(b->size - 1));
	if (al > raw)
		munmap(raw, (size_t)(al - raw));
	if (raw + len + extra > al + len)
		munmap(al + len, (size_t)(raw + len + extra - (al + len)));
	b->map = b->base = al;
	b->map_len = len;
	return 0;
}

int mo_buddy_create(mo_buddy_t **out, const mo_buddy_opts_t *o)
{
	const char *name = o && o->name ? o->name : "buddy";
	size_t nlen = strlen(name) + 1, min, nmin;
	mo_buddy_t *b;
	int rc = -EINVAL;

	if (!out || !o)
		return -EINVAL;
	min = o->min_block ? o->min_block : MO_BUDDY_DEFAULT_MIN;
	if (!mo_is_pow2(min) || min < MO_BUDDY_SMALLEST_MIN ||
	    !mo_is_pow2(o->size) || o->size < min ||
	    o->size > MO_BUDDY_MAX_SIZE || ((uintptr_t)o->buf & 15))
		return -EINVAL;
	b = calloc(1, sizeof(*b) + nlen);
	if (!b)
		return -ENOMEM;
	memcpy(b->name, name, nlen);
	b->size = o->size;
	b->shift = log2_exact(min);
	b->max_order = log2_exact(o->size) - b->shift;
	b->debug = MO_ALLOC_DEBUG_ALL || (o->flags & MO_ALLOC_DEBUG);
	nmin = o->size >> b->shift;
	rc = -ENOMEM;
	b->meta = calloc(nmin, 1);
	b->slack = calloc(nmin, sizeof(*b->slack));
	if (!b->meta || !b->slack)
		goto fail;
	if (o->buf)
		b->base = o->buf;
	else if ((rc = map_region(b)))
		goto fail;
	buddy_init(b);
	*out = b;
	MO_ALLOC_HOOK(created, b, "buddy", b->name);
	return 0;
fail:
	free(b->meta);
	free(b->slack);
	free(b);
	return rc;
}

void mo_buddy_destroy(mo_buddy_t *b)
{
	if (!b)
		return;
	MO_ALLOC_HOOK(destroyed, b);
	if (b->map)
		munmap(b->map, b->map_len);
	free(b->meta);
	free(b->slack);
	free(b);
}

static void *fail(mo_buddy_t *b)
{
	b->st.failures++;
	return NULL;
}

/* Allocates a block of order k for a request of req bytes. */
static void *alloc_order(mo_buddy_t *b, unsigned k, size_t req)
{
	unsigned j = k;
	size_t blk, i;
	char *p;

	while (j <= b->max_order && !b->free[j])
		j++;
	if (j > b->max_order)
		return fail(b);
	p = (char *)b->free[j];
	unlink_node(b, (node_t *)p, j);
	while (j > k) {
		j--;
		push(b, p + ((size_t)1 << (b->shift + j)), j);
		b->splits++;
	}
	blk = (size_t)1 << (b->shift + k);
	if (b->debug && blk > sizeof(node_t))
		check_poison(b, (unsigned char *)p + sizeof(node_t),
			     blk - sizeof(node_t));
	i = idx_of(b, p);
	b->meta[i] = (uint8_t)(M_USED | k);
	b->slack[i] = (uint32_t)(blk - req);
	b->st.in_use += req;
	if (b->st.in_use > b->st.peak)
		b->st.peak = b->st.in_use;
	b->st.internal_frag += blk - req;
	b->st.live++;
	b->st.allocs++;
	MO_ALLOC_HOOK(alloc, b, p, req, blk);
	return p;
}

/* Order of the smallest block holding want bytes, or -1 if none does. */
static int order_for(const mo_buddy_t *b, size_t want)
{
	unsigned k = 0;

	if (want > b->size)
		return -1;
	if (want > ((size_t)1 << b->shift))
		k = 64 - (unsigned)__builtin_clzl(want - 1) - b->shift;
	return (int)k;
}

void *mo_buddy_alloc(mo_buddy_t *b, size_t size)
{
	int k = order_for(b, size);
	return k < 0 ? fail(b) : alloc_order(b, (unsigned)k, size);
}

void *mo_buddy_alloc_aligned(mo_buddy_t *b, size_t size, size_t align)
{
	uintptr_t base = (uintptr_t)b->base;
	int k;

	if (!mo_is_pow2(align) || (base & (align - 1)))
		return fail(b);
	k = order_for(b, size > align ? size : align);
	return k < 0 ? fail(b) : alloc_order(b, (unsigned)k, size);
}

/* Nonzero if order-0 block i lies inside a free block. */
static int inside_free(const mo_buddy_t *b, size_t i)
{
	for (unsigned k = 0; k <= b->max_order; k++) {
		size_t h = i & ~(((size_t)1 << k) - 1);
		if (b->meta[h] == (M_FREE | k))
			return 1;
	}
	return 0;
}

/* Returns p's index if p is a live block, else reports op's misuse. */
static long check(const mo_buddy_t *b, const void *p, const char *op)
{
	uintptr_t a = (uintptr_t)p, base = (uintptr_t)b->base;
	char what[128];
	size_t i;

	if (a < base || a - base >= b->size) {
		snprintf(what, sizeof(what), "%s of foreign pointer %p", op, p);
		goto misuse;
	}
	i = (size_t)(a - base) >> b->shift;
	if (!((a - base) & (((size_t)1 << b->shift) - 1)) &&
	    (b->meta[i] & M_USED))
		return (long)i;
	if (inside_free(b, i))
		snprintf(what, sizeof(what),
			 strcmp(op, "free") ? "%s of freed block %p"
					    : "double %s of %p",
			 op, p);
	else
		snprintf(what, sizeof(what),
			 "%s of %p: not the start of a block", op, p);
misuse:
	mo_alloc_misuse("buddy", b->name, what);
	return -1;
}

void mo_buddy_free(mo_buddy_t *b, void *p)
{
	long li;
	size_t off, req;
	unsigned k;

	if (!p || (li = check(b, p, "free")) < 0)
		return;
	k = b->meta[li] & M_ORDER;
	req = ((size_t)1 << (b->shift + k)) - b->slack[li];
	b->st.in_use -= req;
	b->st.internal_frag -= b->slack[li];
	b->st.live--;
	b->st.frees++;
	MO_ALLOC_HOOK(free, b, p, req);
	b->meta[li] = 0;
	b->slack[li] = 0;
	if (b->debug) /* all of it: push() writes the links last */
		memset(p, MO_BUDDY_POISON, (size_t)1 << (b->shift + k));
	off = (size_t)li << b->shift;
	while (k < b->max_order) {
		size_t bo = off ^ ((size_t)1 << (b->shift + k));
		size_t bi = bo >> b->shift;
		if (b->meta[bi] != (M_FREE | k))
			break;
		unlink_node(b, (node_t *)(b->base + bo), k);
		if (b->debug)
			memset(b->base + bo, MO_BUDDY_POISON, sizeof(node_t));
		if (bo < off)
			off = bo;
		k++;
		b->merges++;
	}
	push(b, b->base + off, k);
}

void mo_buddy_reset(mo_buddy_t *b)
{
	buddy_init(b);
	memset(b->slack, 0, (b->size >> b->shift) * sizeof(*b->slack));
	b->st.in_use = 0;
	b->st.internal_frag = 0;
	b->st.live = 0;
	b->st.resets++;
	MO_ALLOC_HOOK(reset, b);
}

void mo_buddy_stats(const mo_buddy_t *b, mo_alloc_stats_t *st)
{
	*st = b->st;
	st->capacity = b->size;
}

void mo_buddy_info(const mo_buddy_t *b, mo_buddy_info_t *info)
{
	memset(info, 0, sizeof(*info));
	info->min_block = (size_t)1 << b->shift;
	info->max_order = b->max_order;
	info->splits = b->splits;
	info->merges = b->merges;
	for (unsigned k = 0; k <= b->max_order; k++) {
		size_t blk = (size_t)1 << (b->shift + k);
		info->free_blocks[k] = b->nfree[k];
		info->free_bytes += b->nfree[k] * blk;
		if (b->nfree[k])
			info->largest_free = blk;
	}
}

size_t mo_buddy_usable_size(const mo_buddy_t *b, const void *p)
{
	long i = check(b, p, "usable_size");
	return i < 0 ? 0 : (size_t)1 << (b->shift + (b->meta[i] & M_ORDER));
}
