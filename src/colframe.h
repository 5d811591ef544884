/*
 * Column frame builder: collects one frame's records in the columns of a
 * column frame (MO_FRAME_COLUMNS, see memopt/trace_format.h) and writes
 * the frame out.  Heap blocks are named by number: the builder counts
 * allocations, and block n is the n-th.  The collector writes trace files
 * with it.  Not thread-safe: one builder per stream.
 */
#ifndef MO_COLFRAME_H
#define MO_COLFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "addrmap.h"
#include "trace_codec.h"

typedef struct mo_colbuf {
	uint8_t *b;
	size_t len, cap;
} mo_colbuf_t;

typedef struct mo_cf {
	mo_colbuf_t col[MO_COL_COUNT];
	uint64_t blocks; /* allocations so far: the latest block's number */
	uint64_t base;	 /* addr base of the misc column */
	int started;	 /* the frame has its MO_REC_BLOCKS record */
	mo_addrmap_t info_ids; /* hash of (size, stack) -> info number */
	mo_info_t *infos;      /* the frame's infos, by number - 1 */
	size_t ninfos, infos_cap;
} mo_cf_t;

/* Makes f an empty builder whose block count is 0.  No allocation. */
void mo_cf_init(mo_cf_t *f);

/* Releases f's memory. */
void mo_cf_free(mo_cf_t *f);

/* Upper bound of the bytes mo_cf_finish() would write now; 0 when the
 * frame holds no record. */
size_t mo_cf_len(const mo_cf_t *f);

/* Sets the block count (a forked child adopting its parent's heap):
 * records a MO_REC_BLOCKS.  Returns 0 or -ENOMEM. */
int mo_cf_set_blocks(mo_cf_t *f, uint64_t count);

/* Records an allocation; its block number is then f->blocks.  Returns 0
 * or -ENOMEM. */
int mo_cf_alloc(mo_cf_t *f, uint32_t fn, uint64_t size, uint64_t stack);

/* Records a MO_REC_BFREE, BREALLOC_PRE, BREALLOC_FAIL or BDROP (type) of
 * block number `block`; 0 means a block never seen allocated.  Returns 0,
 * -EINVAL for another type, or -ENOMEM. */
int mo_cf_ref(mo_cf_t *f, int type, uint64_t block);

/* Records a successful realloc of block `old` (0: unknown).  With
 * `has_new` a new block (size, stack) is allocated, whose number is then
 * f->blocks; without, the old block was freed (realloc(p, 0)).  Returns 0
 * or -ENOMEM. */
int mo_cf_realloc(mo_cf_t *f, uint32_t fn, uint64_t old, int has_new,
		  uint64_t size, uint64_t stack);

/* Records any record that is not about heap blocks (STACK, TICK, MODMAP,
 * ...), re-encoded from ev into the misc column.  Returns 0, -EINVAL for a
 * block record (ALLOC, FREE, REALLOC*) or a type with no encoding, or
 * -ENOMEM. */
int mo_cf_row(mo_cf_t *f, const mo_event_t *ev);

/* Writes the frame to out, which has room for mo_cf_len() bytes, and
 * starts an empty one (the block count carries on).  Returns the bytes
 * written: the payload of a MO_FRAME_COLUMNS frame, 0 if it was empty. */
size_t mo_cf_finish(mo_cf_t *f, uint8_t *out);

#endif
