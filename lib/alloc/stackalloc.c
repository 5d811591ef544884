/*
 * Stack (LIFO) allocator: one region, a header per allocation holding the
 * previous top, frees of the most recent allocation only, markers.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memopt/stackalloc.h>

#ifndef MO_ALLOC_DEBUG_ALL
#define MO_ALLOC_DEBUG_ALL 0
#endif

#define MO__STACK_MAGIC 0x6d6f737461636b21ull /* "mostack!" */

typedef struct mo__stack_hdr {
	size_t prev_top;
	void *prev_last;
	size_t size;
	uint64_t magic;
} mo__stack_hdr_t;

_Static_assert(sizeof(mo__stack_hdr_t) == MO_STACK_HEADER, "header size");

struct mo_stack {
	char *base;
	size_t cap, top;
	void *last; /* most recent live allocation */
	uint64_t in_use, peak, live, allocs, frees, failures, resets, gen;
	size_t align;
	int mapped, debug;
	char *name;
};

int mo_stack_create(mo_stack_t **out, const mo_stack_opts_t *o)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	mo_stack_t *s;
	int err = -EINVAL;

	if (!out || !o || !o->buffer == !o->size ||
	    (o->buffer && !o->buffer_size) ||
	    (o->align && !mo_is_pow2(o->align)))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->align = o->align ? o->align : 16;
	s->debug = MO_ALLOC_DEBUG_ALL || (o->flags & MO_ALLOC_DEBUG);
	if (o->buffer) {
		s->base = o->buffer;
		s->cap = o->buffer_size;
	} else {
		if (mo_size_align(o->size, ps, &s->cap))
			goto fail;
		err = -ENOMEM;
		s->base = mmap(NULL, s->cap, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (s->base == MAP_FAILED)
			goto fail;
		s->mapped = 1;
	}
	err = -ENOMEM;
	if (o->name && !(s->name = strdup(o->name)))
		goto fail;
	*out = s;
	MO_ALLOC_HOOK(created, s, "stack", s->name);
	return 0;
fail:
	if (s->mapped)
		munmap(s->base, s->cap);
	free(s);
	return err;
}

void mo_stack_destroy(mo_stack_t *s)
{
	if (!s)
		return;
	MO_ALLOC_HOOK(destroyed, s);
	if (s->mapped)
		munmap(s->base, s->cap);
	free(s->name);
	free(s);
}

void *mo_stack_alloc_aligned(mo_stack_t *s, size_t size, size_t align)
{
	uintptr_t start = (uintptr_t)s->base + s->top;
	size_t p, off;
	mo__stack_hdr_t *h;

	if (align < 8)
		align = 8;
	if (!mo_is_pow2(align) ||
	    mo_size_align(start + MO_STACK_HEADER, align, &p)) {
		s->failures++;
		return NULL;
	}
	off = p - (uintptr_t)s->base;
	if (off > s->cap || size > s->cap - off) {
		s->failures++;
		return NULL;
	}
	h = (mo__stack_hdr_t *)(p - MO_STACK_HEADER);
	h->prev_top = s->top;
	h->prev_last = s->last;
	h->size = size;
	h->magic = MO__STACK_MAGIC;
	s->top = off + size;
	s->last = (void *)p;
	s->in_use += size;
	if (s->in_use > s->peak)
		s->peak = s->in_use;
	s->live++;
	s->allocs++;
	MO_ALLOC_HOOK(alloc, s, (void *)p, size, s->top - h->prev_top);
	return (void *)p;
}

void *mo_stack_alloc(mo_stack_t *s, size_t size)
{
	return mo_stack_alloc_aligned(s, size, s->align);
}

static void poison(const mo_stack_t *s, size_t from, size_t to)
{
	if (s->debug && to > from)
		memset(s->base + from, MO_STACK_POISON, to - from);
}

static void misuse(const mo_stack_t *s, const char *fmt, const void *p,
		   const void *q)
{
	char msg[128];

	snprintf(msg, sizeof(msg), fmt, p, q);
	mo_alloc_misuse("stack", s->name, msg);
}

void mo_stack_free(mo_stack_t *s, void *p)
{
	char *c = p;
	mo__stack_hdr_t *h;
	size_t top;

	if (!p)
		return;
	if (c < s->base + MO_STACK_HEADER || c > s->base + s->cap) {
		misuse(s, "free of %p, not from this stack", p, NULL);
		return;
	}
	if (p != s->last && c >= s->base + s->top) {
		misuse(s, "free of %p, already freed", p, NULL);
		return;
	}
	if (p != s->last) {
		misuse(s, "free of %p out of order (the most recent is %p)", p,
		       s->last);
		return;
	}
	h = (mo__stack_hdr_t *)(c - MO_STACK_HEADER);
	if (h->magic != MO__STACK_MAGIC) {
		misuse(s, "free of %p: header overwritten", p, NULL);
		return;
	}
	s->in_use -= h->size;
	s->live--;
	s->frees++;
	s->last = h->prev_last;
	MO_ALLOC_HOOK(free, s, p, h->size);
	top = h->prev_top;
	h->magic = 0;
	poison(s, top, s->top);
	s->top = top;
}

mo_stack_marker_t mo_stack_get_marker(const mo_stack_t *s)
{
	mo_stack_marker_t m = {
		.stack = s,
		.top = s->top,
		.last = s->last,
		.in_use = s->in_use,
		.live = s->live,
		.gen = s->gen,
	};
	return m;
}

void mo_stack_free_to_marker(mo_stack_t *s, mo_stack_marker_t m)
{
	if (m.stack != s) {
		mo_alloc_misuse("stack", s->name,
				"free to a marker of another stack");
		return;
	}
	if (m.gen != s->gen) {
		mo_alloc_misuse("stack", s->name,
				"free to a marker taken before a reset");
		return;
	}
	if (m.top > s->top) {
		mo_alloc_misuse("stack", s->name,
				"free to a marker above the top (already "
				"freed)");
		return;
	}
	poison(s, m.top, s->top);
	s->top = m.top;
	s->last = m.last;
	s->in_use = m.in_use;
	s->live = m.live;
	s->resets++;
	MO_ALLOC_HOOK(rewind, s, s->in_use, s->top, s->live);
}

void mo_stack_reset(mo_stack_t *s)
{
	poison(s, 0, s->top);
	s->top = 0;
	s->last = NULL;
	s->in_use = 0;
	s->live = 0;
	s->gen++;
	s->resets++;
	MO_ALLOC_HOOK(reset, s);
}

void mo_stack_stats(const mo_stack_t *s, mo_alloc_stats_t *st)
{
	memset(st, 0, sizeof(*st));
	st->in_use = s->in_use;
	st->peak = s->peak;
	st->capacity = s->cap;
	st->internal_frag = s->top - s->in_use;
	st->live = s->live;
	st->allocs = s->allocs;
	st->frees = s->frees;
	st->failures = s->failures;
	st->resets = s->resets;
}
