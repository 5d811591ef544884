/*
 * Trace file writer: a 32-byte file header, then one frame per record
 * block (24-byte header + zstd or raw payload), see memopt/trace_format.h.
 * Output goes through an in-memory buffer; large payloads bypass it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include <memopt/trace_format.h>

#include "trace_writer.h"

#define MO__TW_BUF_SIZE (256u << 10)
#define MO__TW_ZSTD_LEVEL 5

struct mo_tw {
	int fd;
	int err;	/* first error met, sticky */
	uint64_t bytes; /* logical file size: header + frames appended */
	ZSTD_CCtx *cctx;
	uint8_t *zbuf; /* compression output */
	size_t zcap;
	size_t buf_len;
	uint8_t buf[MO__TW_BUF_SIZE];
};

/* Writes all of [p, p + len) to fd, retrying short writes and EINTR. */
static int mo__write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int mo__tw_flush(mo_tw_t *w)
{
	int ret = mo__write_all(w->fd, w->buf, w->buf_len);

	w->buf_len = 0;
	return ret;
}

/* Appends bytes to the file through the buffer; blocks at least as big as
 * the buffer are written directly.  Sets the sticky error. */
static int mo__tw_append(mo_tw_t *w, const void *p, size_t len)
{
	int ret = 0;

	if (w->err)
		return w->err;
	if (len > sizeof(w->buf) - w->buf_len)
		ret = mo__tw_flush(w);
	if (ret == 0 && len >= sizeof(w->buf)) {
		ret = mo__write_all(w->fd, p, len);
	} else if (ret == 0 && len > 0) {
		memcpy(w->buf + w->buf_len, p, len);
		w->buf_len += len;
	}
	if (ret < 0) {
		w->err = ret;
		return ret;
	}
	w->bytes += len;
	return 0;
}

static void mo__tw_file_header(uint8_t hdr[MO_FILE_HDR_SIZE])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	memset(hdr, 0, MO_FILE_HDR_SIZE);
	memcpy(hdr, MO_FILE_MAGIC, MO_FILE_MAGIC_LEN);
	hdr[8] = MO_FORMAT_MAJOR & 0xff;
	hdr[9] = MO_FORMAT_MAJOR >> 8;
	hdr[10] = MO_FORMAT_MINOR & 0xff;
	hdr[11] = MO_FORMAT_MINOR >> 8;
	mo_put_le32(hdr + 12, 0);
	mo_put_le64(hdr + 16,
		    (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	mo_put_le32(hdr + 24, 0);
	mo_put_le32(hdr + 28, (uint32_t)crc32(0, hdr, 28));
}

/* Creates (or truncates) path and writes the file header.  Returns 0 and
 * the writer in *out (owned by the caller, released by mo_tw_close()), or
 * -errno / -ENOMEM with *out set to NULL. */
int mo_tw_open(mo_tw_t **out, const char *path)
{
	uint8_t hdr[MO_FILE_HDR_SIZE];
	mo_tw_t *w;
	int ret;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->cctx = ZSTD_createCCtx();
	if (w->cctx == NULL) {
		ret = -ENOMEM;
		goto fail;
	}
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel,
			       MO__TW_ZSTD_LEVEL);
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		ret = -errno;
		goto fail;
	}
	mo__tw_file_header(hdr);
	ret = mo__tw_append(w, hdr, sizeof(hdr));
	if (ret < 0)
		goto fail_fd;
	*out = w;
	return 0;
fail_fd:
	close(w->fd);
fail:
	ZSTD_freeCCtx(w->cctx);
	free(w);
	return ret;
}

/* Compresses raw into w->zbuf.  Returns the compressed size, or 0 if the
 * block should be stored raw (compression failed or did not help). */
static size_t mo__tw_compress(mo_tw_t *w, const void *raw, size_t len)
{
	size_t bound = ZSTD_compressBound(len);
	size_t n;

	if (len == 0)
		return 0;
	if (bound > w->zcap) {
		uint8_t *q = realloc(w->zbuf, bound);

		if (q == NULL)
			return 0; /* store raw rather than fail */
		w->zbuf = q;
		w->zcap = bound;
	}
	n = ZSTD_compress2(w->cctx, w->zbuf, w->zcap, raw, len);
	if (ZSTD_isError(n) || n >= len)
		return 0;
	return n;
}

/* Appends one frame for stream holding len raw bytes of the kind given by
 * kind_flags (0 or MO_FRAME_COLUMNS).  Returns 0, -EINVAL (len too big),
 * or -errno of a write error (sticky: every later call and mo_tw_close()
 * return it too). */
static int mo__tw_frame(mo_tw_t *w, uint32_t stream, const void *raw,
			size_t len, uint32_t kind_flags)
{
	uint8_t hdr[MO_FRAME_HDR_SIZE];
	const void *payload = raw;
	size_t plen = len;
	uint32_t flags = kind_flags, crc;
	size_t zlen;
	int ret;

	if (w->err)
		return w->err;
	if (len > MO_FRAME_MAX_RAW)
		return -EINVAL;
	zlen = mo__tw_compress(w, raw, len);
	if (zlen > 0) {
		payload = w->zbuf;
		plen = zlen;
		flags |= MO_FRAME_ZSTD;
	}
	mo_put_le32(hdr, MO_FRAME_MAGIC);
	mo_put_le32(hdr + 4, stream);
	mo_put_le32(hdr + 8, (uint32_t)plen);
	mo_put_le32(hdr + 12, (uint32_t)len);
	mo_put_le32(hdr + 16, flags);
	crc = (uint32_t)crc32(0, hdr, 20);
	if (plen > 0)
		crc = (uint32_t)crc32(crc, payload, (uInt)plen);
	mo_put_le32(hdr + 20, crc);
	ret = mo__tw_append(w, hdr, sizeof(hdr));
	if (ret == 0)
		ret = mo__tw_append(w, payload, plen);
	return ret;
}

int mo_tw_frame(mo_tw_t *w, uint32_t stream, const void *raw, size_t len)
{
	return mo__tw_frame(w, stream, raw, len, 0);
}

int mo_tw_columns(mo_tw_t *w, uint32_t stream, const void *raw, size_t len)
{
	return mo__tw_frame(w, stream, raw, len, MO_FRAME_COLUMNS);
}

/* Logical size of the file so far: everything appended, flushed or still
 * buffered (what the file holds after mo_tw_close()). */
uint64_t mo_tw_bytes(const mo_tw_t *w)
{
	return w->bytes;
}

/* Flushes the buffer, closes the file and frees w.  Returns 0 or the first
 * error met (including by earlier calls).  Accepts NULL. */
int mo_tw_close(mo_tw_t *w)
{
	int ret;

	if (w == NULL)
		return 0;
	ret = w->err;
	if (ret == 0)
		ret = mo__tw_flush(w);
	if (close(w->fd) < 0 && ret == 0)
		ret = -errno;
	ZSTD_freeCCtx(w->cctx);
	free(w->zbuf);
	free(w);
	return ret;
}
