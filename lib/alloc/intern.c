/*
 * String interner: strings bump-allocated in chunks; `ents` maps id ->
 * (string, length, hash); `index` is an open-addressing table of id + 1
 * (0 = empty), linear probing, load at most 7/8, never deleted from.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/intern.h>

#define DEFAULT_CHUNK ((size_t)64 << 10)
#define MIN_INDEX 16u

typedef struct chunk {
	struct chunk *next;
	size_t size; /* bytes after the header */
	size_t used;
	char data[];
} chunk_t;

typedef struct ent {
	const char *s;
	size_t len;
	uint64_t hash;
} ent_t;

struct mo_intern {
	chunk_t *chunks; /* newest first */
	size_t chunk_size;
	ent_t *ents;
	size_t n, ents_cap;
	uint32_t *index;
	size_t index_slots;
	int debug;
	char *name;
	mo_intern_info_t info;
	mo_alloc_stats_t stats;
};

static uint64_t hash_str(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* Accounting of the heap blocks the interner holds. */
static void *heap_alloc(mo_intern_t *t, size_t bytes)
{
	void *p = calloc(1, bytes); /* zeroed: the hook may read it */

	if (!p)
		return NULL;
	t->stats.live++;
	t->stats.allocs++;
	MO_ALLOC_HOOK(alloc, t, p, bytes, bytes);
	return p;
}

static void heap_free(mo_intern_t *t, void *p, size_t bytes)
{
	if (!p)
		return;
	MO_ALLOC_HOOK(free, t, p, bytes);
	t->stats.live--;
	t->stats.frees++;
	free(p);
}

static void set_bytes(mo_intern_t *t)
{
	t->info.strings = t->n;
	t->info.bytes_saved = t->info.bytes_naive - t->info.bytes_stored;
	t->info.index_bytes =
		t->ents_cap * sizeof(ent_t) + t->index_slots * sizeof(uint32_t);
	t->stats.in_use = t->info.bytes_stored;
	t->stats.capacity = t->info.chunk_bytes + t->info.index_bytes;
	if (t->stats.in_use > t->stats.peak)
		t->stats.peak = t->stats.in_use;
}

int mo_intern_create(mo_intern_t **out, const mo_intern_opts_t *o)
{
	mo_intern_t *t;

	*out = NULL;
	if (o && o->chunk_size > PTRDIFF_MAX / 2)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (o && o->name && !(t->name = strdup(o->name))) {
		free(t);
		return -ENOMEM;
	}
	t->chunk_size = o && o->chunk_size ? o->chunk_size : DEFAULT_CHUNK;
#if defined(MO_ALLOC_DEBUG_ALL) && MO_ALLOC_DEBUG_ALL
	t->debug = 1;
#else
	t->debug = o && (o->flags & MO_ALLOC_DEBUG);
#endif
	MO_ALLOC_HOOK(created, t, "intern", t->name);
	*out = t;
	return 0;
}

static void free_chunks(mo_intern_t *t, chunk_t *c)
{
	while (c) {
		chunk_t *next = c->next;
		t->info.chunk_bytes -= c->size;
		heap_free(t, c, sizeof(*c) + c->size);
		c = next;
	}
}

void mo_intern_destroy(mo_intern_t *t)
{
	if (!t)
		return;
	free_chunks(t, t->chunks);
	heap_free(t, t->ents, t->ents_cap * sizeof(ent_t));
	heap_free(t, t->index, t->index_slots * sizeof(uint32_t));
	MO_ALLOC_HOOK(destroyed, t);
	free(t->name);
	free(t);
}

/* Slot of (s, len, h) in the index: holding its id + 1, or empty. */
static size_t probe(const mo_intern_t *t, const char *s, size_t len, uint64_t h)
{
	size_t mask = t->index_slots - 1, i = (size_t)h & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t v = t->index[i];
		const ent_t *e;
		if (!v)
			return i;
		e = &t->ents[v - 1];
		if (e->hash == h && e->len == len && !memcmp(e->s, s, len))
			return i;
	}
}

int mo_intern_findn(const mo_intern_t *t, const char *s, size_t len,
		    uint32_t *id)
{
	size_t i;

	if (!t->n || len > PTRDIFF_MAX)
		return -ENOENT;
	i = probe(t, s, len, hash_str(s, len));
	if (!t->index[i])
		return -ENOENT;
	if (id)
		*id = t->index[i] - 1;
	return 0;
}

int mo_intern_find(const mo_intern_t *t, const char *s, uint32_t *id)
{
	return mo_intern_findn(t, s, strlen(s), id);
}

/* Copies len bytes + NUL into the arena; NULL on failure. */
static char *store(mo_intern_t *t, const char *s, size_t len)
{
	chunk_t *c = t->chunks;
	size_t need, size;
	char *p;

	if (mo_size_add(len, 1, &need))
		return NULL;
	if (!c || c->size - c->used < need) {
		size = need > t->chunk_size ? need : t->chunk_size;
		if (size > PTRDIFF_MAX - sizeof(*c))
			return NULL;
		c = heap_alloc(t, sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->used = 0;
		/* A dedicated chunk goes behind the current one. */
		if (size > t->chunk_size && t->chunks) {
			c->next = t->chunks->next;
			t->chunks->next = c;
		} else {
			c->next = t->chunks;
			t->chunks = c;
		}
		t->info.chunk_bytes += size;
	}
	p = c->data + c->used;
	memcpy(p, s, len);
	p[len] = '\0';
	c->used += need;
	return p;
}

static int grow_ents(mo_intern_t *t)
{
	size_t cap = t->ents_cap ? t->ents_cap * 2 : MIN_INDEX, bytes;
	ent_t *e;

	if (cap > UINT32_MAX || mo_size_mul(cap, sizeof(ent_t), &bytes))
		return -EOVERFLOW;
	e = heap_alloc(t, bytes);
	if (!e)
		return -ENOMEM;
	if (t->n)
		memcpy(e, t->ents, t->n * sizeof(ent_t));
	heap_free(t, t->ents, t->ents_cap * sizeof(ent_t));
	t->ents = e;
	t->ents_cap = cap;
	return 0;
}

static int grow_index(mo_intern_t *t)
{
	size_t slots = t->index_slots ? t->index_slots * 2 : MIN_INDEX, bytes;
	size_t i, mask = slots - 1;
	uint32_t *ix;

	if (mo_size_mul(slots, sizeof(uint32_t), &bytes))
		return -EOVERFLOW;
	ix = heap_alloc(t, bytes);
	if (!ix)
		return -ENOMEM;
	memset(ix, 0, bytes);
	for (i = 0; i < t->n; i++) {
		size_t j = (size_t)t->ents[i].hash & mask;
		while (ix[j])
			j = (j + 1) & mask;
		ix[j] = (uint32_t)i + 1;
	}
	heap_free(t, t->index, t->index_slots * sizeof(uint32_t));
	t->index = ix;
	t->index_slots = slots;
	return 0;
}

static int fail(mo_intern_t *t, int rc)
{
	t->stats.failures++;
	set_bytes(t);
	return rc;
}

int mo_intern_addn(mo_intern_t *t, const char *s, size_t len, uint32_t *id)
{
	uint64_t h;
	size_t i;
	char *p;
	int rc;

	if (len > PTRDIFF_MAX - sizeof(chunk_t) - 1)
		return fail(t, -EOVERFLOW);
	h = hash_str(s, len);
	if (t->n) {
		i = probe(t, s, len, h);
		if (t->index[i]) {
			if (id)
				*id = t->index[i] - 1;
			t->info.adds++;
			t->info.bytes_naive += len + 1;
			set_bytes(t);
			return 0;
		}
	}
	if (t->n == t->ents_cap && (rc = grow_ents(t)))
		return fail(t, rc);
	if (t->n + 1 > t->index_slots - t->index_slots / 8 &&
	    (rc = grow_index(t)))
		return fail(t, rc);
	p = store(t, s, len);
	if (!p)
		return fail(t, -ENOMEM);
	t->ents[t->n] = (ent_t){p, len, h};
	t->index[probe(t, s, len, h)] = (uint32_t)t->n + 1;
	if (id)
		*id = (uint32_t)t->n;
	t->n++;
	t->info.adds++;
	t->info.bytes_naive += len + 1;
	t->info.bytes_stored += len + 1;
	set_bytes(t);
	return 1;
}

int mo_intern_add(mo_intern_t *t, const char *s, uint32_t *id)
{
	return mo_intern_addn(t, s, strlen(s), id);
}

const char *mo_intern_str(const mo_intern_t *t, uint32_t id)
{
	return id < t->n ? t->ents[id].s : NULL;
}

size_t mo_intern_len(const mo_intern_t *t, uint32_t id)
{
	return id < t->n ? t->ents[id].len : 0;
}

size_t mo_intern_count(const mo_intern_t *t)
{
	return t->n;
}

void mo_intern_clear(mo_intern_t *t)
{
	chunk_t *keep = t->chunks;

	if (keep) {
		/* Keep the newest chunk, emptied. */
		free_chunks(t, keep->next);
		keep->next = NULL;
		if (t->debug)
			memset(keep->data, 0xdd, keep->used);
		keep->used = 0;
	}
	if (t->index_slots)
		memset(t->index, 0, t->index_slots * sizeof(uint32_t));
	t->n = 0;
	t->info.bytes_stored = 0;
	t->info.bytes_naive = 0;
	t->info.adds = 0;
	t->stats.resets++;
	set_bytes(t);
	MO_ALLOC_HOOK(reset, t);
}

void mo_intern_info(const mo_intern_t *t, mo_intern_info_t *out)
{
	*out = t->info;
}

void mo_intern_stats(const mo_intern_t *t, mo_alloc_stats_t *out)
{
	*out = t->stats;
	out->internal_frag = out->capacity - out->in_use;
}
