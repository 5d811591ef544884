/*
 * The tracker's side of the leak scan (doc/leaks.md).  At the very end of a
 * tracked process (after its atexit handlers, C++ static destructors and
 * the loader's destructors), or in a fatal-signal handler, it asks the
 * collector for the live blocks, stops the other threads, collects the
 * roots (registers, stacks from their stack pointers, writable mappings
 * without heap blocks) and classifies the blocks (leak_scan.h), then hands
 * the kinds back through the scan file.
 *
 * The pure part -- parsing /proc/self/maps and choosing the root ranges --
 * is separate from the in-process machinery so that it can be tested with
 * canned text (build with MO_LEAK_TESTING for the pure part only).
 */
#ifndef MO_TRACKER_LEAK_H
#define MO_TRACKER_LEAK_H

#include <stddef.h>
#include <stdint.h>

#include "mo_ring.h"
#include "tracker.h"

/* --- the pure part ------------------------------------------------------- */

/* mo_lk_map_t.prot */
#define MO_LK_R 0x1u
#define MO_LK_W 0x2u
#define MO_LK_X 0x4u
#define MO_LK_SHARED 0x8u

/* What a mapping is, from the name /proc/PID/maps gives it. */
enum mo_lk_kind {
	MO_LK_ANON = 0,	   /* no name, or [anon:NAME] */
	MO_LK_FILE = 1,	   /* a file, /dev/shm and /dev/zero included */
	MO_LK_HEAP = 2,	   /* [heap]: malloc's main arena, never a root */
	MO_LK_STACK = 3,   /* [stack]: the main thread's stack */
	MO_LK_SPECIAL = 4, /* [vdso], [vvar], [vsyscall], ...: never read */
	MO_LK_DEVICE = 5   /* another file under /dev: never read */
};

typedef struct mo_lk_map {
	uint64_t lo, hi; /* [lo, hi) */
	uint32_t prot;	 /* MO_LK_* */
	uint32_t kind;	 /* enum mo_lk_kind */
} mo_lk_map_t;

typedef struct mo_lk_range {
	uint64_t lo, hi; /* [lo, hi) */
} mo_lk_range_t;

/* Size of an arena heap of glibc's malloc (HEAP_MAX_SIZE on 64 bits): the
 * arenas of threads live in mappings aligned to it. */
#define MO_LK_ARENA_HEAP (64ull << 20)

/* Parses the text of /proc/PID/maps (len bytes, need not end with a
 * newline) into maps[0..cap), in the kernel's (address) order.  Lines that
 * do not parse are skipped.  Returns the number of mappings stored; lines
 * beyond cap are dropped.  Pure, async-signal-safe. */
size_t mo_lk_parse_maps(const char *text, size_t len, mo_lk_map_t *maps,
			size_t cap);

/* Sorts r[0..n) by lo (insertion sort: n is small).  Async-signal-safe. */
void mo_lk_sort_ranges(mo_lk_range_t *r, size_t n);

/* Receives one root range [lo, hi). */
typedef void (*mo_lk_emit_fn)(void *ctx, uint64_t lo, uint64_t hi);

/* Chooses the memory scanned whole as roots, in address order: every
 * readable, writable mapping of maps[0..n) (sorted, from
 * mo_lk_parse_maps) except [heap], the heaps of malloc's other arenas
 * (a mapping part that starts at a multiple of MO_LK_ARENA_HEAP and ends
 * where the heap's reserved, inaccessible rest begins), special and
 * device mappings; a mapping that holds blocks of blocks[0..nb) (sorted by
 * address) contributes only the gaps between them; every range of
 * skip[0..nskip) (sorted by lo, from mo_lk_sort_ranges) is left out.
 * Calls emit for each range.  Pure, async-signal-safe. */
void mo_lk_roots(const mo_lk_map_t *maps, size_t n,
		 const mo_scan_block_t *blocks, size_t nb,
		 const mo_lk_range_t *skip, size_t nskip, mo_lk_emit_fn emit,
		 void *ctx);

/* The stack of a thread whose stack pointer is sp: *scan is [sp - 128 (the
 * red zone), end of the mapping holding sp), cut to the heap block holding
 * sp if there is one, else ended at the next block; *skip is what
 * mo_lk_roots() must leave out because of it (the whole mapping below
 * scan->hi, or nothing when sp is in a block).  Returns 0, or -ENOENT if
 * no readable, writable mapping holds sp.  Pure, async-signal-safe. */
int mo_lk_stack_range(const mo_lk_map_t *maps, size_t n,
		      const mo_scan_block_t *blocks, size_t nb, uint64_t sp,
		      mo_lk_range_t *scan, mo_lk_range_t *skip);

/* glibc's struct malloc_state (2.27 and later, x86-64): offset of `top`,
 * of the first bin, and its size. */
#define MO_LK_ARENA_TOP 96
#define MO_LK_ARENA_BINS 112
#define MO_LK_ARENA_SIZE 2200

/* Reads the 8-byte word at addr into *v; returns 0 or -EFAULT. */
typedef int (*mo_lk_word_fn)(void *ctx, uint64_t addr, uint64_t *v);

/* Finds glibc's main arena (the malloc_state of the [heap] mapping
 * [heap_lo, heap_hi)) in [lo, hi), libc's writable data: its `top` points
 * to the chunk that ends the heap, and its empty bins point to
 * themselves.  Its chunk pointers (top, bins) point 16 bytes before the
 * chunks, into the last bytes of the blocks before them: scanned as roots
 * they would make lost blocks look possibly lost.  Returns the arena's
 * address (MO_LK_ARENA_SIZE bytes), or 0.  Pure, async-signal-safe. */
uint64_t mo_lk_main_arena(uint64_t lo, uint64_t hi, uint64_t heap_lo,
			  uint64_t heap_hi, mo_lk_word_fn word, void *ctx);

/* --- in the tracker ------------------------------------------------------ */

#ifndef MO_LEAK_TESTING

/* Reads MEMOPT_LEAK_CHECK (default on, "0" disables) and, when enabled,
 * installs the fatal-signal handlers (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT) where the disposition is still the default.  Call once, from
 * the tracker's initialisation, after the ring is open. */
MO_HIDDEN void mo_leak_init(void);

/* Runs the leak scan of a process that ends normally (exit(), return from
 * main, _exit()), when enabled and not done yet, then returns.  Call from
 * the tracker's exit hook before the EXIT record is written. */
MO_HIDDEN void mo_leak_at_exit(void);

/* Provided by tracker.c.  mo_tracker_scan_enter() returns 1 and marks the
 * thread as inside the tracker (nothing it does is recorded) when the
 * process is tracked, owns its ring and the thread is not already inside
 * the tracker; mo_tracker_scan_leave() ends that.  mo_tracker_own_ranges()
 * stores the tracker's own buffers (at most 4) in r and returns how many.
 * Async-signal-safe. */
MO_HIDDEN int mo_tracker_scan_enter(void);
MO_HIDDEN void mo_tracker_scan_leave(void);
MO_HIDDEN size_t mo_tracker_own_ranges(mo_lk_range_t *r);

#endif

#endif
