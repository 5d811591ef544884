/*
 * Streaming trace reader.  The file is read through one window buffer with
 * pread(); a frame is checked (magic, plausible header, CRC-32), then
 * decompressed into a raw buffer (or decoded in place when stored raw) and
 * its records handed out one by one.  Memory stays bounded by the largest
 * frame: the window never holds more than one frame plus read-ahead.
 *
 * Damage handling: a frame that fails a check is counted in the damage
 * record and the reader resynchronises on the next MO_FRAME_MAGIC whose
 * frame checks; a frame cut short by the end of the file marks the file
 * truncated and ends the read.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "errors.h"
#include "trace_reader.h"

/* Largest payload accepted: a zstd frame of a maximal raw block. */
#define MO__TR_MAX_PAYLOAD ZSTD_COMPRESSBOUND(MO_FRAME_MAX_RAW)
#define MO__TR_READAHEAD (256u << 10)
#define MO__TR_SCAN_CHUNK (64u << 10)

/* Outcome of examining the bytes at a file offset as a frame. */
enum {
	MO__FR_OK,    /* header plausible, payload present, CRC checks */
	MO__FR_BAD,   /* not a valid frame */
	MO__FR_SHORT, /* looks like a frame, but the file ends inside it */
};

static const uint8_t mo__frame_magic[4] = {
	MO_FRAME_MAGIC & 0xff, (MO_FRAME_MAGIC >> 8) & 0xff,
	(MO_FRAME_MAGIC >> 16) & 0xff, MO_FRAME_MAGIC >> 24};

struct mo_tr {
	int fd;
	unsigned major, minor;
	uint64_t size; /* file size at open */
	uint64_t off;  /* offset of the next frame: bytes consumed */

	/* Window of the file: win[0..win_len) holds [win_off, ...). */
	uint8_t *win;
	size_t win_cap, win_len;
	uint64_t win_off;

	uint8_t *raw; /* decompressed payload of the current frame */
	size_t raw_cap;
	ZSTD_DCtx *dctx;

	mo_dec_t dec;
	bool in_block;	    /* dec holds the current frame's records */
	uint32_t stream;    /* the current frame's stream id */
	uint64_t frame_off; /* the current frame's file offset */

	bool damaged;
	mo_tr_damage_t damage;
};

/* --- reading through the window --- */

/* Reads up to len bytes at off, retrying EINTR and short reads.  Returns
 * the bytes read (fewer only at the end of the file) or -errno. */
static ssize_t mo__pread_full(int fd, uint8_t *p, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, p + got, len - got, (off_t)(off + got));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int mo__tr_reserve_window(mo_tr_t *r, size_t cap)
{
	uint8_t *q;

	if (cap <= r->win_cap)
		return 0;
	q = realloc(r->win, cap);
	if (q == NULL)
		return -ENOMEM;
	r->win = q;
	r->win_cap = cap;
	return 0;
}

/* Makes the bytes [off, off + need) available, as far as the file reaches,
 * and points *out at them.  Returns how many bytes are available at off
 * (at least need unless the file ends first), or -errno.  Pointers from
 * earlier calls are invalidated. */
static ssize_t mo__tr_fill(mo_tr_t *r, uint64_t off, size_t need,
			   const uint8_t **out)
{
	uint64_t win_end = r->win_off + r->win_len;
	size_t keep = 0, want;
	ssize_t n;
	int ret;

	if (off >= r->size) {
		*out = r->win;
		return 0;
	}
	if (off >= r->win_off && off <= win_end) {
		size_t have = (size_t)(win_end - off);

		if (have >= need || win_end >= r->size) {
			*out = r->win + (off - r->win_off);
			return (ssize_t)have;
		}
		keep = have; /* the tail of the window is still useful */
	}
	want = need > MO__TR_READAHEAD ? need : MO__TR_READAHEAD;
	if (want > r->size - off)
		want = (size_t)(r->size - off);
	ret = mo__tr_reserve_window(r, want);
	if (ret < 0)
		return ret;
	if (keep > 0)
		memmove(r->win, r->win + (off - r->win_off), keep);
	n = mo__pread_full(r->fd, r->win + keep, want - keep, off + keep);
	if (n < 0) {
		r->win_len = 0;
		return n;
	}
	r->win_off = off;
	r->win_len = keep + (size_t)n;
	if (r->win_len < want)
		r->size = off + r->win_len; /* the file shrank */
	*out = r->win;
	return (ssize_t)r->win_len;
}

/* --- frames --- */

/* Header fields a frame written by mo_tw_frame() can have. */
static bool mo__tr_plausible(const uint8_t *h)
{
	uint32_t plen = mo_get_le32(h + 8);
	uint32_t rlen = mo_get_le32(h + 12);
	uint32_t flags = mo_get_le32(h + 16);

	if (mo_get_le32(h) != MO_FRAME_MAGIC || rlen > MO_FRAME_MAX_RAW ||
	    plen > MO__TR_MAX_PAYLOAD)
		return false;
	if (flags & ~(MO_FRAME_ZSTD | MO_FRAME_COLUMNS))
		return false;
	if (!(flags & MO_FRAME_ZSTD))
		return plen == rlen;
	return plen > 0;
}

static bool mo__tr_crc_ok(const uint8_t *h)
{
	uint32_t plen = mo_get_le32(h + 8);
	uLong crc = crc32(0, h, 20);

	crc = crc32(crc, h + MO_FRAME_HDR_SIZE, plen);
	return (uint32_t)crc == mo_get_le32(h + 20);
}

/* Examines the bytes at off as a frame.  Returns MO__FR_OK with *hdr
 * pointing at the frame (header and payload) in the window, MO__FR_SHORT,
 * MO__FR_BAD, or -errno. */
static int mo__tr_frame_at(mo_tr_t *r, uint64_t off, const uint8_t **hdr)
{
	const uint8_t *h;
	ssize_t n = mo__tr_fill(r, off, MO_FRAME_HDR_SIZE, &h);
	size_t total;

	if (n < 0)
		return (int)n;
	if (n < MO_FRAME_HDR_SIZE) {
		size_t m = (size_t)n < sizeof(mo__frame_magic)
				   ? (size_t)n
				   : sizeof(mo__frame_magic);

		if (m == 0 || memcmp(h, mo__frame_magic, m) == 0)
			return MO__FR_SHORT;
		return MO__FR_BAD;
	}
	if (!mo__tr_plausible(h))
		return MO__FR_BAD;
	total = MO_FRAME_HDR_SIZE + (size_t)mo_get_le32(h + 8);
	n = mo__tr_fill(r, off, total, &h);
	if (n < 0)
		return (int)n;
	if ((size_t)n < total)
		return MO__FR_SHORT;
	if (!mo__tr_crc_ok(h))
		return MO__FR_BAD;
	*hdr = h;
	return MO__FR_OK;
}

/* --- resynchronisation ---
 *
 * After a bad frame the reader looks for the first offset c >= from whose
 * bytes form a frame that checks.  Checking every plausible candidate on
 * its own would cost its payload length each, which is quadratic when
 * payloads overlap (a file full of false frame headers).  Instead the
 * bytes from `from` on are CRC'd once, as a running CRC R(x) of
 * [from, x), and each candidate is checked with CRC algebra: with
 * comb0(a, n) = crc32_combine(a, 0, n), which is linear in a, the payload
 * [c + 24, e) has CRC R(e) ^ comb0(R(c + 24), n), so the frame checks iff
 *     R(e) == crc ^ comb0(crc32(header[0..20)) ^ R(c + 24), n)
 * where crc is the stored frame CRC and n the payload length.  A candidate
 * is recorded when the running CRC reaches c + 24 and settled when it
 * reaches e; the earliest candidate wins once every earlier one failed.
 * Cost: one CRC pass plus O(log) per false frame magic.
 */

typedef struct mo__cand {
	uint64_t off; /* where the candidate frame starts */
	int state;    /* 0 unsettled, 1 checks, -1 does not */
} mo__cand_t;

typedef struct mo__pend {
	uint64_t end;	 /* where its payload ends: R(end) decides */
	uint64_t seq;	 /* the candidate's number in the queue */
	uint32_t target; /* the R(end) that makes it check */
} mo__pend_t;

typedef struct mo__resync {
	mo__cand_t *q; /* candidates by offset: q[head .. head + len) */
	size_t q_cap, q_head, q_len;
	uint64_t q_seq; /* number of q[head] */
	mo__pend_t *h;	/* min-heap of unsettled candidates by end */
	size_t h_cap, h_len;
	uint8_t *buf; /* read-ahead of the running CRC: [buf_off, +buf_len) */
	uint64_t buf_off;
	size_t buf_len;
	uint64_t pos; /* the running CRC covers [from, pos) */
	uLong crc;
} mo__resync_t;

static int mo__rs_push_cand(mo__resync_t *rs, uint64_t off)
{
	if (rs->q_head + rs->q_len == rs->q_cap && rs->q_head > 0) {
		memmove(rs->q, rs->q + rs->q_head, rs->q_len * sizeof(*rs->q));
		rs->q_head = 0;
	}
	if (rs->q_len == rs->q_cap) {
		size_t cap = rs->q_cap ? 2 * rs->q_cap : 64;
		mo__cand_t *q = realloc(rs->q, cap * sizeof(*q));

		if (q == NULL)
			return -ENOMEM;
		rs->q = q;
		rs->q_cap = cap;
	}
	rs->q[rs->q_head + rs->q_len++] = (mo__cand_t){off, 0};
	return 0;
}

static int mo__rs_push_pend(mo__resync_t *rs, mo__pend_t p)
{
	size_t i;

	if (rs->h_len == rs->h_cap) {
		size_t cap = rs->h_cap ? 2 * rs->h_cap : 64;
		mo__pend_t *h = realloc(rs->h, cap * sizeof(*h));

		if (h == NULL)
			return -ENOMEM;
		rs->h = h;
		rs->h_cap = cap;
	}
	for (i = rs->h_len++; i > 0 && rs->h[(i - 1) / 2].end > p.end;
	     i = (i - 1) / 2)
		rs->h[i] = rs->h[(i - 1) / 2];
	rs->h[i] = p;
	return 0;
}

static mo__pend_t mo__rs_pop_pend(mo__resync_t *rs)
{
	mo__pend_t top = rs->h[0], last = rs->h[--rs->h_len];
	size_t i = 0, n = rs->h_len;

	for (;;) {
		size_t k = 2 * i + 1;

		if (k >= n)
			break;
		if (k + 1 < n && rs->h[k + 1].end < rs->h[k].end)
			k++;
		if (rs->h[k].end >= last.end)
			break;
		rs->h[i] = rs->h[k];
		i = k;
	}
	if (n > 0)
		rs->h[i] = last;
	return top;
}

/* Advances the running CRC to `to`, reading ahead in MO__TR_SCAN_CHUNK
 * steps. */
static int mo__rs_crc_to(mo_tr_t *r, mo__resync_t *rs, uint64_t to)
{
	while (rs->pos < to) {
		size_t at, len;

		if (rs->pos >= rs->buf_off + rs->buf_len) {
			ssize_t n = mo__pread_full(r->fd, rs->buf,
						   MO__TR_SCAN_CHUNK, rs->pos);

			if (n < 0)
				return (int)n;
			if (n == 0)
				return -EIO; /* the file shrank under us */
			rs->buf_off = rs->pos;
			rs->buf_len = (size_t)n;
		}
		at = (size_t)(rs->pos - rs->buf_off);
		len = rs->buf_len - at;
		if (len > to - rs->pos)
			len = (size_t)(to - rs->pos);
		rs->crc = crc32(rs->crc, rs->buf + at, (uInt)len);
		rs->pos += len;
	}
	return 0;
}

/* Records the frame magic at off as a candidate if its header is
 * plausible and its payload lies inside the file; rs->pos is off + 24. */
static int mo__rs_add(mo_tr_t *r, mo__resync_t *rs, uint64_t off)
{
	const uint8_t *h;
	ssize_t n = mo__tr_fill(r, off, MO_FRAME_HDR_SIZE, &h);
	uint32_t plen;
	uLong x;
	int ret;

	if (n < 0)
		return (int)n;
	if (n < MO_FRAME_HDR_SIZE || !mo__tr_plausible(h))
		return 0;
	plen = mo_get_le32(h + 8);
	if (off + MO_FRAME_HDR_SIZE + plen > r->size)
		return 0;
	x = crc32(0, h, 20) ^ rs->crc;
	x = crc32_combine(x, 0, (z_off_t)plen) ^ mo_get_le32(h + 20);
	ret = mo__rs_push_cand(rs, off);
	if (ret == 0)
		ret = mo__rs_push_pend(
			rs,
			(mo__pend_t){off + MO_FRAME_HDR_SIZE + plen,
				     rs->q_seq + rs->q_len - 1, (uint32_t)x});
	return ret;
}

/* Finds the next frame magic at or after pos that leaves room for a frame
 * header.  Returns 1 and *hit, 0 if there is none, or -errno. */
static int mo__tr_find_magic(mo_tr_t *r, uint64_t pos, uint64_t *hit)
{
	while (pos + MO_FRAME_HDR_SIZE <= r->size) {
		const uint8_t *w, *m;
		ssize_t n = mo__tr_fill(r, pos, MO__TR_SCAN_CHUNK, &w);

		if (n < 0)
			return (int)n;
		if (n < (ssize_t)sizeof(mo__frame_magic))
			break;
		m = memmem(w, (size_t)n, mo__frame_magic,
			   sizeof(mo__frame_magic));
		if (m != NULL) {
			*hit = pos + (uint64_t)(m - w);
			return *hit + MO_FRAME_HDR_SIZE <= r->size;
		}
		pos += (uint64_t)n - (sizeof(mo__frame_magic) - 1);
	}
	return 0;
}

/* Settles the candidates whose payload ends at rs->pos, then drops failed
 * candidates from the front.  Returns 1 with *found if the front checks. */
static int mo__rs_settle(mo__resync_t *rs, uint64_t *found)
{
	while (rs->h_len > 0 && rs->h[0].end == rs->pos) {
		mo__pend_t p = mo__rs_pop_pend(rs);
		mo__cand_t *c = &rs->q[rs->q_head + (p.seq - rs->q_seq)];

		c->state = (uint32_t)rs->crc == p.target ? 1 : -1;
	}
	while (rs->q_len > 0 && rs->q[rs->q_head].state != 0) {
		if (rs->q[rs->q_head].state > 0) {
			*found = rs->q[rs->q_head].off;
			return 1;
		}
		rs->q_head++;
		rs->q_len--;
		rs->q_seq++;
	}
	return 0;
}

/* Finds the first offset >= from holding a frame that checks.  Returns 1
 * and *found, 0 if there is none, or -errno. */
static int mo__tr_resync(mo_tr_t *r, uint64_t from, uint64_t *found)
{
	mo__resync_t rs = {.pos = from, .crc = crc32(0, NULL, 0)};
	uint64_t scan = from, magic = 0;
	bool have_magic = false, scan_done = false;
	int ret;

	rs.buf = malloc(MO__TR_SCAN_CHUNK);
	if (rs.buf == NULL)
		return -ENOMEM;
	for (;;) {
		uint64_t next = UINT64_MAX;

		if (!have_magic && !scan_done) {
			ret = mo__tr_find_magic(r, scan, &magic);
			if (ret < 0)
				break;
			have_magic = ret == 1;
			scan_done = ret == 0;
		}
		if (have_magic)
			next = magic + MO_FRAME_HDR_SIZE;
		if (rs.h_len > 0 && rs.h[0].end < next)
			next = rs.h[0].end;
		ret = 0;
		if (next == UINT64_MAX)
			break; /* nothing left that could check */
		ret = mo__rs_crc_to(r, &rs, next);
		if (ret == 0 && have_magic &&
		    next == magic + MO_FRAME_HDR_SIZE) {
			have_magic = false;
			scan = magic + 1;
			ret = mo__rs_add(r, &rs, magic);
		}
		if (ret == 0)
			ret = mo__rs_settle(&rs, found);
		if (ret != 0)
			break;
	}
	free(rs.buf);
	free(rs.q);
	free(rs.h);
	return ret;
}

static void mo__tr_note_damage(mo_tr_t *r, uint64_t off)
{
	if (!r->damaged) {
		r->damaged = true;
		r->damage.first_offset = off;
	}
}

/* The frame at r->off is bad (or cut short, if short is set): count it and
 * move r->off to the next good frame, or to the end of the file. */
static int mo__tr_skip_bad(mo_tr_t *r, bool is_short)
{
	uint64_t bad = r->off, next = r->size;
	int ret = mo__tr_resync(r, bad + 1, &next);

	if (ret < 0)
		return ret;
	mo__tr_note_damage(r, bad);
	if (ret == 0 && is_short) {
		r->damage.truncated = 1; /* a frame cut by the end of file */
		r->off = r->size;
		return 0;
	}
	if (ret == 0)
		next = r->size;
	r->damage.corrupt_frames++;
	r->damage.skipped_bytes += next - bad;
	r->off = next;
	return 0;
}

/* Grows r->raw to hold len bytes. */
static int mo__tr_reserve_raw(mo_tr_t *r, size_t len)
{
	size_t cap = r->raw_cap ? r->raw_cap : 64u << 10;
	uint8_t *q;

	if (r->raw != NULL && len <= r->raw_cap)
		return 0;
	while (cap < len)
		cap *= 2;
	if (cap > MO_FRAME_MAX_RAW && len <= MO_FRAME_MAX_RAW)
		cap = MO_FRAME_MAX_RAW;
	q = realloc(r->raw, cap);
	if (q == NULL)
		return -ENOMEM;
	r->raw = q;
	r->raw_cap = cap;
	return 0;
}

/* Total content size declared by the zstd frames in [p, p + len):
 * ZSTD_CONTENTSIZE_UNKNOWN if a frame does not say, ZSTD_CONTENTSIZE_ERROR
 * if the frames are malformed. */
static unsigned long long mo__zstd_declared_size(const uint8_t *p, size_t len)
{
	unsigned long long total = 0;

	while (len > 0) {
		unsigned long long n = ZSTD_getFrameContentSize(p, len);
		size_t fsize;

		if (n == ZSTD_CONTENTSIZE_ERROR ||
		    n == ZSTD_CONTENTSIZE_UNKNOWN)
			return n;
		fsize = ZSTD_findFrameCompressedSize(p, len);
		if (ZSTD_isError(fsize) || n > MO_FRAME_MAX_RAW)
			return ZSTD_CONTENTSIZE_ERROR;
		total += n;
		p += fsize;
		len -= fsize;
	}
	return total;
}

/* Decompresses the checked frame at h into r->raw.  Returns the raw block
 * length, MO_ECORRUPT, or -ENOMEM. */
static ssize_t mo__tr_inflate(mo_tr_t *r, const uint8_t *h)
{
	size_t plen = mo_get_le32(h + 8), rlen = mo_get_le32(h + 12);
	const uint8_t *payload = h + MO_FRAME_HDR_SIZE;
	unsigned long long declared = mo__zstd_declared_size(payload, plen);
	size_t n;
	int ret;

	/* Reject a payload whose zstd headers disagree before allocating. */
	if (declared == ZSTD_CONTENTSIZE_ERROR ||
	    (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != rlen))
		return MO_ECORRUPT;
	ret = mo__tr_reserve_raw(r, rlen);
	if (ret < 0)
		return ret;
	n = ZSTD_decompressDCtx(r->dctx, r->raw, rlen, payload, plen);
	if (ZSTD_isError(n) || n != rlen)
		return MO_ECORRUPT;
	return (ssize_t)rlen;
}

/* Loads the checked frame at h, r->off into the decoder. */
static int mo__tr_load(mo_tr_t *r, const uint8_t *h)
{
	uint32_t plen = mo_get_le32(h + 8);
	const uint8_t *block = h + MO_FRAME_HDR_SIZE;
	size_t len = plen;

	r->frame_off = r->off;
	r->off += MO_FRAME_HDR_SIZE + (uint64_t)plen;
	if (mo_get_le32(h + 16) & MO_FRAME_ZSTD) {
		ssize_t n = mo__tr_inflate(r, h);

		if (n == -ENOMEM)
			return -ENOMEM;
		if (n < 0) {
			/* The CRC checked, so the frame's extent is sure: go
			 * on after it without scanning. */
			mo__tr_note_damage(r, r->frame_off);
			r->damage.corrupt_frames++;
			return 0;
		}
		block = r->raw;
		len = (size_t)n;
	}
	r->stream = mo_get_le32(h + 4);
	if (!(mo_get_le32(h + 16) & MO_FRAME_COLUMNS)) {
		mo_dec_block(&r->dec, block, len);
	} else if (mo_dec_columns(&r->dec, block, len) < 0) {
		mo__tr_note_damage(r, r->frame_off);
		r->damage.corrupt_frames++;
		return 0;
	}
	r->in_block = true;
	return 0;
}

/* Moves to the next good frame and loads it.  Returns 1 when a block is
 * loaded, 0 at the end of the file, or -errno. */
static int mo__tr_next_frame(mo_tr_t *r)
{
	while (r->off < r->size) {
		const uint8_t *h = NULL;
		int ret = mo__tr_frame_at(r, r->off, &h);

		if (ret < 0)
			return ret;
		if (ret == MO__FR_OK)
			ret = mo__tr_load(r, h);
		else
			ret = mo__tr_skip_bad(r, ret == MO__FR_SHORT);
		if (ret < 0)
			return ret;
		if (r->in_block)
			return 1;
	}
	return 0;
}

/* --- public API --- */

/* Checks the file header.  Returns 0 or a negative code (see
 * mo_tr_open()). */
static int mo__tr_check_header(mo_tr_t *r)
{
	uint8_t hdr[MO_FILE_HDR_SIZE];
	ssize_t n = mo__pread_full(r->fd, hdr, sizeof(hdr), 0);

	if (n < 0)
		return (int)n;
	if (n < MO_FILE_MAGIC_LEN ||
	    memcmp(hdr, MO_FILE_MAGIC, MO_FILE_MAGIC_LEN) != 0)
		return MO_ENOTTRACE;
	if (n < MO_FILE_HDR_SIZE)
		return MO_ETRUNC;
	r->major = (unsigned)hdr[8] | (unsigned)hdr[9] << 8;
	r->minor = (unsigned)hdr[10] | (unsigned)hdr[11] << 8;
	/* The version is checked first: another major version may lay out
	 * (and checksum) its header differently. */
	if (r->major != MO_FORMAT_MAJOR)
		return MO_EVERSION;
	if ((uint32_t)crc32(0, hdr, 28) != mo_get_le32(hdr + 28))
		return MO_EBADHDR;
	return 0;
}

/* Like mo_tr_open(), on an open file descriptor (e.g. a memfd).  On
 * success the reader owns fd and mo_tr_close() closes it; on failure the
 * caller still owns fd.  fd must support pread(). */
int mo_tr_open_fd(mo_tr_t **out, int fd)
{
	struct stat st;
	mo_tr_t *r;
	int ret;

	*out = NULL;
	if (fstat(fd, &st) < 0)
		return -errno;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->fd = fd;
	r->size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
	mo_dec_init(&r->dec);
	ret = mo__tr_check_header(r);
	if (ret < 0)
		goto fail;
	r->dctx = ZSTD_createDCtx();
	if (r->dctx == NULL) {
		ret = -ENOMEM;
		goto fail;
	}
	r->off = MO_FILE_HDR_SIZE;
	*out = r;
	return 0;
fail:
	free(r);
	return ret;
}

/* Opens path and checks its header.  See trace_reader.h. */
int mo_tr_open(mo_tr_t **out, const char *path)
{
	int fd, ret;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = mo_tr_open_fd(out, fd);
	if (ret < 0)
		close(fd);
	return ret;
}

void mo_tr_version(const mo_tr_t *r, unsigned *major, unsigned *minor)
{
	*major = r->major;
	*minor = r->minor;
}

/* Hands out the next record; frames are fetched, checked and decoded as
 * needed.  A record that fails to decode drops the rest of its frame. */
int mo_tr_next(mo_tr_t *r, mo_event_t *ev)
{
	for (;;) {
		int ret;

		if (r->in_block) {
			ret = mo_dec_next(&r->dec, ev);
			if (ret > 0) {
				ev->stream = r->stream;
				return 1;
			}
			if (ret == -ENOMEM)
				return ret; /* retrying resumes here */
			r->in_block = false;
			if (ret < 0) {
				mo__tr_note_damage(r, r->frame_off);
				r->damage.corrupt_frames++;
			}
		}
		ret = mo__tr_next_frame(r);
		if (ret <= 0)
			return ret;
	}
}

const mo_tr_damage_t *mo_tr_damage(const mo_tr_t *r)
{
	return &r->damage;
}

uint64_t mo_tr_offset(const mo_tr_t *r)
{
	return r->off;
}

uint64_t mo_tr_size(const mo_tr_t *r)
{
	return r->size;
}

/* Closes the file and frees r and its buffers.  Accepts NULL. */
void mo_tr_close(mo_tr_t *r)
{
	if (r == NULL)
		return;
	close(r->fd);
	ZSTD_freeDCtx(r->dctx);
	mo_dec_free(&r->dec);
	free(r->win);
	free(r->raw);
	free(r);
}
