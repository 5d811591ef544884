/*
 * The live transport between a tracked process and the collector: one
 * shared-memory ring per process image, in a tmpfs file the tracker creates
 * in $MEMOPT_RING_DIR and the collector (memopt record) maps and drains.
 *
 * Because the ring lives in a file, everything a process committed survives
 * exit, abort, a fatal signal and SIGKILL, and the program may close or
 * dup2() over every descriptor: the tracker keeps none open.
 *
 * Writers reserve space with one atomic fetch-add on `head`; the order of
 * reservations is the global order of events, so a free recorded before
 * the real free() and an allocation recorded after the real malloc()
 * returned can never appear out of order.  Entry layout at position pos:
 *   u32 word at data[pos & mask]: payload length | flags
 *   payload (a record block, see memopt/trace_format.h), may wrap around
 *   padding to an 8-byte boundary
 * The writer stores the length (MO_RING_LEN_SET) right after reserving,
 * copies the payload, then release-stores the word with MO_RING_COMMITTED.
 * The collector copies a committed entry out, zeroes it, then advances
 * `tail`.  A writer killed between reservation and commit loses that entry
 * only (the collector skips it once the process is gone, if the length was
 * already stored) -- at most one event per thread.
 */
#ifndef MO_RING_H
#define MO_RING_H

#include <stdatomic.h>
#include <stdint.h>

#define MO_RING_MAGIC 0x31474e4952544d4full /* "OMTRING1" */
#define MO_RING_VERSION 2
#define MO_RING_HDR_SIZE 4096
#define MO_RING_DEFAULT_SIZE (2u << 20)
#define MO_RING_ENTRY_MAX (1u << 20) /* largest payload of one entry */

#define MO_RING_LEN_MASK 0x3fffffffu
#define MO_RING_LEN_SET 0x40000000u
#define MO_RING_COMMITTED 0x80000000u

/* Environment shared by memopt record and the tracker. */
#define MO_ENV_RING_DIR "MEMOPT_RING_DIR"
#define MO_ENV_RING_SIZE "MEMOPT_RING_SIZE"
#define MO_ENV_FOLLOW_FORK "MEMOPT_FOLLOW_FORK"
#define MO_ENV_LEAK_CHECK "MEMOPT_LEAK_CHECK" /* "0": no leak scan */
#define MO_ENV_COLLECTOR_PID "MEMOPT_COLLECTOR_PID"

/* Ring file names: "<pid>-<nonce>.ring". */
#define MO_RING_SUFFIX ".ring"

typedef struct mo_ring_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;  /* offset of the data area */
	uint64_t data_size; /* power of two */
	int32_t pid;	    /* the writing process */
	int32_t collector_pid;
	uint8_t pad0[64 - 32];
	_Atomic uint64_t head; /* next byte to reserve (monotonic) */
	uint8_t pad1[64 - 8];
	_Atomic uint64_t tail; /* next byte the collector will read */
	uint8_t pad2[64 - 8];
	_Atomic uint32_t exited;   /* the tracker ran its exit hook */
	_Atomic uint64_t dropped;  /* bytes writers gave up on (no collector) */
	_Atomic uint64_t clock_ns; /* unused */
	/* Leak scan handshake (doc/leaks.md): enum mo_scan_state. */
	_Atomic uint32_t scan_state;
} mo_ring_hdr_t;

/* mo_ring_hdr_t.scan_state.  The tracker writes MO_REC_SCAN_REQ to its
 * ring and sets REQUESTED; the collector, on reaching that record, writes
 * the process's live blocks to the scan file (ring path + MO_SCAN_SUFFIX)
 * and sets READY (or DECLINED); the tracker classifies them, writes the
 * kinds into the file and sets DONE; the collector then writes
 * MO_REC_LEAKS at the request's place in the stream and removes the file.
 */
enum mo_scan_state {
	MO_SCAN_IDLE = 0,
	MO_SCAN_REQUESTED = 1,
	MO_SCAN_READY = 2,
	MO_SCAN_DONE = 3,
	MO_SCAN_DECLINED = 4
};

#define MO_SCAN_SUFFIX ".scan"
#define MO_SCAN_MAGIC 0x314e414353544d4full /* "OMTSCAN1" */

/* The scan file: this header, then n blocks sorted by address (no two
 * overlap), then n kind bytes (enum mo_leak_kind) the tracker fills. */
typedef struct mo_scan_hdr {
	uint64_t magic;
	uint64_t n;	  /* blocks */
	uint64_t flags;	  /* set by the tracker: MO_SCAN_* below */
	uint64_t threads; /* set by the tracker: threads whose roots it read */
	uint64_t reserved[4];
} mo_scan_hdr_t;

typedef struct mo_scan_block {
	uint64_t addr, size; /* size as requested by the program */
} mo_scan_block_t;

/* mo_scan_hdr_t.flags */
#define MO_SCAN_AT_EXIT 0x1u   /* ran at normal exit */
#define MO_SCAN_AT_SIGNAL 0x2u /* ran in a fatal-signal handler */
#define MO_SCAN_PARTIAL 0x4u   /* some threads could not be stopped */

/* Bytes of a scan file for n blocks. */
static inline uint64_t mo_scan_file_size(uint64_t n)
{
	return sizeof(mo_scan_hdr_t) + n * sizeof(mo_scan_block_t) + n;
}

static inline uint64_t mo_ring_entry_size(uint32_t payload_len)
{
	return ((uint64_t)payload_len + 4 + 7) & ~(uint64_t)7;
}

#endif /* MO_RING_H */
