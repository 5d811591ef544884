/*
 * Fixed-size pool (memopt/pool.h): the slow paths, chunk management and
 * the debug mode.  Chunks are kept in creation order (reset re-carves them
 * in that order) and, for the debug mode's membership test, in an array
 * sorted by address.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <memopt/pool.h>

#ifndef MO_ALLOC_DEBUG_ALL
#define MO_ALLOC_DEBUG_ALL 0
#endif

#define MO_POOL_POISON 0xDB
#define MO_POOL_MMAP_MIN ((size_t)128 << 10)
#define MO_POOL_DEFAULT_MAX_CHUNK ((size_t)1 << 20)

typedef struct mo__pool_chunk {
	char *base;	/* first object */
	size_t nobj;	/* objects in the chunk */
	size_t bytes;	/* bytes obtained from the system */
	uint64_t *bits; /* debug: allocated bit per object */
	bool mapped;	/* from mmap (else posix_memalign) */
} mo__pool_chunk_t;

struct mo__pool_priv {
	char *name;
	size_t align;
	size_t next_objs; /* objects in the next chunk */
	size_t max_chunk_objs;
	size_t max_objs; /* 0: no limit */
	size_t total_objs;
	unsigned flags;
	uint64_t failures;
	uint64_t resets;
	uint64_t dropped;	  /* allocations still live at resets */
	mo__pool_chunk_t *chunks; /* creation order */
	size_t nchunks, cap_chunks;
	size_t cur;	/* chunk being carved (index + 1; 0: none) */
	size_t *sorted; /* debug: chunk indices by address */
	/* Debug mode: the free list and carving live here, so that the
	 * public fields keep the inline functions on the slow path. */
	void *dfree;
	char *dbump, *dbump_end;
};

static size_t default_align(size_t obj_size)
{
	return obj_size >= 16 ? 16 : 8;
}

int mo_pool_create(mo_pool_t **out, const mo_pool_opts_t *o)
{
	mo_pool_t *p = NULL;
	struct mo__pool_priv *v = NULL;
	size_t align, stride, bytes;
	int rc;

	if (!out || !o || o->obj_size == 0)
		return -EINVAL;
	align = o->align ? o->align : default_align(o->obj_size);
	if (!mo_is_pow2(align) || align > MO_POOL_MAX_ALIGN)
		return -EINVAL;
	if (align < sizeof(void *))
		align = sizeof(void *);
	rc = mo_size_align(o->obj_size, align, &stride);
	if (rc)
		return rc;
	p = calloc(1, sizeof(*p));
	v = calloc(1, sizeof(*v));
	if (!p || !v)
		goto nomem;
	if (o->name && !(v->name = strdup(o->name)))
		goto nomem;
	p->priv = v;
	p->obj_size = o->obj_size;
	p->stride = stride;
	v->align = align;
	v->flags = o->flags;
	if (MO_ALLOC_DEBUG_ALL)
		v->flags |= MO_ALLOC_DEBUG;
	p->debug = !!(v->flags & MO_ALLOC_DEBUG);
	/* The hooks are known by now (libmemopt's constructor looked them
	 * up); a copy saves the fast path a load through the GOT. */
	p->hooks = mo_alloc_hooks;
	v->next_objs = o->chunk_objs;
	if (!v->next_objs) {
		v->next_objs = 4096 / stride;
		if (v->next_objs < 8)
			v->next_objs = 8;
	}
	v->max_chunk_objs = o->max_chunk_objs ? o->max_chunk_objs
					      : MO_POOL_DEFAULT_MAX_CHUNK;
	if (v->max_chunk_objs < v->next_objs)
		v->max_chunk_objs = v->next_objs;
	v->max_objs = o->max_objs;
	if (mo_size_mul(v->max_chunk_objs, stride, &bytes)) {
		rc = -EOVERFLOW;
		goto fail;
	}
	*out = p;
	MO_ALLOC_HOOK(created, p, "pool", v->name);
	return 0;
nomem:
	rc = -ENOMEM;
fail:
	if (v)
		free(v->name);
	free(v);
	free(p);
	return rc;
}

static void chunk_release(mo__pool_chunk_t *c)
{
	if (c->mapped)
		munmap(c->base, c->bytes);
	else
		free(c->base);
	free(c->bits);
}

void mo_pool_destroy(mo_pool_t *p)
{
	struct mo__pool_priv *v;

	if (!p)
		return;
	v = p->priv;
	MO_ALLOC_HOOK(destroyed, p);
	for (size_t i = 0; i < v->nchunks; i++)
		chunk_release(&v->chunks[i]);
	free(v->chunks);
	free(v->sorted);
	free(v->name);
	free(v);
	free(p->stack);
	free(p);
}

const char *mo_pool_name(const mo_pool_t *p)
{
	return p->priv->name;
}

size_t mo_pool_chunks(const mo_pool_t *p)
{
	return p->priv->nchunks;
}

void mo_pool_stats(const mo_pool_t *p, mo_alloc_stats_t *st)
{
	const struct mo__pool_priv *v = p->priv;

	memset(st, 0, sizeof(*st));
	st->live = p->live;
	st->in_use = p->live * p->obj_size;
	st->peak = p->peak_live * p->obj_size;
	st->capacity = (uint64_t)v->total_objs * p->stride;
	st->internal_frag = p->live * (p->stride - p->obj_size);
	st->allocs = p->frees + p->live + v->dropped;
	st->frees = p->frees;
	st->failures = v->failures;
	st->resets = v->resets;
}

/* Sets the carving window to chunk i (0-based). */
static void carve_from(mo_pool_t *p, size_t i)
{
	struct mo__pool_priv *v = p->priv;
	mo__pool_chunk_t *c = &v->chunks[i];
	char *end = c->base + c->nobj * p->stride;

	v->cur = i + 1;
	if (p->debug) {
		v->dbump = c->base;
		v->dbump_end = end;
	} else {
		p->bump = c->base;
		p->bump_end = end;
	}
}

/* Adds a chunk of n objects; returns its index or -1. */
static long chunk_add(mo_pool_t *p, size_t n)
{
	struct mo__pool_priv *v = p->priv;
	mo__pool_chunk_t c = {0};
	size_t bytes;

	if (mo_size_mul(n, p->stride, &bytes))
		return -1;
	if (v->nchunks == v->cap_chunks) {
		size_t cap = v->cap_chunks ? 2 * v->cap_chunks : 8;
		mo__pool_chunk_t *a = realloc(v->chunks, cap * sizeof(*a));
		if (!a)
			return -1;
		v->chunks = a;
		v->cap_chunks = cap;
	}
	if (p->debug) {
		size_t *s = realloc(v->sorted, v->cap_chunks * sizeof(*s));
		if (!s)
			return -1;
		v->sorted = s;
		c.bits = calloc((n + 63) / 64, sizeof(uint64_t));
		if (!c.bits)
			return -1;
	}
	if (!p->debug) { /* room on the free stack for every object */
		void **st =
			realloc(p->stack, (v->total_objs + n) * sizeof(*st));
		if (!st)
			return -1;
		p->stack = st;
	}
	c.nobj = n;
	if (bytes >= MO_POOL_MMAP_MIN) {
		c.bytes = (bytes + 4095) & ~(size_t)4095;
		c.base = mmap(NULL, c.bytes, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (c.base == MAP_FAILED)
			c.base = NULL;
		c.mapped = true;
	} else {
		void *m = NULL;
		c.bytes = bytes;
		if (posix_memalign(&m, v->align, bytes) == 0)
			c.base = m;
	}
	if (!c.base) {
		free(c.bits);
		return -1;
	}
	v->chunks[v->nchunks] = c;
	v->total_objs += n;
	if (!p->debug)
		p->cap = v->total_objs;
	if (p->debug) {
		size_t *s = v->sorted, i = v->nchunks;
		memset(c.base, MO_POOL_POISON, bytes);
		while (i > 0 && v->chunks[s[i - 1]].base > c.base) {
			s[i] = s[i - 1];
			i--;
		}
		s[i] = v->nchunks;
	}
	return (long)v->nchunks++;
}

/* Size of the next chunk, within max_objs; 0 if the pool is full. */
static size_t next_chunk_objs(struct mo__pool_priv *v)
{
	size_t n = v->next_objs;

	if (v->max_objs) {
		if (v->total_objs >= v->max_objs)
			return 0;
		if (n > v->max_objs - v->total_objs)
			n = v->max_objs - v->total_objs;
	}
	return n;
}

/* Makes the carving window non-empty; false if the pool cannot grow. */
static bool refill(mo_pool_t *p)
{
	struct mo__pool_priv *v = p->priv;
	size_t n;
	long idx;

	if (v->cur < v->nchunks) {
		carve_from(p, v->cur);
		return true;
	}
	n = next_chunk_objs(v);
	if (n == 0)
		return false;
	idx = chunk_add(p, n);
	if (idx < 0)
		return false;
	if ((v->flags & MO_POOL_GROW_DOUBLE) && v->next_objs <= SIZE_MAX / 2) {
		v->next_objs *= 2;
		if (v->next_objs > v->max_chunk_objs)
			v->next_objs = v->max_chunk_objs;
	}
	carve_from(p, (size_t)idx);
	return true;
}

/* Debug: the chunk holding p, or NULL. */
static mo__pool_chunk_t *chunk_of(const mo_pool_t *p, const void *ptr)
{
	const struct mo__pool_priv *v = p->priv;
	const size_t *s = v->sorted;
	const char *c = ptr;
	size_t lo = 0, hi = v->nchunks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		mo__pool_chunk_t *k = &v->chunks[s[mid]];
		if (c < k->base)
			hi = mid;
		else if (c >= k->base + k->nobj * p->stride)
			lo = mid + 1;
		else
			return k;
	}
	return NULL;
}

static void misuse(const mo_pool_t *p, const char *fmt, const void *ptr,
		   size_t n)
{
	char what[128];

	snprintf(what, sizeof(what), fmt, ptr, n);
	mo_alloc_misuse("pool", p->priv->name, what);
}

static bool bit_test(const mo__pool_chunk_t *c, size_t i)
{
	return (c->bits[i / 64] >> (i % 64)) & 1;
}

static void bit_flip(mo__pool_chunk_t *c, size_t i)
{
	c->bits[i / 64] ^= (uint64_t)1 << (i % 64);
}

/* Debug: checks that a free object still holds its poison after the link
 * word; reports it otherwise. */
static void check_poison(const mo_pool_t *p, const unsigned char *o)
{
	for (size_t i = sizeof(void *); i < p->stride; i++) {
		if (o[i] != MO_POOL_POISON) {
			misuse(p, "object %p modified after free (byte %zu)", o,
			       i);
			return;
		}
	}
}

static void *debug_alloc(mo_pool_t *p)
{
	struct mo__pool_priv *v = p->priv;
	void **o = v->dfree;
	mo__pool_chunk_t *c;

	if (o) {
		void *next = *o;
		check_poison(p, (unsigned char *)o);
		if (next && !chunk_of(p, next)) {
			misuse(p, "free list corrupted at object %p", o, 0);
			next = NULL;
		}
		v->dfree = next;
	} else {
		if (v->dbump >= v->dbump_end && !refill(p))
			return NULL;
		o = (void **)v->dbump;
		v->dbump += p->stride;
	}
	memset(o, MO_POOL_POISON, sizeof(void *));
	c = chunk_of(p, o);
	bit_flip(c, (size_t)((char *)o - c->base) / p->stride);
	return o;
}

void *mo__pool_alloc_slow(mo_pool_t *p)
{
	void *o;

	if (p->debug) {
		o = debug_alloc(p);
	} else if (refill(p)) {
		o = p->bump;
		p->bump += p->stride;
	} else {
		o = NULL;
	}
	if (!o) {
		p->priv->failures++;
		return NULL;
	}
	mo__pool_count_alloc(p, o);
	if (p->live > p->peak_live)
		p->peak_live = p->live;
	return o;
}

/* Debug: ptr (in chunk c) has not been carved since the last reset. */
static bool never_allocated(const mo_pool_t *p, const mo__pool_chunk_t *c,
			    const void *ptr)
{
	const struct mo__pool_priv *v = p->priv;
	size_t ci = (size_t)(c - v->chunks);

	if (ci + 1 > v->cur)
		return true;
	return ci + 1 == v->cur && (const char *)ptr >= v->dbump;
}

void mo__pool_free_slow(mo_pool_t *p, void *ptr)
{
	struct mo__pool_priv *v = p->priv;
	mo__pool_chunk_t *c;
	size_t off;

	if (!ptr)
		return;
	if (!p->debug) { /* the stack is full: more frees than objects */
		misuse(p, "free of %p, with every object already free", ptr, 0);
		return;
	}
	c = chunk_of(p, ptr);
	if (!c) {
		misuse(p, "free of foreign pointer %p", ptr, 0);
		return;
	}
	off = (size_t)((char *)ptr - c->base);
	if (off % p->stride) {
		misuse(p, "free of %p, %zu bytes into an object", ptr,
		       off % p->stride);
		return;
	}
	if (!bit_test(c, off / p->stride)) {
		if (never_allocated(p, c, ptr))
			misuse(p, "free of %p, which is not allocated", ptr, 0);
		else
			misuse(p, "double free of %p", ptr, 0);
		return;
	}
	bit_flip(c, off / p->stride);
	memset(ptr, MO_POOL_POISON, p->stride);
	*(void **)ptr = v->dfree;
	v->dfree = ptr;
	p->live--;
	p->frees++;
	MO_ALLOC_HOOK(free, p, ptr, p->obj_size);
}

void mo_pool_reset(mo_pool_t *p)
{
	struct mo__pool_priv *v = p->priv;

	p->top = 0;
	p->bump = p->bump_end = NULL;
	v->dfree = NULL;
	v->dbump = v->dbump_end = NULL;
	v->cur = 0;
	if (p->debug) {
		for (size_t i = 0; i < v->nchunks; i++) {
			mo__pool_chunk_t *c = &v->chunks[i];
			memset(c->base, MO_POOL_POISON, c->nobj * p->stride);
			memset(c->bits, 0, (c->nobj + 63) / 64 * 8);
		}
	}
	if (v->nchunks)
		carve_from(p, 0);
	v->dropped += p->live;
	p->live = 0;
	v->resets++;
	MO_ALLOC_HOOK(reset, p);
}
