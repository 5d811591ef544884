/*
 * The tracker's stack table: deduplicates stack traces inside the profiled
 * process so that each distinct stack is sent once and events carry a small
 * id.  Lock-free: lookups are plain loads, insertion claims a slot with one
 * compare-and-swap.  Memory comes from mmap, never from the tracked malloc.
 */
#ifndef MO_TRACKER_STACK_H
#define MO_TRACKER_STACK_H

#include <stdint.h>

#include "tracker.h"

typedef struct mo_stackslot mo_stackslot_t;

/* Creates the table, dropping any previous one (used again in a forked
 * child, whose ids must start afresh).  Returns 0 or -ENOMEM.  Not
 * thread-safe: call while no other thread uses the table. */
MO_HIDDEN int mo_stacktab_init(void);

/* Hash of a stack; never 0. */
MO_HIDDEN uint64_t mo_stacktab_hash(const uint64_t *ips, uint32_t n);

/* Finds the id of ips[0..n) (hash h).  If the stack is known, returns its
 * id (> 0), *fresh = 0 and *slot = NULL.  Otherwise returns a new id with
 * *fresh = 1: the caller must send the stack's record before using the id,
 * and, when *slot is not NULL (the table had room), then call
 * mo_stacktab_publish(), so no thread can use the id before its definition
 * is in the trace.  Returns 0 if the table is not initialised.
 * Thread-safe and async-signal-safe. */
MO_HIDDEN uint32_t mo_stacktab_intern(const uint64_t *ips, uint32_t n,
				      uint64_t h, mo_stackslot_t **slot,
				      int *fresh);

/* mo_stacktab_intern() behind a per-thread memo: a stack this thread
 * interned recently, with the same innermost frames, depth and ctx (any
 * value that tends to tell call paths apart, e.g. the stack pointer), is
 * recognised by comparing its frames, without hashing or probing the table.
 * A memo hit is an exact frame-by-frame match with a published stack of
 * the current table, so its id names this very stack.  Same contract as
 * mo_stacktab_intern() otherwise.  Async-signal-safe as long as the thread
 * does not reenter it (the tracker's busy flag guarantees that). */
MO_HIDDEN uint32_t mo_stacktab_intern_ctx(const uint64_t *ips, uint32_t n,
					  uint64_t ctx, mo_stackslot_t **slot,
					  int *fresh);

/* Makes a claimed slot visible to lookups.  Thread-safe. */
MO_HIDDEN void mo_stacktab_publish(mo_stackslot_t *slot, uint32_t id);

/* The table's two mappings, [r[i][0], r[i][1]) (the leak scan leaves
 * them out of its roots); empty ranges at 0 before mo_stacktab_init().
 * Async-signal-safe. */
MO_HIDDEN void mo_stacktab_ranges(uintptr_t r[2][2]);

/* Number of distinct stacks stored, for tests and statistics. */
MO_HIDDEN uint32_t mo_stacktab_count(void);

#endif
