/*
 * memopt's own allocators as the trace reports them (MO_REC_POOL_* records,
 * written through libmemopt's profiler hooks): per instance, allocations,
 * bytes in use and their peak, and internal fragmentation (bytes reserved
 * beyond the requested ones).  Memory grows with the instances and their
 * live allocations.  Not thread-safe.
 */
#ifndef MO_POOLS_H
#define MO_POOLS_H

#include <stddef.h>
#include <stdint.h>

#include "addrmap.h"
#include "trace_codec.h"

#define MO_POOL_NAME_MAX 64

typedef struct mo_pool_info {
	uint64_t inst;			 /* the instance's address */
	char kind[MO_POOL_NAME_MAX + 1]; /* "pool", "arena", ... */
	char name[MO_POOL_NAME_MAX + 1];
	uint64_t allocs, frees, resets;
	uint64_t live;			 /* allocations live now */
	uint64_t in_use, reserved;	 /* requested / reserved bytes now */
	uint64_t peak, reserved_at_peak; /* at the peak of in_use */
	uint64_t unmatched_frees;	 /* frees of unknown addresses */
	int destroyed;
	int rewound; /* a partial release forgot which allocations live */
} mo_pool_info_t;

/* One call site of an instance: what it allocated there. */
typedef struct mo_pool_site {
	uint32_t stack; /* analysis-wide stack index */
	uint64_t allocations, bytes;
} mo_pool_site_t;

/* Translates a stream's stack id to an analysis-wide stack index;
 * returns 0, or nonzero if the stack is unknown. */
typedef int (*mo_pools_stack_fn)(void *ctx, uint64_t id, uint32_t *stack);

typedef struct mo_pools {
	mo_pool_info_t *v;   /* in order of creation */
	mo_addrmap_t *live;  /* per instance: address -> reserved bytes */
	mo_addrmap_t *sites; /* per instance: stack -> bytes, allocations */
	size_t n, cap;
	mo_addrmap_t by_inst; /* address -> index of the current instance */
	uint64_t bad_records; /* malformed payloads, ignored */
	mo_pools_stack_fn stack_of;
	void *stack_ctx;
} mo_pools_t;

/* Makes p empty.  No allocation. */
void mo_pools_init(mo_pools_t *p);

/* Releases p's memory. */
void mo_pools_free(mo_pools_t *p);

/* Nonzero for the record types mo_pools_feed() takes. */
int mo_pools_is_record(int type);

/* Sets how allocation stacks are mapped to analysis-wide stacks (without,
 * no call sites are kept). */
void mo_pools_set_stacks(mo_pools_t *p, mo_pools_stack_fn fn, void *ctx);

/* The n call sites of instance k that allocated the most bytes, most
 * first, into out; returns how many there are (at most n). */
size_t mo_pools_top_sites(const mo_pools_t *p, size_t k, mo_pool_site_t *out,
			  size_t n);

/* Applies one MO_REC_POOL_* extension event.  Returns 0 (a malformed
 * payload is counted in bad_records and ignored) or -ENOMEM.  An event
 * for an instance never created creates an unnamed one. */
int mo_pools_feed(mo_pools_t *p, const mo_event_t *ev);

#endif
