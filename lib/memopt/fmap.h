/*
 * Open-addressing flat map: keys and values of fixed sizes stored by value
 * in one heap block, linear or Robin Hood probing, deletion by backward
 * shift (no tombstones), load factor at most 7/8.  Not thread-safe.  See
 * memopt-containers(3).
 */
#ifndef MEMOPT_FMAP_H
#define MEMOPT_FMAP_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Hash of the key_size bytes at key; equality of two keys (nonzero when
 * equal). */
typedef uint64_t (*mo_fmap_hash_fn)(const void *key, size_t key_size);
typedef int (*mo_fmap_eq_fn)(const void *a, const void *b, size_t key_size);

/* Defaults: any key compared bytewise (the default when hash and eq are
 * NULL), a uint64_t key, and a `const char *` key (key_size is
 * sizeof(char *); the map stores the pointer, the caller keeps the
 * string alive). */
uint64_t mo_fmap_hash_bytes(const void *key, size_t key_size);
int mo_fmap_eq_bytes(const void *a, const void *b, size_t key_size);
uint64_t mo_fmap_hash_u64(const void *key, size_t key_size);
uint64_t mo_fmap_hash_str(const void *key, size_t key_size);
int mo_fmap_eq_str(const void *a, const void *b, size_t key_size);

typedef enum mo_fmap_probing {
	MO_FMAP_ROBIN_HOOD = 0, /* default */
	MO_FMAP_LINEAR = 1
} mo_fmap_probing_t;

typedef struct mo_fmap_opts {
	size_t key_size;	   /* > 0 */
	size_t val_size;	   /* may be 0 (a set) */
	mo_fmap_hash_fn hash;	   /* NULL: mo_fmap_hash_bytes */
	mo_fmap_eq_fn eq;	   /* NULL: mo_fmap_eq_bytes */
	size_t initial;		   /* entries to make room for (0: none) */
	mo_fmap_probing_t probing; /* MO_FMAP_ROBIN_HOOD or MO_FMAP_LINEAR */
	const char *name;	   /* copied */
	unsigned flags;		   /* MO_ALLOC_DEBUG: poison old tables */
} mo_fmap_opts_t;

typedef struct mo_fmap mo_fmap_t;

/* Creates a map.  0, -EINVAL, -EOVERFLOW or -ENOMEM. */
int mo_fmap_create(mo_fmap_t **out, const mo_fmap_opts_t *o);

/* Frees the map (NULL: nothing). */
void mo_fmap_destroy(mo_fmap_t *m);

/* Pointer to the value stored for key (to the stored key when val_size
 * is 0), NULL if absent.  Valid until the
 * next put, remove or reserve.  Values are stored at multiples of
 * val_size: their alignment is the largest power of two dividing
 * val_size, at most 16. */
void *mo_fmap_get(const mo_fmap_t *m, const void *key);

/* Stores a copy of key and *val (NULL: zeroes).  Returns 0 if the key was
 * new, 1 if its value was replaced, -ENOMEM or -EOVERFLOW (growing failed,
 * the map is unchanged). */
int mo_fmap_put(mo_fmap_t *m, const void *key, const void *val);

/* Removes key, its value copied to val_out unless NULL.  0 or -ENOENT. */
int mo_fmap_remove(mo_fmap_t *m, const void *key, void *val_out);

/* Makes room for n entries without growing.  0, -ENOMEM or -EOVERFLOW. */
int mo_fmap_reserve(mo_fmap_t *m, size_t n);

/* Iteration: start with *it = 0; returns 1 and the next entry (key and
 * value pointers, either may be NULL) or 0 at the end.  The map must not
 * change meanwhile. */
int mo_fmap_next(const mo_fmap_t *m, size_t *it, const void **key, void **val);

size_t mo_fmap_len(const mo_fmap_t *m);
/* Slots in the table (a power of two, or 0 before the first put). */
size_t mo_fmap_slots(const mo_fmap_t *m);
/* Longest probe distance now in the table (0: every key at its home). */
size_t mo_fmap_max_probe(const mo_fmap_t *m);

/* Removes every entry, keeping the table (counts a reset). */
void mo_fmap_clear(mo_fmap_t *m);

/* Statistics: in_use = len * (key_size + val_size), capacity = bytes of
 * the table (metadata included), internal_frag = capacity - in_use,
 * live/allocs/frees = table blocks, failures = failed growths. */
void mo_fmap_stats(const mo_fmap_t *m, mo_alloc_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_FMAP_H */
