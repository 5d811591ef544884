/*
 * Robin Hood hash map keyed by 64-bit integers; see addrmap.h.
 */
#include "addrmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MO__ADDRMAP_MIN_SLOTS 16u

/* Fibonacci hashing of a folded key: allocator addresses differ mostly in
 * their middle bits, and the multiplication carries every input bit into
 * the high bits that select the slot. */
static inline size_t mo__addrmap_home(const mo_addrmap_t *m, uint64_t key)
{
	return (size_t)(((key ^ (key >> 32)) * 0x9e3779b97f4a7c15ull) >>
			m->shift);
}

static size_t mo__addrmap_limit(size_t nslots)
{
	return nslots - nslots / 8;
}

void mo_addrmap_init(mo_addrmap_t *m)
{
	memset(m, 0, sizeof(*m));
}

void mo_addrmap_free(mo_addrmap_t *m)
{
	free(m->slots);
	mo_addrmap_init(m);
}

void mo_addrmap_clear(mo_addrmap_t *m)
{
	if (m->slots)
		memset(m->slots, 0, (m->mask + 1) * sizeof(*m->slots));
	m->count = 0;
}

/* Places e, known to be absent, into slots sized by mask/shift. */
static void mo__addrmap_place(mo_addrmap_t *m, mo_addrmap_entry_t e)
{
	size_t i = mo__addrmap_home(m, e.key);

	e.dist_ = 1;
	for (;;) {
		mo_addrmap_entry_t *s = &m->slots[i];
		if (s->dist_ == 0) {
			*s = e;
			return;
		}
		if (s->dist_ < e.dist_) {
			mo_addrmap_entry_t t = *s;
			*s = e;
			e = t;
		}
		i = (i + 1) & m->mask;
		e.dist_++;
	}
}

static int mo__addrmap_resize(mo_addrmap_t *m, size_t nslots)
{
	mo_addrmap_t n = *m;
	unsigned bits = 0;

	while (((size_t)1 << bits) < nslots)
		bits++;
	n.slots = calloc(nslots, sizeof(*n.slots));
	if (!n.slots)
		return -ENOMEM;
	n.mask = nslots - 1;
	n.shift = 64 - bits;
	n.limit = mo__addrmap_limit(nslots);
	if (m->slots) {
		for (size_t i = 0; i <= m->mask; i++)
			if (m->slots[i].dist_)
				mo__addrmap_place(&n, m->slots[i]);
		free(m->slots);
	}
	*m = n;
	return 0;
}

int mo_addrmap_reserve(mo_addrmap_t *m, size_t n)
{
	size_t nslots = MO__ADDRMAP_MIN_SLOTS;

	while (mo__addrmap_limit(nslots) < n) {
		if (nslots > SIZE_MAX / 2 / sizeof(mo_addrmap_entry_t))
			return -ENOMEM;
		nslots *= 2;
	}
	if (m->slots && nslots <= m->mask + 1)
		return 0;
	return mo__addrmap_resize(m, nslots);
}

int mo_addrmap_put(mo_addrmap_t *m, uint64_t key, uint64_t size, uint32_t aux,
		   mo_addrmap_entry_t *old)
{
	mo_addrmap_entry_t e = {key, size, aux, 1};
	size_t i;

	if (m->count >= m->limit) {
		size_t nslots =
			m->slots ? 2 * (m->mask + 1) : MO__ADDRMAP_MIN_SLOTS;
		if (nslots > SIZE_MAX / sizeof(mo_addrmap_entry_t) ||
		    mo__addrmap_resize(m, nslots) < 0)
			return -ENOMEM;
	}
	/* Look for the key; stop where a Robin Hood table would have put it. */
	i = mo__addrmap_home(m, key);
	for (;;) {
		mo_addrmap_entry_t *s = &m->slots[i];
		if (s->dist_ < e.dist_)
			break;
		if (s->key == key) {
			if (old)
				*old = *s;
			s->size = size;
			s->aux = aux;
			return 1;
		}
		i = (i + 1) & m->mask;
		e.dist_++;
	}
	/* Insert at i, pushing richer entries further along. */
	for (;;) {
		mo_addrmap_entry_t *s = &m->slots[i];
		if (s->dist_ == 0) {
			*s = e;
			break;
		}
		if (s->dist_ < e.dist_) {
			mo_addrmap_entry_t t = *s;
			*s = e;
			e = t;
		}
		i = (i + 1) & m->mask;
		e.dist_++;
	}
	m->count++;
	return 0;
}

mo_addrmap_entry_t *mo_addrmap_get(const mo_addrmap_t *m, uint64_t key)
{
	uint32_t d = 1;
	size_t i;

	if (m->count == 0)
		return NULL;
	i = mo__addrmap_home(m, key);
	for (;;) {
		mo_addrmap_entry_t *s = &m->slots[i];
		if (s->dist_ < d)
			return NULL;
		if (s->key == key)
			return s;
		i = (i + 1) & m->mask;
		d++;
	}
}

int mo_addrmap_take(mo_addrmap_t *m, uint64_t key, mo_addrmap_entry_t *out)
{
	mo_addrmap_entry_t *s = mo_addrmap_get(m, key);
	size_t i;

	if (!s)
		return 0;
	if (out)
		*out = *s;
	/* Backward-shift: pull each displaced follower one slot closer to
	 * its home until an empty slot or an entry already at home. */
	i = (size_t)(s - m->slots);
	for (;;) {
		size_t j = (i + 1) & m->mask;
		if (m->slots[j].dist_ <= 1) {
			m->slots[i].dist_ = 0;
			break;
		}
		m->slots[i] = m->slots[j];
		m->slots[i].dist_--;
		i = j;
	}
	m->count--;
	return 1;
}

const mo_addrmap_entry_t *mo_addrmap_next(const mo_addrmap_t *m, size_t *pos)
{
	if (!m->slots)
		return NULL;
	while (*pos <= m->mask) {
		const mo_addrmap_entry_t *s = &m->slots[(*pos)++];
		if (s->dist_)
			return s;
	}
	return NULL;
}

int mo_addrmap_copy(mo_addrmap_t *dst, const mo_addrmap_t *src)
{
	*dst = *src;
	if (!src->slots)
		return 0;
	dst->slots = malloc((src->mask + 1) * sizeof(*src->slots));
	if (!dst->slots) {
		mo_addrmap_init(dst);
		return -ENOMEM;
	}
	memcpy(dst->slots, src->slots, (src->mask + 1) * sizeof(*src->slots));
	return 0;
}
