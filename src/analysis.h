/*
 * Trace analysis: consumes decoded records in file order and keeps, per
 * process image, everything the reports need, in memory that grows with
 * the number of distinct stacks and live blocks, never with the number of
 * events.
 *
 * Counting follows valgrind's "total heap usage" line: every successful
 * allocation call is one allocation of its requested size, every free of a
 * live block one free, and a successful realloc of a non-NULL pointer one
 * free plus one allocation (realloc(p, 0) that frees is one free).
 * Temporary allocations follow heaptrack: a block freed with no other
 * allocation in the process in between.
 * Not thread-safe.
 */
#ifndef MO_ANALYSIS_H
#define MO_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "pools.h"
#include "symbolize.h"
#include "trace_codec.h"

typedef struct mo_an mo_an_t;

/* Per-stack figures, for one process. */
typedef struct mo_site {
	uint32_t stack;	      /* analysis-wide stack index (mo_an_stack) */
	uint64_t allocations; /* calls that returned a block from here */
	uint64_t bytes;	      /* requested bytes allocated from here */
	uint64_t temporary;   /* temporary allocations from here */
	uint64_t peak_bytes;  /* live bytes from here at the process peak */
	uint64_t peak_blocks;
	uint64_t live_bytes; /* live bytes from here at the end */
	uint64_t live_blocks;
} mo_site_t;

typedef struct mo_proc {
	uint32_t stream, pid, ppid;
	int forked; /* started by fork() from ppid */
	char *exe;  /* executable path; owned by the analysis */
	uint32_t argc;
	char **argv;
	int exit_kind; /* enum mo_exit_kind; MO_EXIT_UNKNOWN if none */
	uint64_t exit_value;
	uint64_t start_realtime_ns;
	uint64_t runtime_ns; /* last time seen in the stream */
	uint64_t allocations, frees, bytes_allocated, temporary;
	uint64_t peak_heap; /* max live requested bytes */
	uint64_t peak_time_ns;
	uint64_t peak_rss;		  /* bytes; 0 if never sampled */
	uint64_t live_bytes, live_blocks; /* at the end of the stream */
	uint64_t unmatched_frees;	  /* frees of addresses not live */
	uint64_t lost_bytes;		  /* MO_REC_LOST total */
	int ended;			  /* MO_REC_END seen */
	uint64_t double_allocs;	 /* allocations of an address already live
				  * (the old block is dropped uncounted) */
	uint64_t unknown_stacks; /* allocations naming a stack id never sent */
	/* Leak scan (MO_REC_LEAKS; the last valid one of the stream wins). */
	int has_leaks;		      /* a valid MO_REC_LEAKS was seen */
	uint64_t leak_flags;	      /* its MO_SCAN_* flags (mo_ring.h) */
	uint64_t leak_threads;	      /* threads whose roots were scanned */
	uint64_t leak_scanned;	      /* blocks the scan classified */
	uint64_t leak_bad_records;    /* malformed MO_REC_LEAKS, ignored */
	uint64_t leak_unknown_blocks; /* listed blocks that were not live */
} mo_proc_t;

/* A loss record: the blocks of one leak kind allocated from one stack, as
 * classified by the process's last MO_REC_LEAKS. */
typedef struct mo_loss {
	uint32_t stack; /* analysis-wide stack index (mo_an_stack) */
	int kind;	/* enum mo_leak_kind */
	uint64_t bytes, blocks;
} mo_loss_t;

/* Sort keys for mo_an_top(). */
typedef enum mo_an_key {
	MO_BY_PEAK,	   /* peak_bytes */
	MO_BY_LIVE,	   /* live_bytes (leaks) */
	MO_BY_ALLOCATIONS, /* allocations */
	MO_BY_BYTES,	   /* bytes */
	MO_BY_TEMPORARY	   /* temporary */
} mo_an_key_t;

/* A stack frame as recorded: a module index into the symbolizer (or -1)
 * and the ELF virtual address of the return address in that module. */
typedef struct mo_rawframe {
	int module;
	uint64_t vaddr;	  /* address - bias */
	uint64_t address; /* runtime return address */
} mo_rawframe_t;

/* Creates an analysis that registers modules with sym (borrowed; must
 * outlive the analysis).  Returns NULL on allocation failure. */
mo_an_t *mo_an_new(mo_sym_t *sym);

/* Frees an and all results.  Accepts NULL. */
void mo_an_free(mo_an_t *an);

/* Feeds one record.  Records of unknown streams, unknown stacks or unknown
 * addresses are tolerated and counted, never fatal.  Returns 0 or -ENOMEM. */
int mo_an_feed(mo_an_t *an, const mo_event_t *ev);

/* Completes the figures of every process (call once, after the last feed). */
void mo_an_finish(mo_an_t *an);

/* Processes, in order of their first record. */
size_t mo_an_nprocs(const mo_an_t *an);
const mo_proc_t *mo_an_proc(const mo_an_t *an, size_t i);

/* memopt's own allocators used by process i (libmemopt instances), or
 * NULL if there is no process i.  Valid until mo_an_free(). */
const mo_pools_t *mo_an_pools(const mo_an_t *an, size_t i);

/* Writes up to n sites of process i with a nonzero key, largest first
 * (ties broken by stack index), into out; returns how many. */
size_t mo_an_top(const mo_an_t *an, size_t i, mo_an_key_t key, mo_site_t *out,
		 size_t n);

/* Number of sites (distinct stacks allocated from) of process i: an upper
 * bound for mo_an_top(). */
size_t mo_an_nsites(const mo_an_t *an, size_t i);

/* Frames of an analysis-wide stack, innermost first: *n is set to their
 * number and the returned array lives as long as an. */
const mo_rawframe_t *mo_an_stack(const mo_an_t *an, uint32_t stack,
				 uint32_t *n);

/* Loss records of process i (every block live at its last MO_REC_LEAKS,
 * still reachable ones included), largest bytes first, then more blocks,
 * more severe kind, smaller stack index.  Sets *n; returns NULL with *n =
 * 0 when the process has no leak data (mo_proc_t.has_leaks).  The array
 * lives until the next mo_an_feed() or mo_an_free(). */
const mo_loss_t *mo_an_losses(const mo_an_t *an, size_t i, size_t *n);

#endif
