/*
 * Trace file reader.  Streams a trace frame by frame in bounded memory
 * (one frame at a time), verifying every frame's CRC.  Damage does not stop
 * it: a corrupt frame is skipped by resynchronising on the next valid frame
 * and a truncated tail ends the read; both are counted in mo_tr_damage().
 * Not thread-safe: one reader, one thread.
 */
#ifndef MO_TRACE_READER_H
#define MO_TRACE_READER_H

#include <stdint.h>

#include "trace_codec.h"

typedef struct mo_tr mo_tr_t;

typedef struct mo_tr_damage {
	uint64_t corrupt_frames; /* frames dropped for CRC or decode errors */
	uint64_t skipped_bytes;	 /* bytes skipped while resynchronising */
	int truncated;		 /* the file ends inside a frame */
	uint64_t first_offset;	 /* file offset of the first damage */
} mo_tr_damage_t;

/* Opens path and checks its header.  Returns 0 and a reader in *out, or
 * -errno (e.g. -ENOENT), MO_ENOTTRACE (foreign file), MO_EVERSION (other
 * major version; *out stays NULL), MO_ETRUNC (shorter than a header) or
 * MO_EBADHDR.  The caller frees the reader with mo_tr_close(). */
int mo_tr_open(mo_tr_t **out, const char *path);

/* Like mo_tr_open(), on an open file descriptor that supports pread()
 * (a regular file or a memfd).  On success the reader owns fd and
 * mo_tr_close() closes it; on failure the caller still owns fd. */
int mo_tr_open_fd(mo_tr_t **out, int fd);

/* Format version found in the header. */
void mo_tr_version(const mo_tr_t *r, unsigned *major, unsigned *minor);

/* Decodes the next record, in file order, into ev (ev->stream is set).
 * Returns 1 for a record, 0 at the end of the file, or -ENOMEM / -EIO.
 * Damaged data is skipped and recorded, never returned as an error.
 * ev's pointers are valid until the next call. */
int mo_tr_next(mo_tr_t *r, mo_event_t *ev);

/* What damage was met so far. */
const mo_tr_damage_t *mo_tr_damage(const mo_tr_t *r);

/* Current file offset and total file size, for progress display. */
uint64_t mo_tr_offset(const mo_tr_t *r);
uint64_t mo_tr_size(const mo_tr_t *r);

/* Closes the file and frees r.  Accepts NULL. */
void mo_tr_close(mo_tr_t *r);

#endif
