/*
 * Writer side of the shared-memory ring (see mo_ring.h).  One ring per
 * process image; all threads write into it.
 */
#ifndef MO_TRACKER_RING_H
#define MO_TRACKER_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mo_ring.h"
#include "tracker.h"

/* Creates "<dir>/<pid>-<nonce>.ring" of data size `size` (a power of two),
 * maps it and makes it the current ring.  The file descriptor is closed
 * before returning.  Returns 0 or -errno.  Not thread-safe: call during
 * initialisation or in a freshly forked child only. */
MO_HIDDEN int mo_ringw_open(const char *dir, pid_t pid, pid_t collector,
			    uint64_t size);

/* Forgets the current ring without touching it (after fork, the child
 * must not write into its parent's ring). */
MO_HIDDEN void mo_ringw_detach(void);

/* Appends one entry holding len payload bytes, as one unit of the global
 * event order.  Lock-free: one atomic fetch-add, then plain stores.  If the
 * ring is full it waits for the collector; if the collector has died the
 * entry is dropped and -EPIPE returned.  Async-signal-safe.  Returns 0,
 * -EINVAL (too large) or -EPIPE. */
MO_HIDDEN int mo_ringw_write(const void *payload, uint32_t len);

/* mo_ringw_write() that also gives the ring position just past the entry
 * in *end (the collector's tail reaches it once it has read the entry). */
MO_HIDDEN int mo_ringw_write_end(const void *payload, uint32_t len,
				 uint64_t *end);

/* The current ring's header, or NULL if there is none; then *path is its
 * file's path and [*lo, *hi) its mapping (both valid until the ring is
 * replaced).  Async-signal-safe. */
MO_HIDDEN mo_ring_hdr_t *mo_ringw_hdr(const char **path, uintptr_t *lo,
				      uintptr_t *hi);

/* Marks the ring as finished by an orderly exit. */
MO_HIDDEN void mo_ringw_mark_exited(void);

#endif
