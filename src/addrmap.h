/*
 * Address map: an open-addressing hash map from a 64-bit key (an address,
 * a stack id, ...) to a small value (a 64-bit size and a 32-bit index).
 * Robin Hood probing with backward-shift deletion keeps probe sequences
 * short under heavy insert/delete churn (no tombstones); one slot is 24
 * bytes and the table stays at most 7/8 full.  Every key is allowed,
 * including 0.
 * Not thread-safe.
 */
#ifndef MO_ADDRMAP_H
#define MO_ADDRMAP_H

#include <stddef.h>
#include <stdint.h>

/* One slot.  dist_ is internal: 0 for an empty slot, otherwise the probe
 * distance from the key's home slot plus one. */
typedef struct mo_addrmap_entry {
	uint64_t key;
	uint64_t size;
	uint32_t aux;
	uint32_t dist_;
} mo_addrmap_entry_t;

typedef struct mo_addrmap {
	mo_addrmap_entry_t *slots; /* NULL until the first insertion */
	size_t mask;		   /* number of slots - 1 */
	size_t count;		   /* entries stored */
	size_t limit;		   /* count at which the table grows */
	unsigned shift;		   /* 64 - log2(number of slots) */
} mo_addrmap_t;

/* Makes m an empty map.  No allocation. */
void mo_addrmap_init(mo_addrmap_t *m);

/* Releases m's memory and leaves it empty (reusable). */
void mo_addrmap_free(mo_addrmap_t *m);

/* Removes every entry, keeping the memory. */
void mo_addrmap_clear(mo_addrmap_t *m);

/* Makes room for n entries without further growth.  Returns 0 or -ENOMEM. */
int mo_addrmap_reserve(mo_addrmap_t *m, size_t n);

/* Number of entries. */
static inline size_t mo_addrmap_count(const mo_addrmap_t *m)
{
	return m->count;
}

/* Inserts key -> (size, aux).  If key was present its value is replaced,
 * the previous entry is copied to *old (if old is not NULL) and 1 is
 * returned; otherwise returns 0.  Returns -ENOMEM if the table could not
 * grow (m is then unchanged). */
int mo_addrmap_put(mo_addrmap_t *m, uint64_t key, uint64_t size, uint32_t aux,
		   mo_addrmap_entry_t *old);

/* Returns the entry of key, or NULL.  The entry may be modified in place
 * (size and aux only) and is valid until the next put or take. */
mo_addrmap_entry_t *mo_addrmap_get(const mo_addrmap_t *m, uint64_t key);

/* Removes key.  Returns 1 and copies the entry to *out (if not NULL) when
 * it was present, 0 otherwise. */
int mo_addrmap_take(mo_addrmap_t *m, uint64_t key, mo_addrmap_entry_t *out);

/* Iteration: start with *pos = 0; returns the next entry and advances
 * *pos, or NULL at the end.  The map must not change during iteration. */
const mo_addrmap_entry_t *mo_addrmap_next(const mo_addrmap_t *m, size_t *pos);

/* Makes dst (uninitialised or freed) an independent copy of src.  Returns
 * 0 or -ENOMEM (dst is then empty). */
int mo_addrmap_copy(mo_addrmap_t *dst, const mo_addrmap_t *src);

#endif
