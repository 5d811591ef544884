/*
 * memopt buddy allocator: a power-of-two region split in halves on
 * allocation and merged back with the buddy (found by XOR) on free.
 * Blocks are powers of two from the minimum block (order 0) up to the
 * region, aligned to their size; block state lives outside the blocks, so
 * the whole block is usable.  See memopt-buddy(3).
 */
#ifndef MEMOPT_BUDDY_H
#define MEMOPT_BUDDY_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mo_buddy mo_buddy_t;

/* Largest region (block slack is kept in 32 bits). */
#define MO_BUDDY_MAX_SIZE ((size_t)1 << 32)
/* Number of orders mo_buddy_info_t reports (enough for any region). */
#define MO_BUDDY_ORDERS 32
/* Default and smallest minimum block. */
#define MO_BUDDY_DEFAULT_MIN 64u
#define MO_BUDDY_SMALLEST_MIN 16u
/* Byte written over freed blocks in debug mode (after their first 16
 * bytes, which hold the free-list links); an allocation checks that the
 * block it hands out still holds it ("write after free at ADDR"). */
#define MO_BUDDY_POISON 0xdb

typedef struct mo_buddy_opts {
	const char *name; /* for misuse messages and the profiler (copied);
			   * NULL: "buddy" */
	void *buf;	  /* region to manage (16-byte aligned), owned by
			   * the caller; NULL: mmap one aligned to its size */
	size_t size;	  /* region bytes: a power of two, at least
			   * min_block, at most MO_BUDDY_MAX_SIZE */
	size_t min_block; /* order-0 block: a power of two >= 16; 0: 64 */
	unsigned flags;	  /* MO_ALLOC_DEBUG */
} mo_buddy_opts_t;

typedef struct mo_buddy_info {
	size_t min_block;    /* bytes of an order-0 block */
	unsigned max_order;  /* order of the whole region */
	uint64_t splits;     /* blocks split in two, since create */
	uint64_t merges;     /* buddy pairs merged, since create */
	size_t free_bytes;   /* bytes in free blocks */
	size_t largest_free; /* largest free block */
	size_t free_blocks[MO_BUDDY_ORDERS + 1]; /* free blocks per order */
} mo_buddy_info_t;

/* Creates a buddy allocator over o->buf, or over a fresh mapping of
 * o->size bytes aligned to o->size.  Returns 0 and stores the handle in
 * *out, or -EINVAL (bad options), -ENOMEM.  Not thread-safe: one thread at
 * a time per allocator. */
int mo_buddy_create(mo_buddy_t **out, const mo_buddy_opts_t *o);

/* Unmaps the region if the allocator mapped it and frees the handle.
 * NULL is ignored. */
void mo_buddy_destroy(mo_buddy_t *b);

/* Returns the smallest free block (splitting larger ones) of at least
 * size bytes (0 gives an order-0 block), or NULL and a failure counted.
 * A block of 2^k bytes is aligned to min(2^k, alignment of the region). */
void *mo_buddy_alloc(mo_buddy_t *b, size_t size);

/* Like mo_buddy_alloc() with the block aligned to align (a power of two):
 * allocates a block of at least max(size, align) bytes.  NULL and a
 * failure if the region itself is not aligned to align. */
void *mo_buddy_alloc_aligned(mo_buddy_t *b, size_t size, size_t align);

/* Frees a block and merges it with its buddy while the buddy is free.
 * NULL is ignored.  Foreign pointers, pointers inside a block and double
 * frees are reported with mo_alloc_misuse() and ignored if the handler
 * returns. */
void mo_buddy_free(mo_buddy_t *b, void *p);

/* Frees everything: the region is one free block again. */
void mo_buddy_reset(mo_buddy_t *b);

/* Fills *st; internal_frag is the sum of block size minus requested size
 * over live blocks. */
void mo_buddy_stats(const mo_buddy_t *b, mo_alloc_stats_t *st);

/* Fills *info (O(orders)). */
void mo_buddy_info(const mo_buddy_t *b, mo_buddy_info_t *info);

/* Bytes of the live block at p (its power-of-two size), or 0 and a misuse
 * report if p is not a live block. */
size_t mo_buddy_usable_size(const mo_buddy_t *b, const void *p);

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_BUDDY_H */
