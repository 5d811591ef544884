/*
 * Circular buffer: head and len index a power-of-two array.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/cbuf.h>

struct mo_cbuf {
	char *slots;
	size_t elem_size;
	size_t mask; /* capacity - 1 */
	size_t head; /* index of the front element */
	size_t len;
	mo_cbuf_policy_t policy;
	int debug;
	uint64_t overwritten;
	char *name;
	mo_alloc_stats_t stats;
};

static void set_bytes(mo_cbuf_t *b)
{
	b->stats.in_use = (uint64_t)b->len * b->elem_size;
	if (b->stats.in_use > b->stats.peak)
		b->stats.peak = b->stats.in_use;
}

int mo_cbuf_create(mo_cbuf_t **out, const mo_cbuf_opts_t *o)
{
	size_t cap = 1, bytes;
	mo_cbuf_t *b;

	*out = NULL;
	if (!o->elem_size || !o->capacity ||
	    (o->policy != MO_CBUF_REJECT && o->policy != MO_CBUF_OVERWRITE))
		return -EINVAL;
	while (cap < o->capacity) {
		if (cap > SIZE_MAX / 2)
			return -EOVERFLOW;
		cap *= 2;
	}
	if (mo_size_mul(cap, o->elem_size, &bytes) || bytes > PTRDIFF_MAX)
		return -EOVERFLOW;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->slots = malloc(bytes ? bytes : 1);
	if (!b->slots || (o->name && !(b->name = strdup(o->name)))) {
		free(b->slots);
		free(b);
		return -ENOMEM;
	}
	b->elem_size = o->elem_size;
	b->mask = cap - 1;
	b->policy = o->policy;
#if defined(MO_ALLOC_DEBUG_ALL) && MO_ALLOC_DEBUG_ALL
	b->debug = 1;
#else
	b->debug = !!(o->flags & MO_ALLOC_DEBUG);
#endif
	b->stats.capacity = bytes;
	b->stats.live = 1;
	b->stats.allocs = 1;
	MO_ALLOC_HOOK(created, b, "cbuf", b->name);
	MO_ALLOC_HOOK(alloc, b, b->slots, bytes, bytes);
	*out = b;
	return 0;
}

void mo_cbuf_destroy(mo_cbuf_t *b)
{
	if (!b)
		return;
	MO_ALLOC_HOOK(free, b, b->slots, (size_t)b->stats.capacity);
	MO_ALLOC_HOOK(destroyed, b);
	free(b->slots);
	free(b->name);
	free(b);
}

static char *slot(const mo_cbuf_t *b, size_t i)
{
	return b->slots + ((b->head + i) & b->mask) * b->elem_size;
}

static void poison(const mo_cbuf_t *b, char *p)
{
	if (b->debug)
		memset(p, 0xdd, b->elem_size);
}

/* Room for one more element: 0, 1 (after dropping the other end) or
 * -ENOBUFS. */
static int room(mo_cbuf_t *b, int at_back)
{
	if (b->len <= b->mask)
		return 0;
	if (b->policy == MO_CBUF_REJECT) {
		b->stats.failures++;
		return -ENOBUFS;
	}
	if (at_back)
		b->head = (b->head + 1) & b->mask;
	b->len--;
	b->overwritten++;
	return 1;
}

int mo_cbuf_push_back(mo_cbuf_t *b, const void *elem)
{
	int rc = room(b, 1);

	if (rc < 0)
		return rc;
	memcpy(slot(b, b->len), elem, b->elem_size);
	b->len++;
	set_bytes(b);
	return rc;
}

int mo_cbuf_push_front(mo_cbuf_t *b, const void *elem)
{
	int rc = room(b, 0);

	if (rc < 0)
		return rc;
	b->head = (b->head - 1) & b->mask;
	memcpy(slot(b, 0), elem, b->elem_size);
	b->len++;
	set_bytes(b);
	return rc;
}

int mo_cbuf_pop_front(mo_cbuf_t *b, void *out)
{
	char *p;

	if (!b->len)
		return -ENOENT;
	p = slot(b, 0);
	if (out)
		memcpy(out, p, b->elem_size);
	poison(b, p);
	b->head = (b->head + 1) & b->mask;
	b->len--;
	set_bytes(b);
	return 0;
}

int mo_cbuf_pop_back(mo_cbuf_t *b, void *out)
{
	char *p;

	if (!b->len)
		return -ENOENT;
	p = slot(b, b->len - 1);
	if (out)
		memcpy(out, p, b->elem_size);
	poison(b, p);
	b->len--;
	set_bytes(b);
	return 0;
}

void *mo_cbuf_peek_front(const mo_cbuf_t *b)
{
	return b->len ? slot(b, 0) : NULL;
}

void *mo_cbuf_peek_back(const mo_cbuf_t *b)
{
	return b->len ? slot(b, b->len - 1) : NULL;
}

void *mo_cbuf_at(const mo_cbuf_t *b, size_t i)
{
	return i < b->len ? slot(b, i) : NULL;
}

size_t mo_cbuf_len(const mo_cbuf_t *b)
{
	return b->len;
}

size_t mo_cbuf_capacity(const mo_cbuf_t *b)
{
	return b->mask + 1;
}

uint64_t mo_cbuf_overwritten(const mo_cbuf_t *b)
{
	return b->overwritten;
}

void mo_cbuf_clear(mo_cbuf_t *b)
{
	b->head = 0;
	b->len = 0;
	b->stats.resets++;
	set_bytes(b);
	MO_ALLOC_HOOK(reset, b);
}

void mo_cbuf_stats(const mo_cbuf_t *b, mo_alloc_stats_t *out)
{
	*out = b->stats;
	out->internal_frag = out->capacity - out->in_use;
}
