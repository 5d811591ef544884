/*
 * memopt stack (LIFO) allocator: one region (the caller's buffer or an
 * mmap'd one) carved from the bottom up; only the most recent allocation
 * can be freed, or everything above a marker at once.
 *
 * Each allocation is preceded by a header of MO_STACK_HEADER bytes holding
 * the previous top, so mo_stack_free() needs no size.  Statistics: in_use
 * = requested bytes live; internal_frag = top - in_use (headers and
 * alignment padding of live allocations); capacity = the region's size;
 * frees counts mo_stack_free() calls; resets counts resets and frees to a
 * marker.
 *
 * Freeing anything but the most recent allocation (out of order, twice, a
 * foreign pointer) is always reported with mo_alloc_misuse() and ignored;
 * debug mode also poisons freed memory with MO_STACK_POISON.
 *
 * Not thread-safe: a stack must be used by one thread at a time.
 */
#ifndef MEMOPT_STACKALLOC_H
#define MEMOPT_STACKALLOC_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mo_stack mo_stack_t;

/* Bytes of header before each allocation. */
#define MO_STACK_HEADER 32
/* Byte written over freed memory in debug mode. */
#define MO_STACK_POISON 0xdd

typedef struct mo_stack_opts {
	const char *name; /* for messages and the profiler (copied) */
	unsigned flags;	  /* MO_ALLOC_DEBUG */
	size_t size;	  /* region size to mmap (page-rounded), if no buffer */
	void *buffer;	  /* or the caller's region (must outlive the stack) */
	size_t buffer_size; /* its size */
	size_t align;	    /* alignment of mo_stack_alloc (16) */
} mo_stack_opts_t;

/* A saved top (mo_stack_get_marker). */
typedef struct mo_stack_marker {
	const mo_stack_t *stack;
	size_t top;
	void *last;
	uint64_t in_use, live, gen;
} mo_stack_marker_t;

/* Creates a stack over buffer, or over size bytes mmap'd.  Returns 0 and
 * stores it in *out, -EINVAL (no size nor buffer, both, a buffer size of
 * 0, alignment not a power of two), -ENOMEM.  Thread-safe. */
int mo_stack_create(mo_stack_t **out, const mo_stack_opts_t *o);

/* Destroys the stack (unmaps its region unless it is the caller's).  NULL
 * is ignored. */
void mo_stack_destroy(mo_stack_t *s);

/* Allocates size bytes aligned to align (a power of two; at least 8 is
 * used).  Returns NULL (counted as a failure) if the region is full, the
 * size overflows or align is not a power of two. */
void *mo_stack_alloc_aligned(mo_stack_t *s, size_t size, size_t align);

/* mo_stack_alloc_aligned with the stack's default alignment. */
void *mo_stack_alloc(mo_stack_t *s, size_t size);

/* Frees p, which must be the most recent live allocation; NULL is
 * ignored.  Anything else is reported (mo_alloc_misuse) and ignored. */
void mo_stack_free(mo_stack_t *s, void *p);

/* Returns the current top. */
mo_stack_marker_t mo_stack_get_marker(const mo_stack_t *s);

/* Frees every allocation made since m was taken.  A marker of another
 * stack, above the current top, or taken before a reset is reported and
 * ignored.  The marker stays valid until the stack goes below it. */
void mo_stack_free_to_marker(mo_stack_t *s, mo_stack_marker_t m);

/* Frees everything; invalidates all markers. */
void mo_stack_reset(mo_stack_t *s);

/* Fills *st (see the top of this header). */
void mo_stack_stats(const mo_stack_t *s, mo_alloc_stats_t *st);

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_STACKALLOC_H */
