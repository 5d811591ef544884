/*
 * Small vector: inline storage first, then a heap block (mo_aligned_*)
 * that doubles.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/aligned.h>
#include <memopt/smallvec.h>

#define MIN_HEAP_CAP 4u

/* From aligned.c: mo_aligned_* without their own profiler reports (the
 * vector reports its blocks under its own instance). */
void *mo__aligned_alloc_quiet(size_t size, size_t align);
void *mo__aligned_realloc_quiet(void *p, size_t size, size_t align);
void mo__aligned_free_quiet(void *p);

/* Debug mode: fills n vacated elements from index i with 0xdd. */
static void poison(const mo_svec_t *v, size_t i, size_t n)
{
#if !(defined(MO_ALLOC_DEBUG_ALL) && MO_ALLOC_DEBUG_ALL)
	if (!(v->flags & MO_ALLOC_DEBUG))
		return;
#endif
	if (n)
		memset(v->data + i * v->elem_size, 0xdd, n * v->elem_size);
}

static void set_bytes(mo_svec_t *v)
{
	v->stats.in_use = (uint64_t)v->len * v->elem_size;
	v->stats.capacity = (uint64_t)v->cap * v->elem_size;
	if (v->stats.in_use > v->stats.peak)
		v->stats.peak = v->stats.in_use;
}

int mo_svec_init(mo_svec_t *v, const mo_svec_opts_t *o)
{
	size_t align = o->elem_align ? o->elem_align : 16, bytes;

	memset(v, 0, sizeof(*v));
	if (!o->elem_size || !mo_is_pow2(align) || align > MO_ALIGNED_MAX ||
	    (o->inline_cap && !o->inline_buf))
		return -EINVAL;
	if (mo_size_mul(o->inline_cap, o->elem_size, &bytes))
		return -EOVERFLOW;
	if (o->name && !(v->name = strdup(o->name)))
		return -ENOMEM;
	v->elem_size = o->elem_size;
	v->elem_align = align;
	v->inline_buf = o->inline_cap ? o->inline_buf : NULL;
	v->inline_cap = o->inline_cap;
	v->data = v->inline_buf;
	v->cap = v->inline_cap;
	v->flags = o->flags;
	set_bytes(v);
	MO_ALLOC_HOOK(created, v, "svec", v->name);
	return 0;
}

static void free_heap(mo_svec_t *v)
{
	if (!mo_svec_spilled(v))
		return;
	MO_ALLOC_HOOK(free, v, v->data, v->cap * v->elem_size);
	mo__aligned_free_quiet(v->data);
	v->stats.live--;
	v->stats.frees++;
}

void mo_svec_destroy(mo_svec_t *v)
{
	free_heap(v);
	MO_ALLOC_HOOK(destroyed, v);
	free(v->name);
	memset(v, 0, sizeof(*v));
}

void mo_svec_clear(mo_svec_t *v)
{
	poison(v, 0, v->len);
	v->len = 0;
	v->stats.resets++;
	set_bytes(v);
	MO_ALLOC_HOOK(reset, v);
}

/* Moves the elements to a heap block of exactly cap elements. */
static int move_to_heap(mo_svec_t *v, size_t cap)
{
	size_t bytes;
	char *p;

	if (mo_size_mul(cap, v->elem_size, &bytes)) {
		v->stats.failures++;
		return -EOVERFLOW;
	}
	if (mo_svec_spilled(v))
		p = mo__aligned_realloc_quiet(v->data, bytes, v->elem_align);
	else
		p = mo__aligned_alloc_quiet(bytes, v->elem_align);
	if (!p) {
		v->stats.failures++;
		return errno == ENOMEM && bytes > PTRDIFF_MAX ? -EOVERFLOW
							      : -ENOMEM;
	}
	if (mo_svec_spilled(v)) {
		MO_ALLOC_HOOK(free, v, v->data, v->cap * v->elem_size);
		v->stats.frees++;
	} else {
		if (v->len)
			memcpy(p, v->data, v->len * v->elem_size);
		v->stats.live++;
	}
	v->stats.allocs++;
	MO_ALLOC_HOOK(alloc, v, p, bytes, bytes);
	v->data = p;
	v->cap = cap;
	set_bytes(v);
	return 0;
}

int mo_svec_reserve(mo_svec_t *v, size_t n)
{
	size_t cap;

	if (n <= v->cap)
		return 0;
	if (mo_size_mul(v->cap, 2, &cap))
		cap = n;
	if (cap < n)
		cap = n;
	if (cap < MIN_HEAP_CAP)
		cap = MIN_HEAP_CAP;
	return move_to_heap(v, cap);
}

int mo_svec_shrink(mo_svec_t *v)
{
	char *heap = v->data;

	if (!mo_svec_spilled(v) || v->len == v->cap)
		return 0;
	if (v->len > v->inline_cap)
		return move_to_heap(v, v->len);
	if (v->len)
		memcpy(v->inline_buf, heap, v->len * v->elem_size);
	free_heap(v);
	v->data = v->inline_buf;
	v->cap = v->inline_cap;
	set_bytes(v);
	return 0;
}

/* Makes room for one more element. */
static int grow1(mo_svec_t *v)
{
	size_t n;

	if (v->len < v->cap)
		return 0;
	if (mo_size_add(v->len, 1, &n)) {
		v->stats.failures++;
		return -EOVERFLOW;
	}
	return mo_svec_reserve(v, n);
}

static void put(mo_svec_t *v, size_t i, const void *elem)
{
	if (elem)
		memmove(v->data + i * v->elem_size, elem, v->elem_size);
	else
		memset(v->data + i * v->elem_size, 0, v->elem_size);
}

/* Makes room for one more element; *elem, if it points into the vector,
 * is redirected to where its element moved. */
static int grow1_keep(mo_svec_t *v, const void **elem)
{
	const char *e = *elem;
	size_t ofs = 0;
	int inside = e && e >= v->data && e < v->data + v->len * v->elem_size;
	int rc;

	if (inside)
		ofs = (size_t)(e - v->data);
	rc = grow1(v);
	if (!rc && inside)
		*elem = v->data + ofs;
	return rc;
}

int mo_svec_push(mo_svec_t *v, const void *elem)
{
	int rc = grow1_keep(v, &elem);

	if (rc)
		return rc;
	put(v, v->len++, elem);
	set_bytes(v);
	return 0;
}

int mo_svec_pop(mo_svec_t *v, void *out)
{
	if (!v->len)
		return -ENOENT;
	v->len--;
	if (out)
		memcpy(out, v->data + v->len * v->elem_size, v->elem_size);
	poison(v, v->len, 1);
	set_bytes(v);
	return 0;
}

int mo_svec_insert(mo_svec_t *v, size_t i, const void *elem)
{
	size_t es = v->elem_size;
	char tmp[64], *copy = NULL;
	int rc;

	if (i > v->len)
		return -ERANGE;
	rc = grow1_keep(v, &elem);
	if (rc)
		return rc;
	/* The shift below may overwrite an element elem points to. */
	if (elem && (const char *)elem >= v->data &&
	    (const char *)elem < v->data + v->len * es) {
		copy = es <= sizeof(tmp) ? tmp : malloc(es);
		if (!copy) {
			v->stats.failures++;
			return -ENOMEM;
		}
		memcpy(copy, elem, es);
		elem = copy;
	}
	memmove(v->data + (i + 1) * es, v->data + i * es, (v->len - i) * es);
	put(v, i, elem);
	v->len++;
	set_bytes(v);
	if (copy && copy != tmp)
		free(copy);
	return 0;
}

int mo_svec_erase(mo_svec_t *v, size_t i, void *out)
{
	size_t es = v->elem_size;

	if (i >= v->len)
		return -ERANGE;
	if (out)
		memcpy(out, v->data + i * es, es);
	memmove(v->data + i * es, v->data + (i + 1) * es,
		(v->len - i - 1) * es);
	v->len--;
	poison(v, v->len, 1);
	set_bytes(v);
	return 0;
}

void mo_svec_stats(const mo_svec_t *v, mo_alloc_stats_t *out)
{
	*out = v->stats;
	out->internal_frag = out->capacity - out->in_use;
}
