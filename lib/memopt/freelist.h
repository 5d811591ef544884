/*
 * memopt free-list allocator: variable-size blocks carved from one region
 * (the caller's buffer or an mmap'd one), first-fit or best-fit, with
 * boundary tags so that a free coalesces with both neighbours in O(1).
 * See memopt-freelist(3).
 */
#ifndef MEMOPT_FREELIST_H
#define MEMOPT_FREELIST_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mo_fl mo_fl_t;

/* Free blocks live in segregated lists ("bins", TLSF style), each LIFO
 * (most recently freed first), found through two levels of bitmaps.  A
 * block of s bytes (s a multiple of 16) is in bin mo_fl_bin(s): below
 * 1024 bytes every size has a bin of its own (bin s / 16); above, each
 * range [2^k, 2^(k+1)) is split into 32 bins of width 2^(k-5) (bin
 * 32 * (k - 8) + (s - 2^k) / 2^(k-5)), so sizes in one bin differ by less
 * than 1/32 of the bin's smallest.  A request
 * of n bytes needs a block of need = max(round16(n + 16), 48) bytes.
 *
 * Placement policy, chosen at create. */
typedef enum mo_fl_fit {
	/* Good fit, O(1): the first block of the lowest non-empty bin whose
	 * blocks all hold need bytes (need's bin if need starts its bin or
	 * is below 1024, else the next one up); if there is none, the first
	 * block of need's bin that fits.  Below 1024 bytes this is an exact
	 * fit whenever a block of that size is free. */
	MO_FL_FIRST_FIT = 0,
	/* Best fit within need's bin: the smallest block of need's bin that
	 * fits (the first exact fit in list order ends the scan); if none
	 * fits, the first block of the next non-empty bin up (not
	 * necessarily its smallest).  Scans one bin, O(its length). */
	MO_FL_BEST_FIT = 1
} mo_fl_fit_t;

/* Block header in front of every payload; blocks are multiples of 16 bytes
 * and payloads are 16-byte aligned. */
#define MO_FL_HEADER 16u
/* Smallest block (a free block holds its header, two list links and a
 * footer); a remainder smaller than this is left in the allocation. */
#define MO_FL_MIN_BLOCK 48u
/* Byte written over freed payloads in debug mode (after the 16 bytes of
 * free-list links at the start of the payload); an allocation checks that
 * the bytes it hands out still hold it ("write after free at ADDR"). */
#define MO_FL_POISON 0xdb
/* Largest alignment mo_fl_alloc_aligned() accepts. */
#define MO_FL_MAX_ALIGN ((size_t)1 << 30)

typedef struct mo_fl_opts {
	const char *name; /* for misuse messages and the profiler (copied);
			   * NULL: "freelist" */
	void *buf;	  /* region to manage, owned by the caller and left
			   * untouched by destroy; NULL: mmap `size` bytes */
	size_t size;	  /* bytes of buf, or of the region to map (rounded
			   * up to the page size); at least 128 */
	mo_fl_fit_t fit;  /* MO_FL_FIRST_FIT or MO_FL_BEST_FIT */
	unsigned flags;	  /* MO_ALLOC_DEBUG */
} mo_fl_opts_t;

/* External fragmentation, as mo_fl_frag() reports it. */
typedef struct mo_fl_frag {
	size_t free_bytes;    /* bytes of all free blocks (headers included) */
	size_t free_blocks;   /* number of free blocks */
	size_t largest_free;  /* bytes of the largest free block */
	size_t largest_alloc; /* largest request that would succeed now
			       * (largest_free minus the header, or 0) */
	double external;      /* 1 - largest_free / free_bytes (0 when
			       * nothing or one block is free) */
} mo_fl_frag_t;

/* Creates an allocator over o->buf (or a fresh mmap of o->size bytes).
 * Returns 0 and stores the handle in *out, or -EINVAL (bad options, region
 * too small, unknown fit), -ENOMEM, -EOVERFLOW.  The handle belongs to the
 * caller until mo_fl_destroy().  Not thread-safe: one thread at a time per
 * allocator (different allocators are independent). */
int mo_fl_create(mo_fl_t **out, const mo_fl_opts_t *o);

/* Unmaps the region if the allocator mapped it, and frees the handle.
 * Live allocations die with it.  NULL is ignored. */
void mo_fl_destroy(mo_fl_t *fl);

/* Returns a 16-byte aligned block of at least size bytes (0 is allowed and
 * gives a unique pointer), chosen by the fit (see mo_fl_fit_t), or NULL (a
 * failure is counted) when no free block is large enough.  The block stays
 * valid until mo_fl_free(), mo_fl_reset() or mo_fl_destroy(). */
void *mo_fl_alloc(mo_fl_t *fl, size_t size);

/* Like mo_fl_alloc() with the payload aligned to align, a power of two up
 * to MO_FL_MAX_ALIGN (NULL and a failure otherwise).  The space skipped to
 * align stays a free block of its own, so it costs no internal
 * fragmentation.  For align <= 16 this is mo_fl_alloc(); above, the block
 * is the one the fit picks for need + align + 32 bytes (enough at any
 * address), or else the first free block, bins in ascending order from
 * need's, that holds need bytes after its alignment gap (O(free blocks)).
 * NULL only when no free block can hold the aligned request. */
void *mo_fl_alloc_aligned(mo_fl_t *fl, size_t size, size_t align);

/* Frees a block from mo_fl_alloc*() and merges it with its free
 * neighbours (O(1)).  NULL is ignored.  A pointer outside the region, a
 * header that is not a live block's and a double free are reported with
 * mo_alloc_misuse() and ignored if the handler returns. */
void mo_fl_free(mo_fl_t *fl, void *p);

/* Frees every block at once: the region is one free block again. */
void mo_fl_reset(mo_fl_t *fl);

/* Fills *st (see mo_alloc_stats_t).  internal_frag counts, per live block,
 * its header, the rounding of the size to 16 and a split remainder too
 * small to be a block of its own. */
void mo_fl_stats(const mo_fl_t *fl, mo_alloc_stats_t *st);

/* Fills *f with the external fragmentation of the free space (O(number of
 * free blocks)). */
void mo_fl_frag(const mo_fl_t *fl, mo_fl_frag_t *f);

/* Bytes usable at p (a live block): the block size minus the header. */
size_t mo_fl_usable_size(const mo_fl_t *fl, const void *p);

/* Calls fn for every block in address order (payload pointer, usable
 * bytes, whether it is free) until fn returns nonzero, which is returned;
 * 0 otherwise.  For tests and debugging: O(number of blocks). */
int mo_fl_walk(const mo_fl_t *fl,
	       int (*fn)(void *arg, void *p, size_t usable, int is_free),
	       void *arg);

/* The bin of a free block of block_bytes bytes (see mo_fl_fit_t; 0 below
 * MO_FL_MIN_BLOCK).  Thread-safe. */
size_t mo_fl_bin(size_t block_bytes);

/* Checks the allocator's invariants: boundary tags (sizes, flags, footers,
 * no two free neighbours), every free block in the bin of its size with
 * consistent links, both bitmap levels matching the bins, as many free
 * blocks in the bins as in the region.  Returns 0, or -EFAULT and writes
 * the first violation found into why (len bytes; why may be NULL).  For
 * tests and debugging: O(number of blocks). */
int mo_fl_check(const mo_fl_t *fl, char *why, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_FREELIST_H */
