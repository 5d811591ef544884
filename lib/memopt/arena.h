/*
 * memopt arena (bump) allocator: allocations are carved from the front of
 * a region by bumping a pointer; there is no individual free.  Memory comes
 * back all at once (mo_arena_reset, mo_arena_release) or down to a saved
 * position (mo_arena_mark / mo_arena_rewind, MO_ARENA_SCOPE).
 *
 * Two backing modes, chosen at create:
 *  - MO_ARENA_BLOCKS: a chain of blocks (mmap'd, or a caller buffer first);
 *    block sizes grow by doubling from block_size to max_block_size;
 *    requests larger than `oversize` that do not fit in the current block
 *    get a block of their own.  Rewind and reset keep the chain's blocks
 *    for reuse and unmap the blocks of their own; release unmaps all.
 *  - MO_ARENA_RESERVE: one virtual range reserved at create (PROT_NONE,
 *    MAP_NORESERVE) and committed in commit_step steps as the pointer
 *    advances; allocations never move to another block.  Release
 *    decommits the range.
 *
 * Statistics (mo_arena_stats): in_use = requested bytes since the last
 * reset or the marks rewound to; internal_frag = consumed bytes minus
 * in_use, where consumed = the bytes from each block's start to the bump
 * pointer in the current block, plus the whole of every earlier block of
 * the chain (its unused tail can no longer be served) and of every block
 * of its own; so it is alignment padding plus abandoned tails.  capacity =
 * the bytes of every block held (chain, spare and own blocks, the caller
 * buffer; committed bytes in RESERVE mode); block descriptors live outside
 * the blocks.  frees is always 0; resets counts resets, rewinds and
 * releases.
 *
 * Not thread-safe: an arena must be used by one thread at a time.
 */
#ifndef MEMOPT_ARENA_H
#define MEMOPT_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mo_arena mo_arena_t;

typedef enum mo_arena_mode {
	MO_ARENA_BLOCKS = 0, /* chained blocks (the default) */
	MO_ARENA_RESERVE = 1 /* one reserved virtual range */
} mo_arena_mode_t;

/* Byte written over rewound, reset and released memory in debug mode. */
#define MO_ARENA_POISON 0xdd

typedef struct mo_arena_opts {
	const char *name;     /* for messages and the profiler (copied) */
	unsigned flags;	      /* MO_ALLOC_DEBUG */
	mo_arena_mode_t mode; /* MO_ARENA_BLOCKS or MO_ARENA_RESERVE */
	size_t align;	      /* alignment of mo_arena_alloc (16) */
	size_t max_capacity;  /* 0: no limit; else capacity never exceeds it */
	/* MO_ARENA_BLOCKS */
	size_t block_size;     /* first mmap'd block (64 KiB), page-rounded */
	size_t max_block_size; /* blocks double up to this (16 MiB) */
	size_t oversize;       /* bigger requests: own block (block_size/4) */
	void *buffer;	       /* optional first block, the caller's */
	size_t buffer_size;    /* its size */
	/* MO_ARENA_RESERVE */
	size_t reserve;	    /* address space reserved (1 GiB) */
	size_t commit_step; /* commit granularity (64 KiB), page-rounded */
} mo_arena_opts_t;

/* A saved position (mo_arena_mark); pass it back to mo_arena_rewind. */
typedef struct mo_arena_mark {
	const mo_arena_t *arena;
	void *blk;
	char *cur;
	uint64_t in_use, live, base, gen, seq;
	size_t nown;
} mo_arena_mark_t;

/* Creates an arena; o may be NULL for the defaults.  Returns 0 and stores
 * it in *out, -EINVAL (bad option: alignment not a power of two, a buffer
 * in RESERVE mode, a buffer size without buffer), -ENOMEM.  The caller's
 * buffer must outlive the arena.  Thread-safe. */
int mo_arena_create(mo_arena_t **out, const mo_arena_opts_t *o);

/* Destroys an arena and unmaps its memory (not the caller's buffer); every
 * pointer it returned is invalid afterwards.  NULL is ignored. */
void mo_arena_destroy(mo_arena_t *a);

/* Slow path of the allocation functions (internal). */
void *mo__arena_alloc_slow(mo_arena_t *a, size_t size, size_t align);

/* The allocation fields the inline fast path touches: the first member of
 * struct mo_arena (internal; do not use). */
struct mo__arena_hot {
	char *cur;
	char *end;
	uint64_t in_use;
	uint64_t live;
	size_t align; /* default alignment */
};

/* Allocates size bytes aligned to align (any power of two; more than the
 * page size costs padding).  Returns the memory, valid until a reset,
 * release or rewind to a mark taken before it, or NULL (counted as a
 * failure): align not a power of two, size too large (overflow, the
 * reserved range or max_capacity exhausted), mmap failed.  A zero-size
 * allocation returns a non-NULL pointer that must not be dereferenced. */
static inline void *mo_arena_alloc_aligned(mo_arena_t *a, size_t size,
					   size_t align)
{
	struct mo__arena_hot *h = (struct mo__arena_hot *)a;
	uintptr_t cur = (uintptr_t)h->cur;
	size_t pad = (size_t)(-cur) & (align - 1);
	size_t avail = (size_t)((uintptr_t)h->end - cur);

	if (__builtin_expect(mo_is_pow2(align) && pad <= avail &&
				     size <= avail - pad &&
				     mo_alloc_hooks == NULL,
			     1)) {
		char *p = (char *)(cur + pad);
		h->cur = p + size;
		h->in_use += size;
		h->live++;
		return p;
	}
	return mo__arena_alloc_slow(a, size, align);
}

/* Returns the arena's default alignment (opts.align). */
size_t mo_arena_align(const mo_arena_t *a);

/* mo_arena_alloc_aligned with the arena's default alignment. */
static inline void *mo_arena_alloc(mo_arena_t *a, size_t size)
{
	return mo_arena_alloc_aligned(a, size,
				      ((const struct mo__arena_hot *)a)->align);
}

/* Allocates n objects of size bytes each (overflow-checked), aligned to
 * align; NULL on overflow as for mo_arena_alloc_aligned. */
void *mo_arena_alloc_array(mo_arena_t *a, size_t n, size_t size, size_t align);

/* Returns the current position.  Marks nest: rewinding to a mark frees
 * everything allocated after it, including later marks, and consumes the
 * mark itself.  Not thread-safe. */
mo_arena_mark_t mo_arena_mark(mo_arena_t *a);

/* Frees everything allocated since m was taken.  Blocks of the chain past
 * the mark's are kept for reuse; blocks of their own are unmapped.  A mark
 * of another arena, or one no longer on the arena's stack of marks (taken
 * before a reset or release, already rewound, or above a mark rewound to)
 * is reported with mo_alloc_misuse() and nothing is freed; the stack is
 * checked exactly in debug mode, approximately (the block and position
 * must still exist) otherwise. */
void mo_arena_rewind(mo_arena_t *a, mo_arena_mark_t m);

/* Runs the statement that follows in a scope: everything it allocates
 * from a is freed when it ends normally (not by break, goto or return).
 *   MO_ARENA_SCOPE(a) { char *tmp = mo_arena_alloc(a, 100); ... } */
#define MO_ARENA_SCOPE(a) MO__ARENA_SCOPE((a), __LINE__)
#define MO__ARENA_SCOPE(a, n) MO__ARENA_SCOPE2(a, n)
#define MO__ARENA_SCOPE2(a, n)                            \
	for (mo_arena_mark_t mo__m##n = mo_arena_mark(a), \
			     *mo__p##n = &mo__m##n;       \
	     mo__p##n; mo_arena_rewind((a), mo__m##n), mo__p##n = NULL)

/* Frees every allocation; keeps the chain's blocks (or the committed
 * range) for reuse, unmaps blocks of their own.  Invalidates all marks. */
void mo_arena_reset(mo_arena_t *a);

/* Frees every allocation and returns the memory to the system (munmap, or
 * decommit in RESERVE mode); a caller buffer stays in use.  The arena
 * remains usable.  Invalidates all marks. */
void mo_arena_release(mo_arena_t *a);

/* Fills *st (see the top of this header for the definitions). */
void mo_arena_stats(const mo_arena_t *a, mo_alloc_stats_t *st);

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_ARENA_H */
