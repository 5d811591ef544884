/*
 * memopt allocator library: what every allocator shares (statistics,
 * overflow-checked sizes, alignment, misuse reports, debug mode and the
 * profiler hooks).  Link with `pkg-config --cflags --libs memopt`.
 * Linking this library never replaces the application's malloc.
 */
#ifndef MEMOPT_ALLOC_H
#define MEMOPT_ALLOC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Statistics every allocator keeps (mo_<kind>_stats() fills one).
 * Sizes are in bytes; "requested" means what callers asked for. */
typedef struct mo_alloc_stats {
	uint64_t in_use;	/* requested bytes of live allocations */
	uint64_t peak;		/* high-water mark of in_use */
	uint64_t capacity;	/* bytes the allocator holds (from the system
				 * or the caller's buffer), used or not */
	uint64_t internal_frag; /* bytes reserved for live allocations beyond
				 * the requested ones (rounding, headers,
				 * alignment padding) */
	uint64_t live;		/* live allocations */
	uint64_t allocs;	/* successful allocations */
	uint64_t frees;		/* frees (a reset counts none) */
	uint64_t failures;	/* allocations that returned NULL */
	uint64_t resets;	/* resets, rewinds and releases */
} mo_alloc_stats_t;

/* Flags shared by the allocators' create functions. */
#define MO_ALLOC_DEBUG                                       \
	0x1u /* poison freed memory, detect double frees and \
	      * foreign pointers (also on for every          \
	      * allocator when built with                    \
	      * --enable-alloc-debug) */

/* --- overflow-checked size arithmetic ------------------------------------
 * Each returns 0 and stores the result, or -EOVERFLOW (*out unchanged). */
int mo_size_add(size_t a, size_t b, size_t *out);
int mo_size_mul(size_t a, size_t b, size_t *out);
/* Rounds a up to a multiple of align (a power of two). */
int mo_size_align(size_t a, size_t align, size_t *out);

/* Nonzero if a is a power of two (0 is not). */
static inline int mo_is_pow2(size_t a)
{
	return a && !(a & (a - 1));
}

/* --- misuse ---------------------------------------------------------------
 * Called by an allocator that detects misuse (a double free, a pointer it
 * does not own, a marker out of order...).  Prints one line to stderr,
 * "memopt: <kind> <name>: <what>", then calls the handler set with
 * mo_alloc_set_misuse_handler(), or abort() if none.  Thread-safe. */
void mo_alloc_misuse(const char *kind, const char *name, const char *what);

typedef void (*mo_alloc_misuse_fn)(const char *kind, const char *name,
				   const char *what);
/* Replaces the misuse handler (NULL: abort); returns the previous one.
 * For tests and for programs that want to log and continue. */
mo_alloc_misuse_fn mo_alloc_set_misuse_handler(mo_alloc_misuse_fn fn);

/* --- profiler hooks (memopt record) ---------------------------------------
 * When the program runs under memopt record, the tracker provides these,
 * and every allocator reports to them; otherwise the pointer is NULL and
 * each operation costs one predictable branch.  `inst` identifies an
 * allocator instance, `kind` is its family ("pool", "arena", ...). */
typedef struct mo_alloc_hooks {
	void (*created)(const void *inst, const char *kind, const char *name);
	void (*destroyed)(const void *inst);
	void (*alloc)(const void *inst, const void *p, size_t size,
		      size_t reserved);
	void (*free)(const void *inst, const void *p, size_t size);
	void (*reset)(const void *inst);
	/* A partial release (an arena's rewind, a stack's free to a
	 * marker): what stays live afterwards, in requested bytes, bytes
	 * taken in the allocator, and allocations. */
	void (*rewind)(const void *inst, size_t in_use, size_t reserved,
		       size_t live);
} mo_alloc_hooks_t;

extern const mo_alloc_hooks_t *mo_alloc_hooks;

#define MO_ALLOC_HOOK(fn, ...)                                       \
	do {                                                         \
		const mo_alloc_hooks_t *mo_h_ = mo_alloc_hooks;      \
		if (__builtin_expect(mo_h_ != NULL, 0) && mo_h_->fn) \
			mo_h_->fn(__VA_ARGS__);                      \
	} while (0)

#ifdef __cplusplus
}
#endif

#endif /* MEMOPT_ALLOC_H */
