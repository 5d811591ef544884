/*
 * Record decoding (the encoders are inline in memopt/trace_format.h).
 * A decoder walks one record block -- a ring entry or a file frame -- and
 * turns each record into an mo_event_t.
 */
#ifndef MO_TRACE_CODEC_H
#define MO_TRACE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <memopt/trace_format.h>

typedef struct mo_str {
	const char *ptr; /* not NUL-terminated */
	size_t len;
} mo_str_t;

typedef struct mo_module_rec {
	uint64_t start, end, bias;
	mo_str_t path;
	mo_str_t build_id; /* raw bytes */
} mo_module_rec_t;

/* One decoded record.  Pointers (strings, arrays) point into the decoder's
 * block or scratch memory and stay valid until the next decode call. */
typedef struct mo_event {
	int type;	 /* enum mo_rec_type, or an unknown extension type */
	uint32_t stream; /* set by the reader: the frame's stream id */
	union {
		struct {
			uint32_t fn;
			uint64_t ptr, size, stack;
		} alloc;
		struct {
			uint64_t ptr;
		} free; /* FREE, REALLOC_PRE, REALLOC_FAIL */
		struct {
			uint32_t fn;
			uint64_t old_ptr, new_ptr, size, stack;
		} realloc;
		struct {
			uint64_t id;
			uint32_t n;
			const uint64_t *ips;
		} stack;
		struct {
			uint64_t ns;
		} tick;
		struct {
			uint32_t n;
			const mo_module_rec_t *mods;
		} modmap;
		struct {
			uint32_t pid, ppid;
			uint64_t flags, realtime_ns, mono_ns;
			mo_str_t exe;
			uint32_t argc;
			const mo_str_t *argv;
		} start;
		struct {
			uint32_t pid;
		} fork;
		struct {
			uint32_t kind; /* enum mo_exit_kind */
			uint64_t value;
		} exit;
		struct {
			uint64_t rss, hwm;
		} rss;
		struct {
			uint64_t bytes;
		} lost;
		struct {
			uint32_t len;
			const uint8_t *data;
		} ext; /* any extension record (type >= MO_REC_EXT_FIRST) */
	} u;
} mo_event_t;

/* An allocation info of a column frame. */
typedef struct mo_info {
	uint64_t size, stack;
} mo_info_t;

/* Decoder state for one block or column frame.  Initialise with
 * mo_dec_init(); the scratch arrays grow on demand and are released by
 * mo_dec_free(). */
typedef struct mo_dec {
	const uint8_t *p, *end; /* the block, or a column frame's misc column */
	uint64_t base;		/* addr delta base, reset per block */
	int columns;		/* decoding a column frame */
	const uint8_t *col[MO_COL_MISC], *col_end[MO_COL_MISC];
	uint64_t blocks; /* column frame: allocations so far */
	mo_info_t *infos;
	size_t ninfos, infos_cap;
	uint64_t *ips;
	size_t ips_cap;
	mo_module_rec_t *mods;
	size_t mods_cap;
	mo_str_t *strs;
	size_t strs_cap;
} mo_dec_t;

/* Zero-initialises d.  No allocation. */
void mo_dec_init(mo_dec_t *d);

/* Starts decoding a new record block [buf, buf + len); resets the addr
 * base.  The buffer is borrowed and must outlive the events decoded from
 * it. */
void mo_dec_block(mo_dec_t *d, const void *buf, size_t len);

/* Starts decoding a column frame (MO_FRAME_COLUMNS) [buf, buf + len).
 * Returns 0, or MO_ECORRUPT if its column table does not fit (d then
 * decodes nothing).  The buffer is borrowed, as with mo_dec_block(). */
int mo_dec_columns(mo_dec_t *d, const void *buf, size_t len);

/* Decodes the next record of the block into ev.  Returns 1 when a record
 * was decoded, 0 at the end of the block, MO_ECORRUPT for a malformed or
 * truncated record (the rest of the block is then unusable), -ENOMEM.
 * Column frames yield block records as MO_REC_ALLOC, FREE, REALLOC_PRE,
 * REALLOC, REALLOC_FAIL and BDROP events with block numbers in their ptr
 * fields; MO_REC_BLOCKS is consumed, never returned. */
int mo_dec_next(mo_dec_t *d, mo_event_t *ev);

/* Releases the scratch arrays. */
void mo_dec_free(mo_dec_t *d);

/* Re-encodes ev (as decoded by mo_dec_next) at p with addr base *base.
 * Returns the end of the encoding, or NULL if it would not fit before end.
 * Used by the collector to move records from ring entries into frames. */
uint8_t *mo_enc_event(uint8_t *p, uint8_t *end, uint64_t *base,
		      const mo_event_t *ev);

/* Exact number of bytes mo_enc_event() would write for ev with addr base
 * `base`, or 0 if ev's type cannot be encoded.  Thread-safe. */
size_t mo_enc_event_size(const mo_event_t *ev, uint64_t base);

#endif
