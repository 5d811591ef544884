/*
 * memopt trace format: the one contract between the tracker (lib/) and the
 * analysis engine (src/).  Everything that crosses that boundary is defined
 * here, once: the record encoding used both in the live shared-memory ring
 * and inside trace-file frames, and the on-disk file and frame layout.
 *
 * Encoding primitives
 *   uv    unsigned LEB128 varint (1..10 bytes)
 *   sv    zigzag-coded signed LEB128 varint
 *   addr  sv of (address - base), where base is the previous addr field in
 *         the same record block; base starts at 0 at the start of every
 *         block (one ring entry, or one file frame)
 *   str   uv length, then that many bytes (no terminator)
 *
 * A record is one type byte followed by its fields.  Types 0x01..0x3f have
 * the fixed layouts listed below.  Types 0x40..0x7f are extension records:
 * type, uv length, then length bytes; readers that do not know one skip it,
 * so later features can add kinds without breaking old readers.  Type 0 and
 * types >= 0x80 are invalid.
 *
 * File layout (all integers little-endian)
 *   file header, MO_FILE_HDR_SIZE bytes:
 *     0  magic[8]   MO_FILE_MAGIC
 *     8  u16        major version (MO_FORMAT_MAJOR): readers refuse others
 *    10  u16        minor version: new extension records, still readable
 *    12  u32        flags (0)
 *    16  u64        creation time, ns since the Unix epoch
 *    24  u32        reserved (0)
 *    28  u32        CRC-32 (zlib) of bytes 0..27
 *   then frames, each:
 *     0  u32        MO_FRAME_MAGIC
 *     4  u32        stream id (one per process image, assigned by the
 *                   collector; records of one stream are in program order)
 *     8  u32        payload length in the file (compressed)
 *    12  u32        raw length (after decompression, <= MO_FRAME_MAX_RAW)
 *    16  u32        flags: MO_FRAME_ZSTD if the payload is zstd-compressed
 *    20  u32        CRC-32 (zlib) of bytes 0..19 followed by the payload
 *     then the payload: a record block.
 *   A reader that meets a bad frame reports it and resynchronises on the
 *   next MO_FRAME_MAGIC whose CRC checks; a short last frame means the file
 *   was truncated.
 */
#ifndef MEMOPT_TRACE_FORMAT_H
#define MEMOPT_TRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define MO_FILE_MAGIC "\x89MEMOPT\n"
#define MO_FILE_MAGIC_LEN 8
#define MO_FORMAT_MAJOR 2
#define MO_FORMAT_MINOR 0
#define MO_FILE_HDR_SIZE 32

#define MO_FRAME_MAGIC 0x52464f4du /* "MOFR" little-endian */
#define MO_FRAME_HDR_SIZE 24
#define MO_FRAME_ZSTD 0x1u
#define MO_FRAME_COLUMNS 0x2u
#define MO_FRAME_MAX_RAW (4u << 20)

/* Record types.  Field lists use the primitives above. */
enum mo_rec_type {
	/* fn:uv ptr:addr size:uv stack:uv -- a successful allocation */
	MO_REC_ALLOC = 0x01,
	/* ptr:addr -- free() of a live, non-NULL pointer (recorded before the
	 * real free runs, so the address cannot be reused before it) */
	MO_REC_FREE = 0x02,
	/* ptr:addr -- realloc() of a non-NULL pointer is about to run: the
	 * block leaves the live set until MO_REC_REALLOC or
	 * MO_REC_REALLOC_FAIL settles it */
	MO_REC_REALLOC_PRE = 0x03,
	/* fn:uv old:addr new:addr size:uv stack:uv -- realloc succeeded; new ==
	 * 0 means old was freed and nothing allocated (realloc(p, 0)) */
	MO_REC_REALLOC = 0x04,
	/* old:addr -- realloc failed, old is live again, unchanged */
	MO_REC_REALLOC_FAIL = 0x05,
	/* id:uv n:uv ip0:uv then n-1 times sv (ip[k] - ip[k-1]); ip0 is the
	 * return address into the caller of the allocation function, later
	 * entries are its callers.  Sent once per id, before any use. */
	MO_REC_STACK = 0x06,
	/* ns:uv -- monotonic time since the stream's MO_REC_PROC_START */
	MO_REC_TICK = 0x07,
	/* n:uv then n times { start:uv end:uv bias:uv path:str build_id:str }:
	 * the complete module map, replacing any earlier one.  [start, end) is
	 * the address range of the module's PT_LOAD segments, bias is its load
	 * bias (runtime address - ELF virtual address). */
	MO_REC_MODMAP = 0x08,
	/* pid:uv ppid:uv flags:uv realtime_ns:uv mono_ns:uv exe:str argc:uv
	 * argv:str * argc -- first record of every stream */
	MO_REC_PROC_START = 0x09,
	/* child_pid:uv -- this process forked; the child starts with a copy of
	 * this process's heap at this point */
	MO_REC_FORK = 0x0a,
	/* kind:uv value:uv -- how the process ended (enum mo_exit_kind); the
	 * last one in a stream wins */
	MO_REC_EXIT = 0x0b,
	/* rss:uv hwm:uv -- resident set size and its high-water mark, bytes */
	MO_REC_RSS = 0x0c,
	/* bytes:uv -- ring bytes the collector could not recover (a writer
	 * killed in the middle of an event) */
	MO_REC_LOST = 0x0d,
	/* (no fields) -- the collector has written everything of this stream */
	MO_REC_END = 0x0e,
	/* 0x0f and 0x10 were the FREE_RECENT and ALLOC_RECENT records of
	 * format 1; they are not reused. */

	/* Block records: only in column frames (MO_FRAME_COLUMNS), which is
	 * how the collector writes trace files.  A file names heap blocks by
	 * number, not by address: block n is the one returned by the
	 * stream's n-th allocation (n >= 1, counting MO_REC_BALLOC and
	 * MO_REC_BREALLOC).  A "ref" field names block (count - ref + 1),
	 * where count is the number of allocations so far: ref 1 is the
	 * latest one.  ref 0 names a block the collector did not see being
	 * allocated (before tracking began, or lost).  Readers decode block
	 * records into MO_REC_ALLOC/FREE/REALLOC* events whose ptr fields
	 * hold block numbers (MO_BLOCK_UNKNOWN for ref 0). */

	/* count:uv [misc] -- the number of allocations the stream made before
	 * this point; first record of every column frame (and again when a
	 * forked child adopts its parent's heap) */
	MO_REC_BLOCKS = 0x11,
	/* fn:uv [fn] info:uv [info] -- an allocation: block count + 1 */
	MO_REC_BALLOC = 0x12,
	/* ref:uv [ref] -- MO_REC_FREE of that block */
	MO_REC_BFREE = 0x13,
	/* ref:uv [ref] -- MO_REC_REALLOC_PRE of that block */
	MO_REC_BREALLOC_PRE = 0x14,
	/* fn:uv [fn] ref:uv [ref] info:uv [info] -- MO_REC_REALLOC: the old
	 * block is freed and block count + 1 allocated */
	MO_REC_BREALLOC = 0x15,
	/* fn:uv [fn] ref:uv [ref] -- MO_REC_REALLOC that freed the old block
	 * and allocated nothing (realloc(p, 0)) */
	MO_REC_BREALLOC_FREE = 0x16,
	/* ref:uv [ref] -- MO_REC_REALLOC_FAIL of that block */
	MO_REC_BREALLOC_FAIL = 0x17,
	/* ref:uv [ref] -- the block's address was handed out again without a
	 * free in between (events were lost): the block is gone.  Decoded as
	 * an MO_REC_BDROP event with u.free.ptr. */
	MO_REC_BDROP = 0x18,
	/* (no fields) -- rings only: the tracker asks the collector for its
	 * live blocks, to classify leaks (lib/mo_ring.h, doc/leaks.md) */
	MO_REC_SCAN_REQ = 0x19,

	MO_REC_EXT_FIRST = 0x40,
	/* Extension kinds reserved for later work (type len:uv payload). */
	MO_REC_ALLOCATOR_STATS = 0x40, /* allocator statistics sample */
	MO_REC_ACCESS_SAMPLE = 0x41,   /* memory-access sample */
	/* memopt's own allocators (libmemopt, memopt/alloc.h), reported
	 * through the tracker's hooks; inst is the allocator instance's
	 * address, ptr an address it handed out (neither is a block number):
	 * POOL_ALLOC payload: inst:uv ptr:uv size:uv reserved:uv stack:uv --
	 * reserved is what the allocation takes in the allocator (size plus
	 * rounding, header and padding) */
	MO_REC_POOL_ALLOC = 0x42,
	/* POOL_FREE payload: inst:uv ptr:uv size:uv */
	MO_REC_POOL_FREE = 0x43,
	/* The leak scan's result, in files only, at the place where the
	 * process asked for it.  Payload: flags:uv (MO_SCAN_* of mo_ring.h),
	 * threads:uv, scanned:uv (blocks classified: every block live at this
	 * point), n:uv, then n times { dblock:uv kind:uv }: block numbers in
	 * increasing order, each the previous one (0 at first) plus dblock,
	 * and their enum mo_leak_kind (never MO_LEAK_REACHABLE): every live
	 * block not listed is still reachable.  A long list is split over
	 * several records in a row: all but the first have
	 * MO_LEAKS_CONTINUED in flags and add to the first one's list. */
	MO_REC_LEAKS = 0x44,
	/* POOL_CREATE payload: inst:uv kind:str name:str -- an allocator
	 * instance ("pool", "arena", ...) and the name its creator gave it */
	MO_REC_POOL_CREATE = 0x45,
	/* POOL_DESTROY payload: inst:uv */
	MO_REC_POOL_DESTROY = 0x46,
	/* POOL_RESET payload: inst:uv [in_use:uv reserved:uv live:uv] --
	 * everything it handed out is free; with the optional fields (an
	 * arena's rewind, a stack's free to a marker), this much stays live */
	MO_REC_POOL_RESET = 0x47,
	MO_REC_EXT_LAST = 0x7f,
};

/* Block number of a ref 0: a block the collector never saw allocated. */
#define MO_BLOCK_UNKNOWN UINT64_MAX

/* Columns of a column frame, in payload order. */
enum mo_column {
	MO_COL_OPS = 0,	 /* one byte per record: its type */
	MO_COL_FN = 1,	 /* fn fields of block records */
	MO_COL_REF = 2,	 /* ref fields of block records */
	MO_COL_INFO = 3, /* info fields of block records */
	MO_COL_MISC = 4, /* everything else */
	MO_COL_COUNT
};

/* Which interposed function produced an allocation (MO_REC_ALLOC fn). */
enum mo_alloc_fn {
	MO_FN_MALLOC = 1,
	MO_FN_CALLOC = 2,
	MO_FN_REALLOC = 3,
	MO_FN_REALLOCARRAY = 4,
	MO_FN_POSIX_MEMALIGN = 5,
	MO_FN_ALIGNED_ALLOC = 6,
	MO_FN_MEMALIGN = 7,
	MO_FN_VALLOC = 8,
	MO_FN_PVALLOC = 9,
	MO_FN_COUNT_
};

/* Leak kinds, as memcheck defines them (doc/leaks.md). */
enum mo_leak_kind {
	MO_LEAK_REACHABLE = 0, /* still reachable */
	MO_LEAK_POSSIBLE = 1,  /* possibly lost: only interior pointers */
	MO_LEAK_INDIRECT = 2,  /* indirectly lost: pointed to by a lost block */
	MO_LEAK_DEFINITE = 3   /* definitely lost */
};

/* MO_REC_LEAKS flags beyond the MO_SCAN_* bits of lib/mo_ring.h. */
#define MO_LEAKS_CONTINUED 0x100u

/* MO_REC_PROC_START flags. */
#define MO_PROC_FORKED 0x1u /* started by fork(); see MO_REC_FORK */

/* MO_REC_EXIT kinds. */
enum mo_exit_kind {
	MO_EXIT_CODE = 0,   /* exited with status value */
	MO_EXIT_SIGNAL = 1, /* killed by signal value */
	MO_EXIT_EXEC = 2,   /* replaced by exec; a new stream follows */
	MO_EXIT_UNKNOWN = 3 /* ended, status unknown to the collector */
};

/* Bound on the encoding of one fixed record other than STACK, MODMAP and
 * PROC_START (REALLOC, the largest: type + fn + 2 addr + 2 uv = 51). */
#define MO_REC_MAX_SMALL 64

/* --- encoding primitives (shared by tracker, collector and tests) --- */

static inline uint8_t *mo_put_uv(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint64_t mo_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t mo_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline uint8_t *mo_put_sv(uint8_t *p, int64_t v)
{
	return mo_put_uv(p, mo_zigzag(v));
}

static inline uint8_t *mo_put_addr(uint8_t *p, uint64_t *base, uint64_t a)
{
	p = mo_put_sv(p, (int64_t)(a - *base));
	*base = a;
	return p;
}

static inline uint8_t *mo_put_str(uint8_t *p, const void *s, size_t n)
{
	const uint8_t *c = (const uint8_t *)s;
	p = mo_put_uv(p, n);
	for (size_t i = 0; i < n; i++)
		*p++ = c[i];
	return p;
}

static inline uint8_t *mo_enc_alloc(uint8_t *p, uint64_t *base, unsigned fn,
				    uint64_t ptr, uint64_t size, uint64_t stack)
{
	*p++ = MO_REC_ALLOC;
	p = mo_put_uv(p, fn);
	p = mo_put_addr(p, base, ptr);
	p = mo_put_uv(p, size);
	return mo_put_uv(p, stack);
}

/* FREE, REALLOC_PRE and REALLOC_FAIL share this one-address layout. */
static inline uint8_t *mo_enc_ptr(uint8_t *p, uint64_t *base, unsigned type,
				  uint64_t ptr)
{
	*p++ = (uint8_t)type;
	return mo_put_addr(p, base, ptr);
}

static inline uint8_t *mo_enc_realloc(uint8_t *p, uint64_t *base, unsigned fn,
				      uint64_t old, uint64_t new_ptr,
				      uint64_t size, uint64_t stack)
{
	*p++ = MO_REC_REALLOC;
	p = mo_put_uv(p, fn);
	p = mo_put_addr(p, base, old);
	p = mo_put_addr(p, base, new_ptr);
	p = mo_put_uv(p, size);
	return mo_put_uv(p, stack);
}

/* Worst-case size of a STACK record with n frames. */
#define MO_STACK_REC_MAX(n) (1 + 10 + 10 + 10 * (size_t)(n))

static inline uint8_t *mo_enc_stack(uint8_t *p, uint64_t id,
				    const uint64_t *ips, uint32_t n)
{
	*p++ = MO_REC_STACK;
	p = mo_put_uv(p, id);
	p = mo_put_uv(p, n);
	for (uint32_t i = 0; i < n; i++)
		p = i ? mo_put_sv(p, (int64_t)(ips[i] - ips[i - 1]))
		      : mo_put_uv(p, ips[0]);
	return p;
}

static inline uint8_t *mo_enc_u1(uint8_t *p, unsigned type, uint64_t v)
{
	*p++ = (uint8_t)type;
	return mo_put_uv(p, v);
}

static inline uint8_t *mo_enc_u2(uint8_t *p, unsigned type, uint64_t a,
				 uint64_t b)
{
	*p++ = (uint8_t)type;
	p = mo_put_uv(p, a);
	return mo_put_uv(p, b);
}

static inline void mo_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void mo_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t mo_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t mo_get_le64(const uint8_t *p)
{
	return (uint64_t)mo_get_le32(p) | (uint64_t)mo_get_le32(p + 4) << 32;
}

#endif /* MEMOPT_TRACE_FORMAT_H */
