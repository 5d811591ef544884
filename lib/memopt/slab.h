/*
 * memopt slab cache (kmem_cache style): objects of one size, kept
 * constructed while cached.  See memopt-slab(3).
 *
 * Thread safety: none.  A cache must be used by one thread at a time.
 */
#ifndef MEMOPT_SLAB_H
#define MEMOPT_SLAB_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest alignment a slab cache supports (one page). */
#define MO_SLAB_MAX_ALIGN 4096u

/* Flags (with MO_ALLOC_DEBUG from memopt/alloc.h). */
#define MO_SLAB_COLOUR                                 \
	0x100u /* offset each slab's first object by a \
		* different multiple of 64 bytes */

typedef void (*mo_slab_fn)(void *obj, void *arg);

typedef struct mo_slab_opts {
	size_t obj_size;  /* bytes per object (> 0, required) */
	size_t align;	  /* power of two <= MO_SLAB_MAX_ALIGN; 0: 16 for
			   * objects of 16 bytes or more, else 8 */
	size_t slab_objs; /* objects per slab; 0: as many as fill 4 KiB,
			   * at least 8 */
	unsigned flags;	  /* MO_ALLOC_DEBUG, MO_SLAB_COLOUR */
	mo_slab_fn ctor;  /* run once when an object is first carved from
			   * a slab (may be NULL) */
	mo_slab_fn dtor;  /* run on each constructed object when its slab
			   * is released, reset or destroyed (may be NULL) */
	void *arg;	  /* passed to ctor and dtor */
	const char *name; /* copied; for messages and the profiler */
} mo_slab_opts_t;

typedef struct mo_slab mo_slab_t;

/* Geometry and counters beyond mo_alloc_stats_t. */
typedef struct mo_slab_info {
	size_t objs_per_slab;
	size_t slab_bytes; /* bytes per slab (a power of two) */
	size_t stride;	   /* bytes per object */
	size_t colours;	   /* distinct first-object offsets (1: none) */
	size_t slabs, full, partial, empty;
	uint64_t ctor_calls, dtor_calls;
} mo_slab_info_t;

/* Creates a cache.  Returns 0 and stores it in *out, -EINVAL for a bad
 * option, -EOVERFLOW if the sizes overflow, -ENOMEM.  No slab is allocated
 * before the first mo_slab_alloc(). */
int mo_slab_create(mo_slab_t **out, const mo_slab_opts_t *opts);

/* Runs the destructor on every constructed object (live or cached),
 * returns every slab to the system and frees the cache.  NULL ignored. */
void mo_slab_destroy(mo_slab_t *cache);

/* Returns a constructed object (the constructor ran when it was first
 * carved; a freed object comes back as it was freed), or NULL when out of
 * memory (counted as a failure).  Partial slabs are used before empty
 * ones.  O(1) amortized. */
void *mo_slab_alloc(mo_slab_t *cache);

/* Returns obj to the cache; it must be in its constructed state.  NULL is
 * ignored.  In debug mode a double free, a foreign or misaligned pointer is
 * reported with mo_alloc_misuse() and ignored.  O(1). */
void mo_slab_free(mo_slab_t *cache, void *obj);

/* Releases the empty slabs (destructor on their constructed objects);
 * returns the number of slabs released. */
size_t mo_slab_shrink(mo_slab_t *cache);

/* Every object becomes free: the destructor runs on every constructed
 * object and all slabs become empty and unconstructed (kept; the
 * constructor runs again as objects are carved).  Counts a reset. */
void mo_slab_reset(mo_slab_t *cache);

/* Fills *st: in_use and internal_frag per live object (obj_size and
 * stride - obj_size); capacity counts whole slabs. */
void mo_slab_stats(const mo_slab_t *cache, mo_alloc_stats_t *st);

/* Fills *info. */
void mo_slab_info(const mo_slab_t *cache, mo_slab_info_t *info);

/* The cache's name (NULL if none). */
const char *mo_slab_name(const mo_slab_t *cache);

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_SLAB_H */
