/*
 * memopt lock-free concurrent pool: fixed-size objects shared by any number
 * of threads.  alloc and free are lock-free (one compare-and-swap on a
 * Treiber stack, ABA-safe through a tagged head word); a mutex is taken
 * only to grow the pool by a chunk.  See memopt-cpool(3).
 */
#ifndef MEMOPT_CPOOL_H
#define MEMOPT_CPOOL_H

#include <memopt/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mo_cpool mo_cpool_t;

/* Largest supported object alignment (chunks are page-aligned). */
#define MO_CPOOL_MAX_ALIGN 4096u

typedef struct mo_cpool_opts {
	size_t size;	    /* object size in bytes (> 0) */
	size_t align;	    /* power of two, 0: 16; at most
			     * MO_CPOOL_MAX_ALIGN; the minimum is 8 */
	size_t chunk_objs;  /* objects in the first chunk (0: about 64 KiB
			     * worth); each later chunk doubles, up to
			     * 16 MiB */
	size_t max_objects; /* capacity limit in objects, 0: none */
	const char *name;   /* copied; for misuse messages and the profiler
			     * (NULL: "cpool") */
	unsigned flags;	    /* MO_ALLOC_DEBUG */
} mo_cpool_opts_t;

/* Creates a pool.  Returns 0 and stores it in *out, -EINVAL (size 0, bad
 * alignment), -EOVERFLOW (size too large) or -ENOMEM.  No memory is taken
 * until the first alloc.  Thread safety: the new pool is not shared yet. */
int mo_cpool_create(mo_cpool_t **out, const mo_cpool_opts_t *o);

/* Releases every chunk (live objects included) and the pool.  NULL is a
 * no-op.  Thread safety: no other thread may use the pool (quiescent). */
void mo_cpool_destroy(mo_cpool_t *p);

/* Returns an object of the pool's size and alignment, or NULL (capacity
 * limit or out of memory; counted in failures).  Contents are unspecified.
 * Thread safety: lock-free, any thread; grows under the pool's mutex. */
void *mo_cpool_alloc(mo_cpool_t *p);

/* Returns an object to the pool; any thread may free an object another
 * thread allocated.  NULL is a no-op.  In debug mode double frees and
 * foreign or interior pointers are reported with mo_alloc_misuse().
 * Thread safety: lock-free, any thread. */
void mo_cpool_free(mo_cpool_t *p, void *obj);

/* Allocates up to n objects into out[] and returns how many (fewer only at
 * the capacity limit or out of memory).  Cheaper than n calls: statistics
 * are updated once.  Thread safety: as mo_cpool_alloc(). */
size_t mo_cpool_alloc_batch(mo_cpool_t *p, void **out, size_t n);

/* Frees the n objects of objs[] with a single compare-and-swap (they are
 * linked privately first).  Thread safety: as mo_cpool_free(). */
void mo_cpool_free_batch(mo_cpool_t *p, void *const *objs, size_t n);

/* Makes every object free again, keeping the chunks; counts a reset (no
 * frees).  Thread safety: only when quiescent (no concurrent call of any
 * function on this pool, and no object used afterwards). */
void mo_cpool_reset(mo_cpool_t *p);

/* Fills *st.  When the pool is quiescent every field is exact.  While other
 * threads run, each counter is a relaxed snapshot: allocs, frees,
 * failures, capacity are values the counters really had, but live and
 * in_use (derived from allocs - frees) and peak may be off by the number
 * of operations in flight.  Thread safety: any thread, any time. */
void mo_cpool_stats(const mo_cpool_t *p, mo_alloc_stats_t *st);

/* The object size the pool was created with, and the stride (size rounded
 * up to the alignment) each object really occupies. */
size_t mo_cpool_size(const mo_cpool_t *p);
size_t mo_cpool_stride(const mo_cpool_t *p);

/* The pool's name and whether it runs in debug mode. */
const char *mo_cpool_name(const mo_cpool_t *p);
int mo_cpool_debug(const mo_cpool_t *p);

/* Nonzero if obj lies inside one of the pool's chunks at an object start.
 * O(chunks).  Thread safety: any thread. */
int mo_cpool_owns(const mo_cpool_t *p, const void *obj);

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_CPOOL_H */
