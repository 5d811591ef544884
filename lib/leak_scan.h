/*
 * Leak classification with memcheck's rules (doc/leaks.md): given the live
 * blocks sorted by address, the roots, and a way to read memory, decides
 * for every block whether it is still reachable, possibly, indirectly or
 * definitely lost.  Runs inside the profiled process at its end, so it
 * never calls malloc: the caller provides all memory.  Not thread-safe:
 * one scan at a time per mo_ls_t.
 */
#ifndef MO_LEAK_SCAN_H
#define MO_LEAK_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/trace_format.h>

#include "mo_ring.h"

/* Reads len bytes at addr into buf.  Returns 0, or -EFAULT if any byte is
 * unreadable (the scanner then treats the range as holding no pointer). */
typedef int (*mo_ls_read_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

typedef struct mo_ls mo_ls_t;

/* Bytes of scratch memory a scan of n blocks needs (for mo_ls_init): at
 * most 9 bytes per block plus 17 KiB; 0 if n is too large (2^32 blocks). */
size_t mo_ls_work_size(size_t n);

/* Prepares a scan of blocks[0..n) (sorted by address, none overlapping;
 * borrowed until mo_ls_finish) writing one enum mo_leak_kind per block to
 * kinds[0..n).  work is mo_ls_work_size(n) bytes, 16-byte aligned, owned
 * by the caller; the returned scanner lives inside it.  read is used for
 * every byte the scan looks at, roots and blocks alike.  Returns NULL if
 * work or read is NULL or n is too large. */
mo_ls_t *mo_ls_init(void *work, const mo_scan_block_t *blocks, size_t n,
		    uint8_t *kinds, mo_ls_read_fn read, void *ctx);

/* Scans [addr, addr + len) as a root: every aligned 8-byte word in it. */
void mo_ls_root_range(mo_ls_t *ls, uint64_t addr, uint64_t len);

/* A root word held outside memory (a register of a stopped thread). */
void mo_ls_root_word(mo_ls_t *ls, uint64_t value);

/* Flags of a mapping, for mo_ls_map_fn (memcheck's segment kind and
 * permissions). */
#define MO_LS_MAP_FILE 0x1u /* backed by a file */
#define MO_LS_MAP_READ 0x2u /* readable */
#define MO_LS_MAP_EXEC 0x4u /* executable */

/* Describes the mapping holding addr: returns its MO_LS_MAP_* flags and
 * stores its end (exclusive) in *end, or returns 0 when addr is unmapped.
 * Must not allocate. */
typedef unsigned (*mo_ls_map_fn)(void *ctx, uint64_t addr, uint64_t *end);

/* Optional, before the first root: lets the multipleinheritance heuristic
 * tell vtables (file-backed, readable, holding pointers to file-backed
 * executable code) from other data.  Without it that heuristic never
 * applies; the other three need only read. */
void mo_ls_set_map(mo_ls_t *ls, mo_ls_map_fn map, void *ctx);

/* Propagates from the roots, classifies the unreached blocks and fills
 * kinds.  Call once, after every root. */
void mo_ls_finish(mo_ls_t *ls);

#endif
