/*
 * memopt thread-local caching front for the concurrent pool: each thread
 * keeps a magazine (an array of free objects) so that most allocs and
 * frees touch no shared memory; the magazine is refilled from, and half
 * flushed to, a mo_cpool_t in batches.  See memopt-tcache(3).
 */
#ifndef MEMOPT_TCACHE_H
#define MEMOPT_TCACHE_H

#include <memopt/alloc.h>
#include <memopt/cpool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mo_tcache mo_tcache_t;

typedef struct mo_tcache_opts {
	mo_cpool_t *pool;   /* pool to cache (not owned), or NULL: the cache
			     * creates and owns one from the fields below */
	size_t size;	    /* object size (own pool only) */
	size_t align;	    /* object alignment (own pool only, 0: 16) */
	size_t max_objects; /* capacity limit (own pool only, 0: none) */
	size_t magazine;    /* objects per thread magazine, even, >= 2
			     * (0: 64); refills take magazine/2 objects,
			     * a full magazine flushes magazine/2 */
	const char *name;   /* copied (NULL: "tcache") */
	unsigned flags;	    /* MO_ALLOC_DEBUG (needs a debug pool if the
			     * pool is given) */
} mo_tcache_opts_t;

/* Creates a caching front.  Returns 0 and stores it in *out, -EINVAL (bad
 * options; MO_ALLOC_DEBUG with a given pool not in debug mode), -EAGAIN (no
 * pthread key left: each cache uses one) or -ENOMEM.  Debug mode follows
 * the pool's.  Thread safety: the new cache is not shared yet. */
int mo_tcache_create(mo_tcache_t **out, const mo_tcache_opts_t *o);

/* Flushes every thread's magazine back to the pool, then frees the cache
 * (and its pool if it owns it).  NULL is a no-op.  Thread safety: no
 * thread may use the cache during or after the call, and threads that used
 * it must not exit during the call (their magazine is freed here). */
void mo_tcache_destroy(mo_tcache_t *tc);

/* An object from the calling thread's magazine (refilled from the pool
 * when empty), or NULL (pool limit or out of memory; counted in failures).
 * Thread safety: any thread; lock-free, except a thread's first call
 * (registers its magazine under the cache's lock) and the pool's growth. */
void *mo_tcache_alloc(mo_tcache_t *tc);

/* Puts obj in the calling thread's magazine (any thread may free any
 * object of the pool); a full magazine first flushes half of it to the
 * pool.  NULL is a no-op.  Debug mode reports double frees (whether the
 * object sits in a magazine or in the pool) and foreign pointers, and
 * poisons freed objects.  Thread safety: any thread, lock-free. */
void mo_tcache_free(mo_tcache_t *tc, void *obj);

/* Returns the calling thread's magazine to the pool (what thread exit does
 * automatically).  Thread safety: any thread. */
void mo_tcache_flush(mo_tcache_t *tc);

/* Makes every object free (empties all magazines, resets the owned pool);
 * counts a reset.  Returns 0, or -EINVAL if the pool is not owned (other
 * users may hold its objects).  Thread safety: only when quiescent. */
int mo_tcache_reset(mo_tcache_t *tc);

/* Fills *st with what the cache's users see: allocs and frees through the
 * cache, live = allocs - frees, in_use and internal_frag for those,
 * capacity of the pool, failures, resets.  Exact when quiescent (peak:
 * exact when one thread at a time uses the cache; otherwise each thread
 * tracks the live count it can see, so peak is approximate).  Thread
 * safety: any thread (takes the cache's registry lock). */
void mo_tcache_stats(mo_tcache_t *tc, mo_alloc_stats_t *st);

/* Objects sitting in magazines (all threads).  Exact when quiescent. */
size_t mo_tcache_cached(mo_tcache_t *tc);

/* The pool behind the cache. */
mo_cpool_t *mo_tcache_pool(const mo_tcache_t *tc);

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_TCACHE_H */
