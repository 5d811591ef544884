/*
 * String interner: each distinct string is stored once, NUL-terminated, in
 * an arena of chunks; it gets a dense id (0, 1, 2...) and a const char *
 * that stay valid until mo_intern_clear or mo_intern_destroy.  Not
 * thread-safe.  See memopt-containers(3).
 */
#ifndef MEMOPT_INTERN_H
#define MEMOPT_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mo_intern_opts {
	size_t chunk_size; /* arena chunk bytes (0: 64 KiB); longer strings
			    * get a chunk of their own */
	const char *name;  /* copied */
	unsigned flags;	   /* MO_ALLOC_DEBUG: poison on clear */
} mo_intern_opts_t;

typedef struct mo_intern mo_intern_t;

/* What interning saved. */
typedef struct mo_intern_info {
	uint64_t strings;      /* distinct strings (the next id) */
	uint64_t adds;	       /* mo_intern_add calls that succeeded */
	uint64_t bytes_stored; /* bytes of the distinct strings, NULs in */
	uint64_t bytes_naive;  /* bytes one copy per add would take */
	uint64_t bytes_saved;  /* bytes_naive - bytes_stored */
	uint64_t chunk_bytes;  /* bytes of the arena chunks */
	uint64_t index_bytes;  /* bytes of the id table and hash index */
} mo_intern_info_t;

/* Creates an interner (o may be NULL).  0, -EINVAL or -ENOMEM. */
int mo_intern_create(mo_intern_t **out, const mo_intern_opts_t *o);

/* Frees the interner and every string (NULL: nothing). */
void mo_intern_destroy(mo_intern_t *t);

/* Interns the len bytes at s (which may hold NULs; the copy gets a NUL
 * after them).  Stores the id in *id (unless NULL).  Returns 1 if the
 * string is new, 0 if it was already there, -ENOMEM or -EOVERFLOW. */
int mo_intern_addn(mo_intern_t *t, const char *s, size_t len, uint32_t *id);

/* mo_intern_addn(t, s, strlen(s), id). */
int mo_intern_add(mo_intern_t *t, const char *s, uint32_t *id);

/* The id of a string already interned: 0 or -ENOENT. */
int mo_intern_findn(const mo_intern_t *t, const char *s, size_t len,
		    uint32_t *id);
int mo_intern_find(const mo_intern_t *t, const char *s, uint32_t *id);

/* The stored string of id (NUL-terminated), NULL if id is not one. */
const char *mo_intern_str(const mo_intern_t *t, uint32_t id);

/* Its length (0 if id is not one). */
size_t mo_intern_len(const mo_intern_t *t, uint32_t id);

/* Distinct strings, i.e. the next id. */
size_t mo_intern_count(const mo_intern_t *t);

/* Forgets every string (ids restart at 0; pointers become invalid) but
 * keeps the first chunk and the index.  Counts a reset. */
void mo_intern_clear(mo_intern_t *t);

/* Savings (info) and allocator statistics: in_use = bytes_stored,
 * capacity = chunk_bytes + index_bytes, internal_frag = capacity - in_use,
 * live/allocs/frees = heap blocks (chunks and tables), failures = failed
 * adds. */
void mo_intern_info(const mo_intern_t *t, mo_intern_info_t *out);
void mo_intern_stats(const mo_intern_t *t, mo_alloc_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_INTERN_H */
