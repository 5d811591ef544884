/*
 * memopt fixed-size pool: objects of one size and alignment, carved from
 * chunks and kept, once freed, on a free list: an array of pointers used
 * as a stack (one pointer of metadata per object), so that taking an
 * object never waits for a read of the object's own memory.  See
 * memopt-pool(3).
 *
 * Thread safety: none.  A pool must be used by one thread at a time (the
 * caller locks, or uses the concurrent pool, mo_cpool_*).
 */
#ifndef MEMOPT_POOL_H
#define MEMOPT_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest alignment a pool supports (one page). */
#define MO_POOL_MAX_ALIGN 4096u

/* Flags (with MO_ALLOC_DEBUG from memopt/alloc.h). */
#define MO_POOL_GROW_DOUBLE 0x100u /* each new chunk twice the previous */

typedef struct mo_pool_opts {
	size_t obj_size;       /* bytes per object (> 0, required) */
	size_t align;	       /* power of two <= MO_POOL_MAX_ALIGN; 0: 16
				* for objects of 16 bytes or more, else 8 */
	size_t chunk_objs;     /* objects in the first chunk; 0: as many as
				* fill 4 KiB, at least 8 */
	size_t max_chunk_objs; /* cap on a chunk with MO_POOL_GROW_DOUBLE;
				* 0: 1 Mi objects */
	size_t max_objs;       /* most objects the pool holds; 0: no limit */
	unsigned flags;	       /* MO_ALLOC_DEBUG, MO_POOL_GROW_DOUBLE */
	const char *name;      /* copied; for messages and the profiler */
} mo_pool_opts_t;

/* The pool.  Public only so that alloc and free can be inline: read it
 * through mo_pool_stats(), never write it. */
typedef struct mo_pool {
	void **stack;	/* free objects, the last freed on top */
	size_t top;	/* free objects on the stack */
	size_t cap;	/* room on the stack: every object the pool has;
			 * 0 in debug mode, which takes the slow paths */
	char *bump;	/* next object never handed out in the chunk */
	char *bump_end; /* end of that chunk's objects */
	unsigned debug; /* debug mode: every call takes the slow path */
	const mo_alloc_hooks_t *hooks; /* the profiler's, copied at create */
	size_t obj_size;	       /* requested size */
	size_t stride;		       /* bytes reserved per object */
	uint64_t live;		       /* live objects */
	uint64_t peak_live;	       /* high-water mark of live */
	uint64_t frees; /* (allocations are frees + live + dropped by
			 * resets: one counter less on the fast path) */
	struct mo__pool_priv *priv; /* everything off the fast path */
} mo_pool_t;

/* Creates a pool.  Returns 0 and stores it in *out, -EINVAL for a bad
 * option (obj_size 0, align not a power of two or too large), -EOVERFLOW
 * if the sizes overflow, -ENOMEM.  The pool holds no memory until the
 * first allocation. */
int mo_pool_create(mo_pool_t **out, const mo_pool_opts_t *opts);

/* Returns all the pool's memory to the system and frees the pool.  Objects
 * still allocated become invalid.  NULL is ignored. */
void mo_pool_destroy(mo_pool_t *pool);

/* Every allocated object becomes free again; the chunks are kept (capacity
 * unchanged).  Counts a reset; allocs and frees are kept. */
void mo_pool_reset(mo_pool_t *pool);

/* Fills *st (in_use and internal_frag are per live object: obj_size and
 * stride - obj_size; capacity counts the chunks' object bytes). */
void mo_pool_stats(const mo_pool_t *pool, mo_alloc_stats_t *st);

/* Chunks the pool holds. */
size_t mo_pool_chunks(const mo_pool_t *pool);

/* The pool's name (NULL if none). */
const char *mo_pool_name(const mo_pool_t *pool);

/* Slow paths of the inline functions below (not for direct use). */
void *mo__pool_alloc_slow(mo_pool_t *pool);
void mo__pool_free_slow(mo_pool_t *pool, void *p);

static inline void mo__pool_count_alloc(mo_pool_t *pool, void *o)
{
	pool->live++;
	if (__builtin_expect(pool->hooks != NULL, 0) && pool->hooks->alloc)
		pool->hooks->alloc(pool, o, pool->obj_size, pool->stride);
}

/* Returns an object of obj_size bytes aligned as asked, uninitialized (in
 * debug mode filled with 0xDB), or NULL if the pool is at max_objs or out
 * of memory (counted as a failure).  O(1); not thread-safe. */
static inline void *mo_pool_alloc(mo_pool_t *pool)
{
	void *o;
	if (__builtin_expect(pool->top != 0, 1)) {
		o = pool->stack[--pool->top];
	} else if (__builtin_expect(pool->bump < pool->bump_end, 1)) {
		o = pool->bump;
		pool->bump += pool->stride;
		/* Objects are carved only when the free list is empty, that
		 * is with every object live: peaks are reached here (or in
		 * the slow path), never on the free-list path. */
		if (pool->live >= pool->peak_live)
			pool->peak_live = pool->live + 1;
	} else {
		return mo__pool_alloc_slow(pool);
	}
	mo__pool_count_alloc(pool, o);
	return o;
}

/* Returns p (from mo_pool_alloc() on this pool) to the pool.  NULL is
 * ignored.  In debug mode a double free, a pointer outside the pool's
 * chunks or not at the start of an object is reported with
 * mo_alloc_misuse() and ignored.  O(1); not thread-safe. */
static inline void mo_pool_free(mo_pool_t *pool, void *p)
{
	if (__builtin_expect(p == NULL || pool->top == pool->cap, 0)) {
		mo__pool_free_slow(pool, p);
		return;
	}
	pool->stack[pool->top++] = p;
	pool->live--;
	pool->frees++;
	if (__builtin_expect(pool->hooks != NULL, 0) && pool->hooks->free)
		pool->hooks->free(pool, p, pool->obj_size);
}

/* --- typed object pool ------------------------------------------------------
 * MO_POOL_TYPED(node_pool, struct node) defines the handle type
 * node_pool_t and inline functions:
 *   int node_pool_create(node_pool_t **out, const mo_pool_opts_t *opts)
 *       (opts may be NULL; obj_size is sizeof(type), align defaults to
 *       _Alignof(type), name to "node_pool")
 *   struct node *node_pool_alloc(node_pool_t *p)
 *   struct node *node_pool_new(node_pool_t *p)      (zero-filled)
 *   void node_pool_free(node_pool_t *p, struct node *o)
 *   void node_pool_reset(node_pool_t *p)
 *   void node_pool_destroy(node_pool_t *p)
 *   void node_pool_stats(const node_pool_t *p, mo_alloc_stats_t *st)
 *   mo_pool_t *node_pool_pool(node_pool_t *p)       (the untyped pool)
 */
#define MO_POOL_TYPED(pfx, type)                                               \
	typedef struct name pfx##_t;                                           \
	static inline mo_pool_t *pfx##_pool(pfx##_t *p)                        \
	{                                                                      \
		return (mo_pool_t *)(void *)p;                                 \
	}                                                                      \
	static inline int pfx##_create(pfx##_t **out,                          \
				       const mo_pool_opts_t *opts)             \
	{                                                                      \
		mo_pool_opts_t o_ = {0};                                       \
		mo_pool_t *p_ = NULL;                                          \
		int rc_;                                                       \
		if (opts)                                                      \
			o_ = *opts;                                            \
		o_.obj_size = sizeof(type);                                    \
		if (!o_.align)                                                 \
			o_.align = _Alignof(type);                             \
		if (!o_.name)                                                  \
			o_.name = #pfx;                                        \
		rc_ = mo_pool_create(&p_, &o_);                                \
		if (rc_ == 0)                                                  \
			*out = (pfx##_t *)(void *)p_;                          \
		return rc_;                                                    \
	}                                                                      \
	static inline type *pfx##_alloc(pfx##_t *p)                            \
	{                                                                      \
		return (type *)mo_pool_alloc(pfx##_pool(p));                   \
	}                                                                      \
	static inline type *pfx##_new(pfx##_t *p)                              \
	{                                                                      \
		type *o_ = pfx##_alloc(p);                                     \
		if (o_)                                                        \
			__builtin_memset(o_, 0, sizeof(type));                 \
		return o_;                                                     \
	}                                                                      \
	static inline void pfx##_free(pfx##_t *p, type *o)                     \
	{                                                                      \
		mo_pool_free(pfx##_pool(p), o);                                \
	}                                                                      \
	static inline void pfx##_reset(pfx##_t *p)                             \
	{                                                                      \
		mo_pool_reset(pfx##_pool(p));                                  \
	}                                                                      \
	static inline void pfx##_destroy(pfx##_t *p)                           \
	{                                                                      \
		mo_pool_destroy(pfx##_pool(p));                                \
	}                                                                      \
	static inline void pfx##_stats(const pfx##_t *p, mo_alloc_stats_t *st) \
	{                                                                      \
		mo_pool_stats((const mo_pool_t *)(const void *)p, st);         \
	}                                                                      \
	typedef int pfx##_semicolon_

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_POOL_H */
