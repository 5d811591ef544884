/*
 * Slab cache (memopt/slab.h).  A slab is a block of slab_bytes (a power of
 * two) aligned on its size: its header sits at the start, so the slab of an
 * object is the object's address rounded down.  Each slab has its own free
 * list of constructed objects and carves never-used objects lazily (running
 * the constructor then).  Slabs live on one of three lists: full, partial,
 * empty.  The debug mode also keeps the slabs sorted by address, so that
 * a foreign pointer is recognised without reading the memory around it.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <memopt/slab.h>

#ifndef MO_ALLOC_DEBUG_ALL
#define MO_ALLOC_DEBUG_ALL 0
#endif

#define MO_SLAB_POISON 0xDB
#define MO_SLAB_MMAP_MIN ((size_t)64 << 10)
#define MO_SLAB_COLOUR_STEP 64

enum { L_EMPTY, L_PARTIAL, L_FULL, L_COUNT };

typedef struct mo__slab {
	struct mo__slab *prev, *next;
	void *free;   /* free, constructed objects */
	char *objs;   /* first object */
	size_t inuse; /* live objects */
	size_t carved;
	int list;
	uint64_t bits[]; /* allocated bit per object (debug mode) */
} mo__slab_t;

struct mo_slab {
	char *name;
	size_t obj_size, stride, align;
	size_t link; /* offset of the free-list word in a free object */
	size_t n;    /* objects per slab */
	size_t slab_bytes;
	size_t hdr;	/* offset of the first object without colour */
	size_t colours; /* >= 1 */
	size_t next_colour;
	unsigned flags;
	bool debug, poison;
	mo_slab_fn ctor, dtor;
	void *arg;
	mo__slab_t *lists[L_COUNT];
	size_t count[L_COUNT];
	mo__slab_t **sorted; /* debug: slabs by address */
	size_t nsorted, cap_sorted;
	uint64_t live, peak_live, allocs, frees, failures, resets;
	uint64_t ctor_calls, dtor_calls;
};

static size_t bits_bytes(size_t n)
{
	return (n + 63) / 64 * sizeof(uint64_t);
}

static size_t header_bytes(size_t n, size_t align)
{
	size_t h = sizeof(mo__slab_t) + bits_bytes(n);
	return (h + align - 1) & ~(align - 1);
}

/* Chooses n and slab_bytes; -EOVERFLOW if they do not fit. */
static int geometry(mo_slab_t *c, size_t want)
{
	size_t bytes = 4096;

	for (;;) {
		size_t n = want, need;
		if (!n) {
			/* objects that fit, with a header sized for them */
			size_t guess = bytes / c->stride;
			size_t h = header_bytes(guess, c->align);
			n = bytes > h ? (bytes - h) / c->stride : 0;
		}
		if (n && !mo_size_mul(n, c->stride, &need) &&
		    !mo_size_add(need, header_bytes(n, c->align), &need) &&
		    need <= bytes && (want || n >= 8)) {
			c->n = n;
			c->slab_bytes = bytes;
			c->hdr = header_bytes(n, c->align);
			return 0;
		}
		if (bytes > SIZE_MAX / 4)
			return -EOVERFLOW;
		bytes *= 2;
	}
}

int mo_slab_create(mo_slab_t **out, const mo_slab_opts_t *o)
{
	mo_slab_t *c;
	size_t align;
	int rc;

	if (!out || !o || o->obj_size == 0)
		return -EINVAL;
	align = o->align ? o->align : (o->obj_size >= 16 ? 16 : 8);
	if (!mo_is_pow2(align) || align > MO_SLAB_MAX_ALIGN)
		return -EINVAL;
	if (align < sizeof(void *))
		align = sizeof(void *);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->align = align;
	c->obj_size = o->obj_size;
	/* With a constructor, free objects keep their constructed state:
	 * the free-list word goes after the object (as in SLUB). */
	rc = 0;
	if (o->ctor)
		rc = mo_size_align(o->obj_size, sizeof(void *), &c->link);
	if (!rc)
		rc = mo_size_add(c->link, o->ctor ? sizeof(void *) : 1,
				 &c->stride);
	if (!rc)
		rc = mo_size_align(c->stride > o->obj_size ? c->stride
							   : o->obj_size,
				   align, &c->stride);
	if (!rc)
		rc = geometry(c, o->slab_objs);
	if (rc) {
		free(c);
		return rc;
	}
	if (o->name && !(c->name = strdup(o->name))) {
		free(c);
		return -ENOMEM;
	}
	c->flags = o->flags | (MO_ALLOC_DEBUG_ALL ? MO_ALLOC_DEBUG : 0);
	c->debug = !!(c->flags & MO_ALLOC_DEBUG);
	c->poison = c->debug && !o->ctor; /* constructed objects keep state */
	c->ctor = o->ctor;
	c->dtor = o->dtor;
	c->arg = o->arg;
	c->colours = 1;
	if (c->flags & MO_SLAB_COLOUR) {
		size_t step = align > MO_SLAB_COLOUR_STEP ? align
							  : MO_SLAB_COLOUR_STEP;
		size_t left = c->slab_bytes - c->hdr - c->n * c->stride;
		c->colours = left / step + 1;
	}
	*out = c;
	MO_ALLOC_HOOK(created, c, "slab", c->name);
	return 0;
}

const char *mo_slab_name(const mo_slab_t *c)
{
	return c->name;
}

/* --- lists ---------------------------------------------------------------- */

static void list_del(mo_slab_t *c, mo__slab_t *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->lists[s->list] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	c->count[s->list]--;
}

static void list_add(mo_slab_t *c, mo__slab_t *s, int list)
{
	s->list = list;
	s->prev = NULL;
	s->next = c->lists[list];
	if (s->next)
		s->next->prev = s;
	c->lists[list] = s;
	c->count[list]++;
}

static void list_move(mo_slab_t *c, mo__slab_t *s, int list)
{
	list_del(c, s);
	list_add(c, s, list);
}

/* --- slab memory ------------------------------------------------------------
 */

static void *block_get(size_t bytes)
{
	void *m = NULL;

	if (bytes < MO_SLAB_MMAP_MIN)
		return posix_memalign(&m, bytes, bytes) ? NULL : m;
	/* map twice the size and trim to an aligned block */
	char *r = mmap(NULL, 2 * bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	uintptr_t a = ((uintptr_t)r + bytes - 1) & ~(uintptr_t)(bytes - 1);
	size_t head = a - (uintptr_t)r;
	if (head)
		munmap(r, head);
	munmap((char *)a + bytes, bytes - head);
	return (void *)a;
}

static void block_put(void *m, size_t bytes)
{
	if (bytes < MO_SLAB_MMAP_MIN)
		free(m);
	else
		munmap(m, bytes);
}

static size_t sorted_find(const mo_slab_t *c, const void *p, bool *found)
{
	size_t lo = 0, hi = c->nsorted;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *b = (const char *)c->sorted[mid];
		if ((const char *)p < b) {
			hi = mid;
		} else if ((const char *)p >= b + c->slab_bytes) {
			lo = mid + 1;
		} else {
			*found = true;
			return mid;
		}
	}
	*found = false;
	return lo;
}

static int sorted_insert(mo_slab_t *c, mo__slab_t *s)
{
	bool found;
	size_t i;

	if (c->nsorted == c->cap_sorted) {
		size_t cap = c->cap_sorted ? 2 * c->cap_sorted : 16;
		mo__slab_t **a = realloc(c->sorted, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		c->sorted = a;
		c->cap_sorted = cap;
	}
	i = sorted_find(c, s, &found);
	memmove(c->sorted + i + 1, c->sorted + i,
		(c->nsorted - i) * sizeof(*c->sorted));
	c->sorted[i] = s;
	c->nsorted++;
	return 0;
}

static void sorted_remove(mo_slab_t *c, mo__slab_t *s)
{
	bool found;
	size_t i = sorted_find(c, s, &found);

	if (!found)
		return;
	memmove(c->sorted + i, c->sorted + i + 1,
		(c->nsorted - i - 1) * sizeof(*c->sorted));
	c->nsorted--;
}

/* A new empty slab on the empty list, or NULL. */
static mo__slab_t *slab_new(mo_slab_t *c)
{
	mo__slab_t *s = block_get(c->slab_bytes);
	size_t colour;

	if (!s)
		return NULL;
	if (c->debug && sorted_insert(c, s)) {
		block_put(s, c->slab_bytes);
		return NULL;
	}
	memset(s, 0, sizeof(*s) + bits_bytes(c->n));
	colour = c->next_colour;
	c->next_colour = (colour + 1) % c->colours;
	s->objs =
		(char *)s + c->hdr +
		colour * (c->align > MO_SLAB_COLOUR_STEP ? c->align
							 : MO_SLAB_COLOUR_STEP);
	if (c->poison)
		memset(s->objs, MO_SLAB_POISON, c->n * c->stride);
	list_add(c, s, L_EMPTY);
	return s;
}

/* Runs the destructor on the slab's constructed objects. */
static void slab_destruct(mo_slab_t *c, mo__slab_t *s)
{
	if (!c->dtor)
		return;
	for (size_t i = 0; i < s->carved; i++)
		c->dtor(s->objs + i * c->stride, c->arg);
	c->dtor_calls += s->carved;
}

static void slab_release(mo_slab_t *c, mo__slab_t *s)
{
	slab_destruct(c, s);
	list_del(c, s);
	if (c->debug)
		sorted_remove(c, s);
	block_put(s, c->slab_bytes);
}

void mo_slab_destroy(mo_slab_t *c)
{
	if (!c)
		return;
	MO_ALLOC_HOOK(destroyed, c);
	for (int l = 0; l < L_COUNT; l++)
		while (c->lists[l])
			slab_release(c, c->lists[l]);
	free(c->sorted);
	free(c->name);
	free(c);
}

size_t mo_slab_shrink(mo_slab_t *c)
{
	size_t n = 0;

	while (c->lists[L_EMPTY]) {
		slab_release(c, c->lists[L_EMPTY]);
		n++;
	}
	return n;
}

void mo_slab_reset(mo_slab_t *c)
{
	for (int l = L_PARTIAL; l < L_COUNT; l++)
		while (c->lists[l])
			list_move(c, c->lists[l], L_EMPTY);
	for (mo__slab_t *s = c->lists[L_EMPTY]; s; s = s->next) {
		slab_destruct(c, s);
		s->carved = 0;
		s->inuse = 0;
		s->free = NULL;
		memset(s->bits, 0, bits_bytes(c->n));
		if (c->poison)
			memset(s->objs, MO_SLAB_POISON, c->n * c->stride);
	}
	c->live = 0;
	c->resets++;
	MO_ALLOC_HOOK(reset, c);
}

/* --- alloc and free ---------------------------------------------------------
 */

static void misuse(const mo_slab_t *c, const char *fmt, const void *p, size_t n)
{
	char what[128];

	snprintf(what, sizeof(what), fmt, p, n);
	mo_alloc_misuse("slab", c->name, what);
}

static void bit_flip(mo__slab_t *s, size_t i)
{
	s->bits[i / 64] ^= (uint64_t)1 << (i % 64);
}

static bool bit_test(const mo__slab_t *s, size_t i)
{
	return (s->bits[i / 64] >> (i % 64)) & 1;
}

/* Debug: the slab holding p, or NULL. */
static mo__slab_t *slab_lookup(const mo_slab_t *c, const void *p)
{
	bool found;
	size_t i = sorted_find(c, p, &found);

	return found ? c->sorted[i] : NULL;
}

static void check_poison(const mo_slab_t *c, const unsigned char *o)
{
	for (size_t i = sizeof(void *); i < c->stride; i++) {
		if (o[i] != MO_SLAB_POISON) {
			misuse(c, "object %p modified after free (byte %zu)", o,
			       i);
			return;
		}
	}
}

/* Takes an object from s (which has one). */
static void **link_of(const mo_slab_t *c, void *o)
{
	return (void **)((char *)o + c->link);
}

static void *slab_take(mo_slab_t *c, mo__slab_t *s)
{
	void *o = s->free;

	if (o) {
		if (c->poison)
			check_poison(c, (unsigned char *)o);
		s->free = *link_of(c, o);
		if (c->poison)
			memset(o, MO_SLAB_POISON, sizeof(void *));
	} else {
		o = s->objs + s->carved++ * c->stride;
		if (c->ctor) {
			c->ctor(o, c->arg);
			c->ctor_calls++;
		}
	}
	if (c->debug)
		bit_flip(s, (size_t)((char *)o - s->objs) / c->stride);
	if (++s->inuse == c->n)
		list_move(c, s, L_FULL);
	else if (s->list == L_EMPTY)
		list_move(c, s, L_PARTIAL);
	return o;
}

void *mo_slab_alloc(mo_slab_t *c)
{
	mo__slab_t *s = c->lists[L_PARTIAL];
	void *o;

	if (!s)
		s = c->lists[L_EMPTY];
	if (!s && !(s = slab_new(c))) {
		c->failures++;
		return NULL;
	}
	o = slab_take(c, s);
	c->allocs++;
	if (++c->live > c->peak_live)
		c->peak_live = c->live;
	MO_ALLOC_HOOK(alloc, c, o, c->obj_size, c->stride);
	return o;
}

/* Debug: reports a bad free and returns false. */
static bool debug_check_free(mo_slab_t *c, mo__slab_t *s, void *p)
{
	size_t off;

	if (!s || (char *)p < s->objs ||
	    (char *)p >= s->objs + c->n * c->stride) {
		misuse(c, "free of foreign pointer %p", p, 0);
		return false;
	}
	off = (size_t)((char *)p - s->objs);
	if (off % c->stride) {
		misuse(c, "free of %p, %zu bytes into an object", p,
		       off % c->stride);
		return false;
	}
	if (off / c->stride >= s->carved) {
		misuse(c, "free of %p, which is not allocated", p, 0);
		return false;
	}
	if (!bit_test(s, off / c->stride)) {
		misuse(c, "double free of %p", p, 0);
		return false;
	}
	bit_flip(s, off / c->stride);
	return true;
}

void mo_slab_free(mo_slab_t *c, void *p)
{
	mo__slab_t *s;

	if (!p)
		return;
	if (c->debug) {
		s = slab_lookup(c, p);
		if (!debug_check_free(c, s, p))
			return;
		if (c->poison)
			memset(p, MO_SLAB_POISON, c->stride);
	} else {
		s = (mo__slab_t *)((uintptr_t)p &
				   ~(uintptr_t)(c->slab_bytes - 1));
	}
	*link_of(c, p) = s->free;
	s->free = p;
	if (s->inuse-- == c->n)
		list_move(c, s, s->inuse ? L_PARTIAL : L_EMPTY);
	else if (s->inuse == 0)
		list_move(c, s, L_EMPTY);
	c->live--;
	c->frees++;
	MO_ALLOC_HOOK(free, c, p, c->obj_size);
}

/* --- statistics -------------------------------------------------------------
 */

void mo_slab_stats(const mo_slab_t *c, mo_alloc_stats_t *st)
{
	size_t slabs =
		c->count[L_EMPTY] + c->count[L_PARTIAL] + c->count[L_FULL];

	memset(st, 0, sizeof(*st));
	st->live = c->live;
	st->in_use = c->live * c->obj_size;
	st->peak = c->peak_live * c->obj_size;
	st->capacity = (uint64_t)slabs * c->slab_bytes;
	st->internal_frag = c->live * (c->stride - c->obj_size);
	st->allocs = c->allocs;
	st->frees = c->frees;
	st->failures = c->failures;
	st->resets = c->resets;
}

void mo_slab_info(const mo_slab_t *c, mo_slab_info_t *in)
{
	memset(in, 0, sizeof(*in));
	in->objs_per_slab = c->n;
	in->slab_bytes = c->slab_bytes;
	in->stride = c->stride;
	in->colours = c->colours;
	in->empty = c->count[L_EMPTY];
	in->partial = c->count[L_PARTIAL];
	in->full = c->count[L_FULL];
	in->slabs = in->empty + in->partial + in->full;
	in->ctor_calls = c->ctor_calls;
	in->dtor_calls = c->dtor_calls;
}
