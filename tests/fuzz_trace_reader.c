/*
 * libFuzzer target for the trace reader and the record decoder
 * (make fuzz).  Each input is used three ways:
 *   1. as a trace file, read to the end with mo_tr_next();
 *   2. as the same file with its header and frame CRCs repaired, so that
 *      mutations get past the checksums into decompression and decoding;
 *   3. as one record block for mo_dec_next(), checking that every decoded
 *      record re-encodes with mo_enc_event() to bytes that decode to the
 *      same record;
 *   4. as one column frame (MO_FRAME_COLUMNS), decoded to the end.
 * Any crash, sanitizer report or abort() is a bug.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

#include "ev_eq.h"
#include "trace_codec.h"
#include "trace_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* --- 1, 2: the reader --- */

static int memfd_with(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-trace", MFD_CLOEXEC);
	size_t done = 0;

	if (fd < 0)
		abort();
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	return fd;
}

static void read_trace(const uint8_t *data, size_t size)
{
	const mo_tr_damage_t *dmg;
	unsigned major, minor;
	uint64_t sum = 0;
	mo_event_t ev;
	mo_tr_t *r;
	int fd = memfd_with(data, size);
	int ret;

	if (mo_tr_open_fd(&r, fd) < 0) {
		close(fd);
		return;
	}
	mo_tr_version(r, &major, &minor);
	while ((ret = mo_tr_next(r, &ev)) > 0) {
		sum += (uint64_t)ev.type + ev.stream;
		if (ev.type == MO_REC_STACK && ev.u.stack.n > 0)
			sum += ev.u.stack.ips[ev.u.stack.n - 1];
		if (mo_tr_offset(r) > mo_tr_size(r))
			abort();
	}
	if (ret < 0)
		abort(); /* only -ENOMEM / -EIO are allowed, neither here */
	dmg = mo_tr_damage(r);
	if (mo_tr_offset(r) != mo_tr_size(r) || dmg->skipped_bytes > size ||
	    (dmg->corrupt_frames || dmg->truncated) != (dmg->first_offset > 0))
		abort();
	mo_tr_close(r);
	(void)sum;
}

/* Rewrites data so that the header and every frame check: magic, major
 * version, plausible lengths and flags, CRCs. */
static void repair_and_read(const uint8_t *data, size_t size)
{
	uint8_t *f;
	size_t pos = MO_FILE_HDR_SIZE;

	if (size < MO_FILE_HDR_SIZE)
		return;
	f = malloc(size);
	if (f == NULL)
		abort();
	memcpy(f, data, size);
	memcpy(f, MO_FILE_MAGIC, MO_FILE_MAGIC_LEN);
	f[8] = MO_FORMAT_MAJOR;
	f[9] = 0;
	mo_put_le32(f + 28, (uint32_t)crc32(0, f, 28));
	while (size - pos >= MO_FRAME_HDR_SIZE) {
		uint8_t *h = f + pos;
		uint32_t plen = mo_get_le32(h + 8);
		uint32_t rlen = mo_get_le32(h + 12) % (MO_FRAME_MAX_RAW + 1);
		uint32_t flags = mo_get_le32(h + 16) &
				 (MO_FRAME_ZSTD | MO_FRAME_COLUMNS);
		uLong crc;

		if (plen > size - pos - MO_FRAME_HDR_SIZE)
			plen = (uint32_t)(size - pos - MO_FRAME_HDR_SIZE);
		if (plen == 0)
			flags &= ~MO_FRAME_ZSTD; /* zstd needs a payload */
		if (!(flags & MO_FRAME_ZSTD))
			rlen = plen;
		mo_put_le32(h, MO_FRAME_MAGIC);
		mo_put_le32(h + 8, plen);
		mo_put_le32(h + 12, rlen);
		mo_put_le32(h + 16, flags);
		crc = crc32(0, h, 20);
		crc = crc32(crc, h + MO_FRAME_HDR_SIZE, plen);
		mo_put_le32(h + 20, (uint32_t)crc);
		pos += MO_FRAME_HDR_SIZE + plen;
	}
	read_trace(f, size);
	free(f);
}

/* --- 3: the decoder and the encoder --- */

static void decode_block(const uint8_t *data, size_t size)
{
	/* Re-encoded, a record keeps its deltas, in minimal varints: it can
	 * only shrink. */
	size_t cap = 2 * size + 16;
	uint8_t *out = malloc(cap), *p = out;
	uint64_t base = 0;
	mo_dec_t a, b;
	mo_event_t ea, eb;
	int ra, rb;

	if (out == NULL)
		abort();
	mo_dec_init(&a);
	mo_dec_block(&a, data, size);
	while ((ra = mo_dec_next(&a, &ea)) > 0) {
		if (mo_enc_event_size(&ea, base) == 0)
			abort();
		p = mo_enc_event(p, out + cap, &base, &ea);
		if (p == NULL)
			abort();
	}
	/* Decode both in lockstep up to the first error of the original. */
	mo_dec_init(&b);
	mo_dec_block(&a, data, size);
	mo_dec_block(&b, out, (size_t)(p - out));
	for (;;) {
		ra = mo_dec_next(&a, &ea);
		rb = mo_dec_next(&b, &eb);
		if (ra <= 0)
			break;
		if (rb != 1 || !ev_eq(&ea, &eb))
			abort();
	}
	if (rb != 0)
		abort();
	mo_dec_free(&a);
	mo_dec_free(&b);
	free(out);
}

/* --- 4: column frames --- */

static void decode_columns(const uint8_t *data, size_t size)
{
	mo_dec_t d;
	mo_event_t ev;

	mo_dec_init(&d);
	if (mo_dec_columns(&d, data, size) == 0)
		while (mo_dec_next(&d, &ev) > 0)
			;
	mo_dec_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_trace(data, size);
	repair_and_read(data, size);
	decode_block(data, size);
	decode_columns(data, size);
	return 0;
}
