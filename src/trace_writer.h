/*
 * Trace file writer: the file header, then CRC-protected, zstd-compressed
 * frames (see memopt/trace_format.h).  Not thread-safe: one writer, one
 * thread.
 */
#ifndef MO_TRACE_WRITER_H
#define MO_TRACE_WRITER_H

#include <stddef.h>
#include <stdint.h>

typedef struct mo_tw mo_tw_t;

/* Creates path (truncating it) and writes the file header.  On success
 * stores a new writer in *out and returns 0; otherwise returns -errno.
 * The caller owns the writer and must mo_tw_close() it. */
int mo_tw_open(mo_tw_t **out, const char *path);

/* Compresses len bytes of one record block (len <= MO_FRAME_MAX_RAW) and
 * appends it as one frame of the given stream.  Returns 0 or -errno. */
int mo_tw_frame(mo_tw_t *w, uint32_t stream, const void *raw, size_t len);

/* Like mo_tw_frame(), for a column frame built by mo_cf_finish(). */
int mo_tw_columns(mo_tw_t *w, uint32_t stream, const void *raw, size_t len);

/* Bytes written to the file so far. */
uint64_t mo_tw_bytes(const mo_tw_t *w);

/* Flushes, fsyncs nothing, closes and frees w.  Returns 0 or the first
 * error met by any earlier call. */
int mo_tw_close(mo_tw_t *w);

#endif
