/*
 * Flat map.  One heap block holds three arrays of `slots` entries:
 * meta (uint32_t, 0 = empty, else probe distance + 1), keys, values.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/fmap.h>

#define MIN_SLOTS 8u

struct mo_fmap {
	uint32_t *meta;
	char *keys, *vals;
	size_t slots; /* 0 or a power of two */
	size_t len;
	size_t key_size, val_size;
	size_t table_bytes;
	mo_fmap_hash_fn hash;
	mo_fmap_eq_fn eq;
	mo_fmap_probing_t probing;
	int debug;
	char *name;
	mo_alloc_stats_t stats;
};

/* --- hashes --------------------------------------------------------------*/

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_mem(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then mixed */
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return mix64(h ^ n);
}

uint64_t mo_fmap_hash_bytes(const void *key, size_t key_size)
{
	uint64_t v;

	if (key_size == sizeof(v)) {
		memcpy(&v, key, sizeof(v));
		return mix64(v);
	}
	return hash_mem(key, key_size);
}

int mo_fmap_eq_bytes(const void *a, const void *b, size_t key_size)
{
	return memcmp(a, b, key_size) == 0;
}

uint64_t mo_fmap_hash_u64(const void *key, size_t key_size)
{
	uint64_t v;

	(void)key_size;
	memcpy(&v, key, sizeof(v));
	return mix64(v);
}

uint64_t mo_fmap_hash_str(const void *key, size_t key_size)
{
	const char *s;

	(void)key_size;
	memcpy(&s, key, sizeof(s));
	return hash_mem(s, strlen(s));
}

int mo_fmap_eq_str(const void *a, const void *b, size_t key_size)
{
	const char *x, *y;

	(void)key_size;
	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	return strcmp(x, y) == 0;
}

/* --- table ---------------------------------------------------------------*/

static char *key_at(const mo_fmap_t *m, size_t i)
{
	return m->keys + i * m->key_size;
}

static char *val_at(const mo_fmap_t *m, size_t i)
{
	return m->vals + i * m->val_size;
}

/* Bytes of a table of n slots (16-aligned arrays), or -EOVERFLOW. */
static int table_size(const mo_fmap_t *m, size_t n, size_t *kofs, size_t *vofs,
		      size_t *total)
{
	size_t a, b, c;

	if (mo_size_mul(n, sizeof(uint32_t), &a) || mo_size_align(a, 16, &a) ||
	    mo_size_mul(n, m->key_size, &b) || mo_size_align(b, 16, &b) ||
	    mo_size_mul(n, m->val_size, &c) || mo_size_add(a, b, vofs) ||
	    mo_size_add(*vofs, c, total) || *total > PTRDIFF_MAX)
		return -EOVERFLOW;
	*kofs = a;
	return 0;
}

static int debug_flag(unsigned flags)
{
#if defined(MO_ALLOC_DEBUG_ALL) && MO_ALLOC_DEBUG_ALL
	(void)flags;
	return 1;
#else
	return !!(flags & MO_ALLOC_DEBUG);
#endif
}

int mo_fmap_create(mo_fmap_t **out, const mo_fmap_opts_t *o)
{
	mo_fmap_t *m;
	int rc;

	*out = NULL;
	if (!o->key_size || (!o->hash != !o->eq) ||
	    (o->probing != MO_FMAP_ROBIN_HOOD && o->probing != MO_FMAP_LINEAR))
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (o->name && !(m->name = strdup(o->name))) {
		free(m);
		return -ENOMEM;
	}
	m->key_size = o->key_size;
	m->val_size = o->val_size;
	m->hash = o->hash ? o->hash : mo_fmap_hash_bytes;
	m->eq = o->eq ? o->eq : mo_fmap_eq_bytes;
	m->probing = o->probing;
	m->debug = debug_flag(o->flags);
	MO_ALLOC_HOOK(created, m, "fmap", m->name);
	rc = o->initial ? mo_fmap_reserve(m, o->initial) : 0;
	if (rc) {
		mo_fmap_destroy(m);
		return rc;
	}
	*out = m;
	return 0;
}

static void free_table(mo_fmap_t *m, void *block, size_t bytes)
{
	if (!block)
		return;
	MO_ALLOC_HOOK(free, m, block, bytes);
	if (m->debug)
		memset(block, 0xdd, bytes);
	free(block);
	m->stats.live--;
	m->stats.frees++;
}

void mo_fmap_destroy(mo_fmap_t *m)
{
	if (!m)
		return;
	free_table(m, m->meta, m->table_bytes);
	MO_ALLOC_HOOK(destroyed, m);
	free(m->name);
	free(m);
}

static size_t home(const mo_fmap_t *m, const void *key)
{
	return (size_t)m->hash(key, m->key_size) & (m->slots - 1);
}

/* Slot holding key, or SIZE_MAX. */
static size_t find(const mo_fmap_t *m, const void *key)
{
	size_t mask = m->slots - 1, i, d;

	if (!m->len)
		return SIZE_MAX;
	i = home(m, key);
	for (d = 1;; d++, i = (i + 1) & mask) {
		uint32_t md = m->meta[i];
		if (!md)
			return SIZE_MAX;
		if (m->probing == MO_FMAP_ROBIN_HOOD && md < d)
			return SIZE_MAX;
		/* Same distance: same home slot, so maybe the same key. */
		if (md == d && m->eq(key_at(m, i), key, m->key_size))
			return i;
	}
}

static void put_val(mo_fmap_t *m, size_t i, const void *val)
{
	if (!m->val_size)
		return;
	if (val)
		memmove(val_at(m, i), val, m->val_size);
	else
		memset(val_at(m, i), 0, m->val_size);
}

/* Swaps slot i's key and value with the buffers. */
static void swap_entry(mo_fmap_t *m, size_t i, char *k, char *v, char *tmp)
{
	memcpy(tmp, key_at(m, i), m->key_size);
	memcpy(key_at(m, i), k, m->key_size);
	memcpy(k, tmp, m->key_size);
	if (m->val_size) {
		memcpy(tmp, val_at(m, i), m->val_size);
		memcpy(val_at(m, i), v, m->val_size);
		memcpy(v, tmp, m->val_size);
	}
}

/* Inserts a key known to be absent; the table has room.  k and v are
 * scratch copies (Robin Hood swaps through them), tmp is scratch too. */
static void insert_new(mo_fmap_t *m, char *k, char *v, char *tmp)
{
	size_t mask = m->slots - 1, i = home(m, k);
	uint32_t d = 1;

	for (;; d++, i = (i + 1) & mask) {
		uint32_t md = m->meta[i];
		if (!md) {
			m->meta[i] = d;
			memcpy(key_at(m, i), k, m->key_size);
			put_val(m, i, v);
			break;
		}
		if (m->probing == MO_FMAP_ROBIN_HOOD && md < d) {
			m->meta[i] = d;
			d = md;
			swap_entry(m, i, k, v, tmp);
		}
	}
	m->len++;
}

/* Largest number of entries n slots hold (load factor 7/8). */
static size_t limit(size_t n)
{
	return n - n / 8;
}

static void set_bytes(mo_fmap_t *m)
{
	m->stats.in_use = (uint64_t)m->len * (m->key_size + m->val_size);
	m->stats.capacity = m->table_bytes;
	if (m->stats.in_use > m->stats.peak)
		m->stats.peak = m->stats.in_use;
}

/* Rebuilds the table with n slots. */
static int rehash(mo_fmap_t *m, size_t n)
{
	size_t kofs, vofs, total, i, scratch;
	mo_fmap_t old = *m;
	char *block, *buf;

	if (table_size(m, n, &kofs, &vofs, &total) ||
	    mo_size_mul(m->key_size > m->val_size ? m->key_size : m->val_size,
			3, &scratch)) {
		m->stats.failures++;
		return -EOVERFLOW;
	}
	block = calloc(1, total);
	buf = malloc(scratch);
	if (!block || !buf) {
		free(block);
		free(buf);
		m->stats.failures++;
		return -ENOMEM;
	}
	m->meta = (uint32_t *)block;
	m->keys = block + kofs;
	m->vals = block + vofs;
	m->slots = n;
	m->len = 0;
	m->table_bytes = total;
	for (i = 0; i < old.slots; i++) {
		size_t big = scratch / 3;
		if (!old.meta[i])
			continue;
		memcpy(buf, key_at(&old, i), m->key_size);
		if (m->val_size)
			memcpy(buf + big, val_at(&old, i), m->val_size);
		insert_new(m, buf, m->val_size ? buf + big : NULL,
			   buf + 2 * big);
	}
	free(buf);
	free_table(m, old.meta, old.table_bytes);
	m->stats.live++;
	m->stats.allocs++;
	MO_ALLOC_HOOK(alloc, m, block, total, total);
	set_bytes(m);
	return 0;
}

int mo_fmap_reserve(mo_fmap_t *m, size_t n)
{
	size_t slots = m->slots ? m->slots : MIN_SLOTS;

	while (limit(slots) < n) {
		if (slots > SIZE_MAX / 2) {
			m->stats.failures++;
			return -EOVERFLOW;
		}
		slots *= 2;
	}
	if (slots == m->slots)
		return 0;
	return rehash(m, slots);
}

void *mo_fmap_get(const mo_fmap_t *m, const void *key)
{
	size_t i = find(m, key);

	if (i == SIZE_MAX)
		return NULL;
	return m->val_size ? val_at(m, i) : key_at(m, i);
}

/* Nonzero if p points into the table block. */
static int in_table(const mo_fmap_t *m, const void *p)
{
	const char *b = (const char *)m->meta, *c = p;

	return b && c >= b && c < b + m->table_bytes;
}

int mo_fmap_put(mo_fmap_t *m, const void *key, const void *val)
{
	size_t i = find(m, key), n, big, scratch;
	char stack[256], *buf;
	int rc, inside;

	if (i != SIZE_MAX) {
		put_val(m, i, val);
		return 1;
	}
	big = m->key_size > m->val_size ? m->key_size : m->val_size;
	if (mo_size_add(m->len, 1, &n) || mo_size_mul(big, 3, &scratch)) {
		m->stats.failures++;
		return -EOVERFLOW;
	}
	/* Grow first, unless key or val point into the table (then they are
	 * copied first). */
	inside = in_table(m, key) || in_table(m, val);
	if (!inside && (rc = mo_fmap_reserve(m, n)))
		return rc;
	buf = scratch <= sizeof(stack) ? stack : malloc(scratch);
	if (!buf) {
		m->stats.failures++;
		return -ENOMEM;
	}
	memcpy(buf, key, m->key_size);
	if (m->val_size) {
		if (val)
			memcpy(buf + big, val, m->val_size);
		else
			memset(buf + big, 0, m->val_size);
	}
	rc = inside ? mo_fmap_reserve(m, n) : 0;
	if (!rc) {
		insert_new(m, buf, buf + big, buf + 2 * big);
		set_bytes(m);
	}
	if (buf != stack)
		free(buf);
	return rc;
}

/* Moves the entry in slot from to slot to, an earlier one of its probe
 * sequence. */
static void move_entry(mo_fmap_t *m, size_t from, size_t to)
{
	m->meta[to] = m->meta[from] - (uint32_t)((from - to) & (m->slots - 1));
	memcpy(key_at(m, to), key_at(m, from), m->key_size);
	if (m->val_size)
		memcpy(val_at(m, to), val_at(m, from), m->val_size);
}

int mo_fmap_remove(mo_fmap_t *m, const void *key, void *val_out)
{
	size_t mask, i = find(m, key), j;

	if (i == SIZE_MAX)
		return -ENOENT;
	if (val_out && m->val_size)
		memcpy(val_out, val_at(m, i), m->val_size);
	mask = m->slots - 1;
	if (m->probing == MO_FMAP_ROBIN_HOOD) {
		/* Backward shift: the displaced followers move one back. */
		for (j = (i + 1) & mask; m->meta[j] > 1;
		     i = j, j = (j + 1) & mask)
			move_entry(m, j, i);
	} else {
		/* Linear: a follower moves into the hole when the hole lies
		 * between its home and its slot. */
		for (j = (i + 1) & mask; m->meta[j]; j = (j + 1) & mask) {
			if (((j - i) & mask) < m->meta[j]) {
				move_entry(m, j, i);
				i = j;
			}
		}
	}
	m->meta[i] = 0;
	if (m->debug) {
		memset(key_at(m, i), 0xdd, m->key_size);
		if (m->val_size)
			memset(val_at(m, i), 0xdd, m->val_size);
	}
	m->len--;
	set_bytes(m);
	return 0;
}

int mo_fmap_next(const mo_fmap_t *m, size_t *it, const void **key, void **val)
{
	size_t i;

	for (i = *it; i < m->slots; i++) {
		if (!m->meta[i])
			continue;
		if (key)
			*key = key_at(m, i);
		if (val)
			*val = m->val_size ? val_at(m, i) : NULL;
		*it = i + 1;
		return 1;
	}
	*it = i;
	return 0;
}

size_t mo_fmap_len(const mo_fmap_t *m)
{
	return m->len;
}

size_t mo_fmap_slots(const mo_fmap_t *m)
{
	return m->slots;
}

size_t mo_fmap_max_probe(const mo_fmap_t *m)
{
	size_t i, best = 0;

	for (i = 0; i < m->slots; i++)
		if (m->meta[i] && m->meta[i] - 1 > best)
			best = m->meta[i] - 1;
	return best;
}

void mo_fmap_clear(mo_fmap_t *m)
{
	if (m->slots)
		memset(m->meta, 0, m->slots * sizeof(uint32_t));
	m->len = 0;
	m->stats.resets++;
	set_bytes(m);
	MO_ALLOC_HOOK(reset, m);
}

void mo_fmap_stats(const mo_fmap_t *m, mo_alloc_stats_t *out)
{
	*out = m->stats;
	out->internal_frag = out->capacity - out->in_use;
}
