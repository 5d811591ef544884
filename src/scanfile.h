/*
 * The collector's side of the leak scan (doc/leaks.md): writes a process's
 * live blocks to its scan file, sorted by address, and turns the kinds the
 * tracker wrote back into MO_REC_LEAKS payloads naming blocks by number.
 * Not thread-safe: one scan file per stream.
 */
#ifndef MO_SCANFILE_H
#define MO_SCANFILE_H

#include <stddef.h>
#include <stdint.h>

#include "addrmap.h"

/* The collector's live map stores a block's requested size in aux, or this
 * value when the size does not fit in 32 bits; the size is then in a
 * second map keyed by address. */
#define MO_SF_BIG_SIZE UINT32_MAX

typedef struct mo_sf mo_sf_t;

/* Creates the scan file at path (which must not exist) for the blocks of
 * live (key: address, size: block number, aux: size or MO_SF_BIG_SIZE with
 * the size in big).  Returns 0 and the scan in *out, or -errno (nothing is
 * left behind).  The caller frees it with mo_sf_close(). */
int mo_sf_create(mo_sf_t **out, const char *path, const mo_addrmap_t *live,
		 const mo_addrmap_t *big);

/* Callback receiving one MO_REC_LEAKS payload; returns 0 or -errno. */
typedef int (*mo_sf_emit_fn)(void *ctx, const uint8_t *payload, size_t len);

/* Reads the kinds the tracker wrote and passes the MO_REC_LEAKS payloads
 * to emit, each at most max_len bytes (>= 64): the first carries the
 * tracker's flags, the following ones MO_LEAKS_CONTINUED too.  Returns 0
 * or -errno (-ENOMEM, or emit's error). */
int mo_sf_results(mo_sf_t *sf, size_t max_len, mo_sf_emit_fn emit, void *ctx);

/* Unmaps and removes the scan file and frees sf.  NULL is allowed. */
void mo_sf_close(mo_sf_t *sf);

#endif
