/*
 * Aligned-allocation helpers over malloc: any power-of-two alignment up to
 * MO_ALIGNED_MAX, any size (not only multiples of the alignment, unlike
 * C11 aligned_alloc), and a realloc that keeps the alignment (which
 * posix_memalign memory loses through realloc).  Blocks carry a 16-byte
 * header just before the returned pointer; free them with mo_aligned_free
 * only.  See memopt-aligned(3).
 */
#ifndef MEMOPT_ALIGNED_H
#define MEMOPT_ALIGNED_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest alignment mo_aligned_alloc accepts (1 MiB). */
#define MO_ALIGNED_MAX ((size_t)1 << 20)

/* Rounds x up / down to a multiple of align (a power of two).  mo_align_up
 * wraps around on overflow: use mo_size_align() for a checked version. */
static inline uintptr_t mo_align_up(uintptr_t x, size_t align)
{
	return (x + (align - 1)) & ~(uintptr_t)(align - 1);
}

static inline uintptr_t mo_align_down(uintptr_t x, size_t align)
{
	return x & ~(uintptr_t)(align - 1);
}

/* Nonzero if p is a multiple of align (a power of two). */
static inline int mo_is_aligned(const void *p, size_t align)
{
	return ((uintptr_t)p & (align - 1)) == 0;
}

/* Returns size bytes aligned to align (a power of two, 1 to
 * MO_ALIGNED_MAX; at least 16 is always honoured), or NULL with errno set
 * to EINVAL (bad alignment) or ENOMEM (no memory, or size + alignment +
 * header overflows).  size may be 0 (a unique pointer).  The caller owns
 * the block and frees it with mo_aligned_free().  Thread-safe. */
void *mo_aligned_alloc(size_t size, size_t align);

/* mo_aligned_alloc of n * size zeroed bytes; NULL with errno ENOMEM if the
 * product overflows.  Thread-safe. */
void *mo_aligned_calloc(size_t n, size_t size, size_t align);

/* Resizes p (from mo_aligned_alloc, or NULL) to size bytes aligned to
 * align, keeping the first min(old, new) bytes.  Returns the new block, or
 * NULL with errno set and p untouched.  size 0 does not free (it returns a
 * 0-byte block).  Thread-safe for distinct blocks. */
void *mo_aligned_realloc(void *p, size_t size, size_t align);

/* Frees p (from mo_aligned_alloc/calloc/realloc, or NULL).  A pointer
 * that carries no valid header is reported with mo_alloc_misuse("aligned",
 * ...), as is, best effort, a double free (read from freed memory).  In debug
 * mode the freed bytes are poisoned with 0xdd.  Thread-safe. */
void mo_aligned_free(void *p);

/* The size requested for p (0 for NULL). */
size_t mo_aligned_size(const void *p);

/* The alignment requested for p (at least 16; 0 for NULL). */
size_t mo_aligned_alignment(const void *p);

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_ALIGNED_H */
