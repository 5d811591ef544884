/*
 * Record block decoder and the generic re-encoder (see
 * memopt/trace_format.h for the encoding).  Decoding never reads outside
 * [p, end): every varint, length and count is checked against the bytes
 * that remain, so a damaged block yields MO_ECORRUPT, never a crash.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "errors.h"
#include "trace_codec.h"

#define MO_LIKELY(x) __builtin_expect(!!(x), 1)
#define MO_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Smallest encodings, used to bound counts by the bytes that remain. */
#define MO__MIN_MODULE_BYTES 5 /* start end bias path-len build-id-len */

/* --- decoding primitives --- */

/* Bounds-checked varint tail: at most 10 bytes, none past end, and the
 * tenth byte may only carry bit 63. */
static bool mo__get_uv_slow(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	const uint8_t *lim = end - p > 10 ? p + 10 : end;
	uint64_t r = 0;
	unsigned shift = 0;

	while (p < lim) {
		uint8_t b = *p++;

		r |= (uint64_t)(b & 0x7f) << shift;
		if (b < 0x80) {
			if (shift == 63 && b > 1)
				return false;
			*pp = p;
			*v = r;
			return true;
		}
		shift += 7;
	}
	return false;
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the varint fast path assumes a little-endian host"
#endif

/* Packs the 7-bit groups of up to eight varint bytes (continuation bits
 * included, bytes after the varint cleared) into one value. */
static inline uint64_t mo__squeeze7(uint64_t x)
{
	x = ((x & 0x7f007f007f007f00ull) >> 1) | (x & 0x007f007f007f007full);
	x = ((x & 0x3fff00003fff0000ull) >> 2) | (x & 0x00003fff00003fffull);
	return ((x & 0x0fffffff00000000ull) >> 4) | (x & 0x000000000fffffffull);
}

/* Reads a uv at *pp, advancing it.  Fast path, when ten bytes remain (all
 * but the last record or so of a block): load eight bytes, find the first
 * byte without a continuation bit, and squeeze out the continuation bits
 * -- no branch on the varint's length, which is what makes decoding fast
 * on random-sized fields.  Values of 9-10 bytes and the block's tail take
 * the bounds-checked loop. */
static inline __attribute__((always_inline)) bool
mo__get_uv(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t x, stop;

	if (MO_UNLIKELY(end - p < 10))
		return mo__get_uv_slow(pp, end, v);
	memcpy(&x, p, sizeof(x));
	stop = ~x & 0x8080808080808080ull;
	if (MO_UNLIKELY(stop == 0))
		return mo__get_uv_slow(pp, end, v);
	*v = mo__squeeze7(x & (stop ^ (stop - 1))); /* bytes up to the last */
	*pp = p + (__builtin_ctzll(stop) + 1) / 8;
	return true;
}

/* A uv that must fit a uint32_t field. */
static inline __attribute__((always_inline)) bool
mo__get_u32(const uint8_t **pp, const uint8_t *end, uint32_t *v)
{
	uint64_t x;

	if (!mo__get_uv(pp, end, &x) || x > UINT32_MAX)
		return false;
	*v = (uint32_t)x;
	return true;
}

/* An addr field: base + unzigzag(v), wrapping; becomes the new base. */
static inline __attribute__((always_inline)) bool
mo__get_addr(const uint8_t **pp, const uint8_t *end, uint64_t *base,
	     uint64_t *v)
{
	uint64_t x;

	if (!mo__get_uv(pp, end, &x))
		return false;
	*base += (uint64_t)mo_unzigzag(x);
	*v = *base;
	return true;
}

static bool mo__get_str(const uint8_t **pp, const uint8_t *end, mo_str_t *s)
{
	uint64_t len;

	if (!mo__get_uv(pp, end, &len) || len > (uint64_t)(end - *pp))
		return false;
	s->ptr = (const char *)*pp;
	s->len = (size_t)len;
	*pp += len;
	return true;
}

/* Grows a scratch array to hold at least need elements of size elem. */
static int mo__grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return -ENOMEM;
		n *= 2;
	}
	if (n > SIZE_MAX / elem)
		return -ENOMEM;
	q = realloc(*arr, n * elem);
	if (q == NULL)
		return -ENOMEM;
	*arr = q;
	*cap = n;
	return 0;
}

/* --- decoder --- */

/* Zero-initialises d.  No allocation. */
void mo_dec_init(mo_dec_t *d)
{
	memset(d, 0, sizeof(*d));
}

/* Starts a new block; the addr base restarts at 0.  buf is borrowed. */
void mo_dec_block(mo_dec_t *d, const void *buf, size_t len)
{
	d->p = buf;
	d->end = d->p + len;
	d->base = 0;
	d->columns = 0;
}

/* Reads the column table at the start of a column frame and points each
 * column's cursor at its bytes; MO_COL_MISC is d->p .. d->end. */
int mo_dec_columns(mo_dec_t *d, const void *buf, size_t len)
{
	const uint8_t *p = buf, *end = p + len;
	uint64_t ncols, lens[MO_COL_COUNT], extra = 0, n;

	mo_dec_block(d, buf, 0); /* decodes nothing unless all is well */
	if (!mo__get_uv(&p, end, &ncols) || ncols < MO_COL_COUNT ||
	    ncols > (uint64_t)(end - p))
		return MO_ECORRUPT;
	for (uint64_t i = 0; i < ncols; i++) {
		if (!mo__get_uv(&p, end, &n) || n > (uint64_t)(end - p))
			return MO_ECORRUPT;
		if (i < MO_COL_COUNT)
			lens[i] = n;
		else
			extra += n;
	}
	for (int i = 0; i < MO_COL_COUNT; i++) {
		if (lens[i] > (uint64_t)(end - p))
			return MO_ECORRUPT;
		if (i == MO_COL_MISC) {
			d->p = p;
			d->end = p + lens[i];
		} else {
			d->col[i] = p;
			d->col_end[i] = p + lens[i];
		}
		p += lens[i];
	}
	if (extra > (uint64_t)(end - p))
		return MO_ECORRUPT;
	d->columns = 1;
	d->blocks = 0;
	d->ninfos = 0;
	return 0;
}

/* Releases the scratch arrays; d can be reused after mo_dec_init(). */
void mo_dec_free(mo_dec_t *d)
{
	free(d->infos);
	free(d->ips);
	free(d->mods);
	free(d->strs);
	mo_dec_init(d);
}

/* STACK body at p (after the type byte). */
static int mo__dec_stack(mo_dec_t *d, const uint8_t **pp, mo_event_t *ev)
{
	const uint8_t *p = *pp, *end = d->end;
	uint64_t ip = 0, delta;
	uint32_t n;
	int ret;

	if (!mo__get_uv(&p, end, &ev->u.stack.id) ||
	    !mo__get_u32(&p, end, &n) || n > (uint64_t)(end - p))
		return MO_ECORRUPT; /* every ip takes at least one byte */
	ret = mo__grow((void **)&d->ips, &d->ips_cap, n, sizeof(*d->ips));
	if (ret < 0)
		return ret;
	if (n > 0) {
		if (!mo__get_uv(&p, end, &ip))
			return MO_ECORRUPT;
		d->ips[0] = ip;
	}
	for (uint32_t i = 1; i < n; i++) {
		if (!mo__get_uv(&p, end, &delta))
			return MO_ECORRUPT;
		ip += (uint64_t)mo_unzigzag(delta);
		d->ips[i] = ip;
	}
	ev->u.stack.n = n;
	ev->u.stack.ips = d->ips;
	*pp = p;
	return 1;
}

static int mo__dec_modmap(mo_dec_t *d, const uint8_t **pp, mo_event_t *ev)
{
	const uint8_t *p = *pp, *end = d->end;
	uint32_t n;
	int ret;

	if (!mo__get_u32(&p, end, &n) ||
	    n > (uint64_t)(end - p) / MO__MIN_MODULE_BYTES)
		return MO_ECORRUPT;
	ret = mo__grow((void **)&d->mods, &d->mods_cap, n, sizeof(*d->mods));
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < n; i++) {
		mo_module_rec_t *m = &d->mods[i];

		if (!mo__get_uv(&p, end, &m->start) ||
		    !mo__get_uv(&p, end, &m->end) ||
		    !mo__get_uv(&p, end, &m->bias) ||
		    !mo__get_str(&p, end, &m->path) ||
		    !mo__get_str(&p, end, &m->build_id))
			return MO_ECORRUPT;
	}
	ev->u.modmap.n = n;
	ev->u.modmap.mods = d->mods;
	*pp = p;
	return 1;
}

static int mo__dec_proc_start(mo_dec_t *d, const uint8_t **pp, mo_event_t *ev)
{
	const uint8_t *p = *pp, *end = d->end;
	uint32_t argc;
	int ret;

	if (!mo__get_u32(&p, end, &ev->u.start.pid) ||
	    !mo__get_u32(&p, end, &ev->u.start.ppid) ||
	    !mo__get_uv(&p, end, &ev->u.start.flags) ||
	    !mo__get_uv(&p, end, &ev->u.start.realtime_ns) ||
	    !mo__get_uv(&p, end, &ev->u.start.mono_ns) ||
	    !mo__get_str(&p, end, &ev->u.start.exe) ||
	    !mo__get_u32(&p, end, &argc) || argc > (uint64_t)(end - p))
		return MO_ECORRUPT; /* every argv string takes a byte */
	ret = mo__grow((void **)&d->strs, &d->strs_cap, argc, sizeof(*d->strs));
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < argc; i++)
		if (!mo__get_str(&p, end, &d->strs[i]))
			return MO_ECORRUPT;
	ev->u.start.argc = argc;
	ev->u.start.argv = d->strs;
	*pp = p;
	return 1;
}

static int mo__dec_ext(mo_dec_t *d, const uint8_t **pp, mo_event_t *ev)
{
	const uint8_t *p = *pp, *end = d->end;
	uint64_t len;

	if (!mo__get_uv(&p, end, &len) || len > (uint64_t)(end - p) ||
	    len > UINT32_MAX)
		return MO_ECORRUPT;
	ev->u.ext.len = (uint32_t)len;
	ev->u.ext.data = p;
	*pp = p + len;
	return 1;
}

/* Rarely seen record kinds, kept out of the hot loop. */
static __attribute__((noinline)) int
mo__dec_rare(mo_dec_t *d, const uint8_t **pp, mo_event_t *ev)
{
	const uint8_t *p = *pp, *end = d->end;
	bool ok;

	switch (ev->type) {
	case MO_REC_STACK:
		return mo__dec_stack(d, pp, ev);
	case MO_REC_MODMAP:
		return mo__dec_modmap(d, pp, ev);
	case MO_REC_PROC_START:
		return mo__dec_proc_start(d, pp, ev);
	case MO_REC_FORK:
		ok = mo__get_u32(&p, end, &ev->u.fork.pid);
		break;
	case MO_REC_EXIT:
		ok = mo__get_u32(&p, end, &ev->u.exit.kind) &&
		     mo__get_uv(&p, end, &ev->u.exit.value);
		break;
	case MO_REC_RSS:
		ok = mo__get_uv(&p, end, &ev->u.rss.rss) &&
		     mo__get_uv(&p, end, &ev->u.rss.hwm);
		break;
	case MO_REC_LOST:
		ok = mo__get_uv(&p, end, &ev->u.lost.bytes);
		break;
	case MO_REC_END:
	case MO_REC_SCAN_REQ:
		ok = true;
		break;
	default:
		if (ev->type >= MO_REC_EXT_FIRST && ev->type <= MO_REC_EXT_LAST)
			return mo__dec_ext(d, pp, ev);
		return MO_ECORRUPT; /* 0, unknown fixed types, >= 0x80 */
	}
	if (!ok)
		return MO_ECORRUPT;
	*pp = p;
	return 1;
}

/* The general decoder: every record kind, every check. */
static __attribute__((noinline)) int mo__dec_next_slow(mo_dec_t *d,
						       mo_event_t *ev)
{
	const uint8_t *p = d->p, *end = d->end;
	uint64_t base = d->base;
	bool ok;
	int ret;

	if (p >= end)
		return 0;
	ev->type = *p++;
	switch (ev->type) {
	case MO_REC_ALLOC:
		ok = mo__get_u32(&p, end, &ev->u.alloc.fn) &&
		     mo__get_addr(&p, end, &base, &ev->u.alloc.ptr) &&
		     mo__get_uv(&p, end, &ev->u.alloc.size) &&
		     mo__get_uv(&p, end, &ev->u.alloc.stack);
		break;
	case MO_REC_FREE:
	case MO_REC_REALLOC_PRE:
	case MO_REC_REALLOC_FAIL:
		ok = mo__get_addr(&p, end, &base, &ev->u.free.ptr);
		break;
	case MO_REC_REALLOC:
		ok = mo__get_u32(&p, end, &ev->u.realloc.fn) &&
		     mo__get_addr(&p, end, &base, &ev->u.realloc.old_ptr) &&
		     mo__get_addr(&p, end, &base, &ev->u.realloc.new_ptr) &&
		     mo__get_uv(&p, end, &ev->u.realloc.size) &&
		     mo__get_uv(&p, end, &ev->u.realloc.stack);
		break;
	case MO_REC_TICK:
		ok = mo__get_uv(&p, end, &ev->u.tick.ns);
		break;
	default:
		ret = mo__dec_rare(d, &p, ev);
		if (ret < 0)
			return ret;
		ok = true;
		break;
	}
	if (MO_UNLIKELY(!ok))
		return MO_ECORRUPT;
	d->p = p;
	d->base = base;
	return 1;
}

/* --- the fast path for the frequent small records --- */

/* Bit i set: byte i of the 8 at p has no continuation bit (ends a varint).
 * The multiplication gathers the eight flag bits into the top byte. */
static inline uint64_t mo__ends8(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	w = (~w & 0x8080808080808080ull) >> 7;
	return (w * 0x0102040810204080ull) >> 56;
}

/* Decodes the n varints that start at p + skip, provided they all end
 * within 16 bytes of p and none is longer than 8 bytes (else returns 0,
 * and the caller takes the general path).  All varint ends come from one
 * mask, so the fields are extracted independently instead of one after the
 * other.  Needs 24 readable bytes at p.  Returns the record's length. */
static inline __attribute__((always_inline)) size_t
mo__fast_uvs(const uint8_t *p, unsigned skip, uint64_t *v, unsigned n)
{
	static const uint64_t keep[9] = {
		0,	    0xff,	  0xffff,	  0xffffff,
		0xffffffff, 0xffffffffff, 0xffffffffffff, 0xffffffffffffff,
		~0ull};
	uint64_t ends = mo__ends8(p) | mo__ends8(p + 8) << 8;
	unsigned start = skip;

	ends &= ~0ull << skip; /* the type byte and fields already read */
#pragma GCC unroll 4
	for (unsigned k = 0; k < n; k++) {
		unsigned last, len;
		uint64_t x;

		if (ends == 0)
			return 0;
		last = (unsigned)__builtin_ctzll(ends);
		len = last + 1 - start;
		if (len > 8)
			return 0;
		memcpy(&x, p + start, sizeof(x));
		v[k] = mo__squeeze7(x & keep[len]);
		start = last + 1;
		ends &= ends - 1;
	}
	return start;
}

#define MO__FAST_MIN 24 /* bytes mo__fast_uvs() may read */

/* Decodes one record of a record block.  ALLOC and FREE -- nearly all of
 * a ring's records -- take the fast path when it applies; everything else,
 * the block's last bytes and every malformed record take the general one,
 * which makes the decisions about errors.  On error d->p stays at the bad
 * record, so calling again returns the same error. */
static inline __attribute__((always_inline)) int mo__dec_row(mo_dec_t *d,
							     mo_event_t *ev)
{
	const uint8_t *p = d->p;
	uint64_t v[4];
	size_t n;

	if (MO_UNLIKELY(d->end - p < MO__FAST_MIN))
		return mo__dec_next_slow(d, ev);
	switch (p[0]) {
	case MO_REC_ALLOC:
		/* fn is one byte in practice: take it directly */
		if (MO_UNLIKELY(p[1] >= 0x80))
			break;
		n = mo__fast_uvs(p, 2, v, 3);
		if (MO_UNLIKELY(n == 0))
			break;
		d->base += (uint64_t)mo_unzigzag(v[0]);
		ev->type = MO_REC_ALLOC;
		ev->u.alloc.fn = p[1];
		ev->u.alloc.ptr = d->base;
		ev->u.alloc.size = v[1];
		ev->u.alloc.stack = v[2];
		d->p = p + n;
		return 1;
	case MO_REC_FREE:
		n = mo__fast_uvs(p, 1, v, 1);
		if (MO_UNLIKELY(n == 0))
			break;
		d->base += (uint64_t)mo_unzigzag(v[0]);
		ev->type = MO_REC_FREE;
		ev->u.free.ptr = d->base;
		d->p = p + n;
		return 1;
	default:
		break;
	}
	return mo__dec_next_slow(d, ev);
}

/* --- column frames --- */

/* A column frame's cursors, advanced only once a whole record decoded. */
typedef struct mo__ccur {
	const uint8_t *fn, *ref, *info, *misc;
} mo__ccur_t;

/* A ref field: the block it names. */
static inline bool mo__get_ref(const mo_dec_t *d, mo__ccur_t *c,
			       uint64_t *block)
{
	uint64_t ref;

	if (!mo__get_uv(&c->ref, d->col_end[MO_COL_REF], &ref) ||
	    ref > d->blocks)
		return false;
	*block = ref ? d->blocks - ref + 1 : MO_BLOCK_UNKNOWN;
	return true;
}

/* An info field.  A new info (0) is read from misc into *fresh, which the
 * caller appends once the whole record has decoded. */
static inline bool mo__get_info(const mo_dec_t *d, mo__ccur_t *c,
				mo_info_t *info, bool *fresh)
{
	uint64_t k;

	if (!mo__get_uv(&c->info, d->col_end[MO_COL_INFO], &k))
		return false;
	if (k == 0) {
		*fresh = true;
		return mo__get_uv(&c->misc, d->end, &info->size) &&
		       mo__get_uv(&c->misc, d->end, &info->stack);
	}
	if (k > d->ninfos)
		return false;
	*info = d->infos[k - 1];
	return true;
}

static inline bool mo__get_fn(const mo_dec_t *d, mo__ccur_t *c, uint32_t *fn)
{
	return mo__get_u32(&c->fn, d->col_end[MO_COL_FN], fn);
}

/* Decodes the block record `type` from the columns into ev (the caller
 * counts a new block).  Returns false if a field is malformed. */
static bool mo__dec_block_rec(const mo_dec_t *d, int type, mo__ccur_t *c,
			      mo_event_t *ev, mo_info_t *info, bool *fresh)
{
	uint64_t next = d->blocks + 1;

	switch (type) {
	case MO_REC_BALLOC:
		ev->type = MO_REC_ALLOC;
		ev->u.alloc.ptr = next;
		if (!mo__get_fn(d, c, &ev->u.alloc.fn) ||
		    !mo__get_info(d, c, info, fresh))
			return false;
		ev->u.alloc.size = info->size;
		ev->u.alloc.stack = info->stack;
		return true;
	case MO_REC_BREALLOC:
	case MO_REC_BREALLOC_FREE:
		ev->type = MO_REC_REALLOC;
		if (!mo__get_fn(d, c, &ev->u.realloc.fn) ||
		    !mo__get_ref(d, c, &ev->u.realloc.old_ptr))
			return false;
		if (type == MO_REC_BREALLOC_FREE) {
			ev->u.realloc.new_ptr = 0;
			ev->u.realloc.size = 0;
			ev->u.realloc.stack = 0;
			return true;
		}
		if (!mo__get_info(d, c, info, fresh))
			return false;
		ev->u.realloc.new_ptr = next;
		ev->u.realloc.size = info->size;
		ev->u.realloc.stack = info->stack;
		return true;
	case MO_REC_BFREE:
		ev->type = MO_REC_FREE;
		return mo__get_ref(d, c, &ev->u.free.ptr);
	case MO_REC_BREALLOC_PRE:
		ev->type = MO_REC_REALLOC_PRE;
		return mo__get_ref(d, c, &ev->u.free.ptr);
	case MO_REC_BREALLOC_FAIL:
		ev->type = MO_REC_REALLOC_FAIL;
		return mo__get_ref(d, c, &ev->u.free.ptr);
	case MO_REC_BDROP:
		ev->type = MO_REC_BDROP;
		return mo__get_ref(d, c, &ev->u.free.ptr);
	default:
		return false;
	}
}

/* A record block carried in the misc column: its type must match ops. */
static int mo__dec_misc_row(mo_dec_t *d, int type, mo_event_t *ev)
{
	int ret;

	if (d->p >= d->end || *d->p != type)
		return MO_ECORRUPT;
	ret = mo__dec_row(d, ev);
	if (ret == 1)
		d->col[MO_COL_OPS]++;
	return ret;
}

/* Decodes the next record of a column frame.  Cursors move only when a
 * record decoded, so an error repeats if called again. */
static __attribute__((noinline)) int mo__dec_column(mo_dec_t *d, mo_event_t *ev)
{
	for (;;) {
		mo__ccur_t c = {d->col[MO_COL_FN], d->col[MO_COL_REF],
				d->col[MO_COL_INFO], d->p};
		mo_info_t info = {0, 0};
		bool fresh = false;
		uint64_t count;
		int type;

		if (d->col[MO_COL_OPS] == d->col_end[MO_COL_OPS])
			return 0;
		type = *d->col[MO_COL_OPS];
		if (type == MO_REC_BLOCKS) {
			if (!mo__get_uv(&c.misc, d->end, &count))
				return MO_ECORRUPT;
			d->blocks = count;
		} else if (type >= MO_REC_BALLOC && type <= MO_REC_BDROP) {
			if (!mo__dec_block_rec(d, type, &c, ev, &info, &fresh))
				return MO_ECORRUPT;
			if (fresh) {
				int ret = mo__grow((void **)&d->infos,
						   &d->infos_cap, d->ninfos + 1,
						   sizeof(*d->infos));
				if (ret < 0)
					return ret;
				d->infos[d->ninfos++] = info;
			}
			if (type == MO_REC_BALLOC || type == MO_REC_BREALLOC)
				d->blocks++;
		} else {
			return mo__dec_misc_row(d, type, ev);
		}
		d->col[MO_COL_OPS]++;
		d->col[MO_COL_FN] = c.fn;
		d->col[MO_COL_REF] = c.ref;
		d->col[MO_COL_INFO] = c.info;
		d->p = c.misc;
		if (type != MO_REC_BLOCKS)
			return 1;
	}
}

/* Decodes the next record of a record block or column frame.  Not
 * thread-safe (per decoder). */
int mo_dec_next(mo_dec_t *d, mo_event_t *ev)
{
	if (MO_LIKELY(!d->columns))
		return mo__dec_row(d, ev);
	return mo__dec_column(d, ev);
}

/* --- encoder --- */

static inline size_t mo__uv_len(uint64_t v)
{
	return (size_t)(64 - __builtin_clzll(v | 1) + 6) / 7;
}

static inline size_t mo__sv_len(int64_t v)
{
	return mo__uv_len(mo_zigzag(v));
}

static inline size_t mo__str_len(mo_str_t s)
{
	return mo__uv_len(s.len) + s.len;
}

static size_t mo__stack_size(const mo_event_t *ev)
{
	const uint64_t *ips = ev->u.stack.ips;
	uint32_t n = ev->u.stack.n;
	size_t sz = 1 + mo__uv_len(ev->u.stack.id) + mo__uv_len(n);

	if (n > 0)
		sz += mo__uv_len(ips[0]);
	for (uint32_t i = 1; i < n; i++)
		sz += mo__sv_len((int64_t)(ips[i] - ips[i - 1]));
	return sz;
}

static size_t mo__modmap_size(const mo_event_t *ev)
{
	size_t sz = 1 + mo__uv_len(ev->u.modmap.n);

	for (uint32_t i = 0; i < ev->u.modmap.n; i++) {
		const mo_module_rec_t *m = &ev->u.modmap.mods[i];

		sz += mo__uv_len(m->start) + mo__uv_len(m->end) +
		      mo__uv_len(m->bias) + mo__str_len(m->path) +
		      mo__str_len(m->build_id);
	}
	return sz;
}

static size_t mo__proc_start_size(const mo_event_t *ev)
{
	size_t sz = 1 + mo__uv_len(ev->u.start.pid) +
		    mo__uv_len(ev->u.start.ppid) +
		    mo__uv_len(ev->u.start.flags) +
		    mo__uv_len(ev->u.start.realtime_ns) +
		    mo__uv_len(ev->u.start.mono_ns) +
		    mo__str_len(ev->u.start.exe) + mo__uv_len(ev->u.start.argc);

	for (uint32_t i = 0; i < ev->u.start.argc; i++)
		sz += mo__str_len(ev->u.start.argv[i]);
	return sz;
}

/* Exact encoded size of ev with addr base `base`, or 0 if ev's type cannot
 * be encoded (0, 0x0f..0x3f, >= 0x80).  Thread-safe. */
size_t mo_enc_event_size(const mo_event_t *ev, uint64_t base)
{
	switch (ev->type) {
	case MO_REC_ALLOC:
		return 1 + mo__uv_len(ev->u.alloc.fn) +
		       mo__sv_len((int64_t)(ev->u.alloc.ptr - base)) +
		       mo__uv_len(ev->u.alloc.size) +
		       mo__uv_len(ev->u.alloc.stack);
	case MO_REC_FREE:
	case MO_REC_REALLOC_PRE:
	case MO_REC_REALLOC_FAIL:
		return 1 + mo__sv_len((int64_t)(ev->u.free.ptr - base));
	case MO_REC_REALLOC:
		return 1 + mo__uv_len(ev->u.realloc.fn) +
		       mo__sv_len((int64_t)(ev->u.realloc.old_ptr - base)) +
		       mo__sv_len((int64_t)(ev->u.realloc.new_ptr -
					    ev->u.realloc.old_ptr)) +
		       mo__uv_len(ev->u.realloc.size) +
		       mo__uv_len(ev->u.realloc.stack);
	case MO_REC_STACK:
		return mo__stack_size(ev);
	case MO_REC_TICK:
		return 1 + mo__uv_len(ev->u.tick.ns);
	case MO_REC_MODMAP:
		return mo__modmap_size(ev);
	case MO_REC_PROC_START:
		return mo__proc_start_size(ev);
	case MO_REC_FORK:
		return 1 + mo__uv_len(ev->u.fork.pid);
	case MO_REC_EXIT:
		return 1 + mo__uv_len(ev->u.exit.kind) +
		       mo__uv_len(ev->u.exit.value);
	case MO_REC_RSS:
		return 1 + mo__uv_len(ev->u.rss.rss) +
		       mo__uv_len(ev->u.rss.hwm);
	case MO_REC_LOST:
		return 1 + mo__uv_len(ev->u.lost.bytes);
	case MO_REC_END:
	case MO_REC_SCAN_REQ:
		return 1;
	default:
		if (ev->type >= MO_REC_EXT_FIRST && ev->type <= MO_REC_EXT_LAST)
			return 1 + mo__uv_len(ev->u.ext.len) + ev->u.ext.len;
		return 0;
	}
}

static uint8_t *mo__put_mo_str(uint8_t *p, mo_str_t s)
{
	p = mo_put_uv(p, s.len);
	if (s.len > 0)
		memcpy(p, s.ptr, s.len);
	return p + s.len;
}

static uint8_t *mo__enc_modmap(uint8_t *p, const mo_event_t *ev)
{
	*p++ = MO_REC_MODMAP;
	p = mo_put_uv(p, ev->u.modmap.n);
	for (uint32_t i = 0; i < ev->u.modmap.n; i++) {
		const mo_module_rec_t *m = &ev->u.modmap.mods[i];

		p = mo_put_uv(p, m->start);
		p = mo_put_uv(p, m->end);
		p = mo_put_uv(p, m->bias);
		p = mo__put_mo_str(p, m->path);
		p = mo__put_mo_str(p, m->build_id);
	}
	return p;
}

static uint8_t *mo__enc_proc_start(uint8_t *p, const mo_event_t *ev)
{
	*p++ = MO_REC_PROC_START;
	p = mo_put_uv(p, ev->u.start.pid);
	p = mo_put_uv(p, ev->u.start.ppid);
	p = mo_put_uv(p, ev->u.start.flags);
	p = mo_put_uv(p, ev->u.start.realtime_ns);
	p = mo_put_uv(p, ev->u.start.mono_ns);
	p = mo__put_mo_str(p, ev->u.start.exe);
	p = mo_put_uv(p, ev->u.start.argc);
	for (uint32_t i = 0; i < ev->u.start.argc; i++)
		p = mo__put_mo_str(p, ev->u.start.argv[i]);
	return p;
}

static uint8_t *mo__enc_ext(uint8_t *p, const mo_event_t *ev)
{
	*p++ = (uint8_t)ev->type;
	p = mo_put_uv(p, ev->u.ext.len);
	if (ev->u.ext.len > 0)
		memcpy(p, ev->u.ext.data, ev->u.ext.len);
	return p + ev->u.ext.len;
}

/* Writes ev at p; the caller has checked that it fits. */
static uint8_t *mo__enc_fitting(uint8_t *p, uint64_t *base,
				const mo_event_t *ev)
{
	switch (ev->type) {
	case MO_REC_ALLOC:
		return mo_enc_alloc(p, base, ev->u.alloc.fn, ev->u.alloc.ptr,
				    ev->u.alloc.size, ev->u.alloc.stack);
	case MO_REC_FREE:
	case MO_REC_REALLOC_PRE:
	case MO_REC_REALLOC_FAIL:
		return mo_enc_ptr(p, base, (unsigned)ev->type, ev->u.free.ptr);
	case MO_REC_REALLOC:
		return mo_enc_realloc(p, base, ev->u.realloc.fn,
				      ev->u.realloc.old_ptr,
				      ev->u.realloc.new_ptr, ev->u.realloc.size,
				      ev->u.realloc.stack);
	case MO_REC_STACK:
		return mo_enc_stack(p, ev->u.stack.id, ev->u.stack.ips,
				    ev->u.stack.n);
	case MO_REC_TICK:
		return mo_enc_u1(p, MO_REC_TICK, ev->u.tick.ns);
	case MO_REC_MODMAP:
		return mo__enc_modmap(p, ev);
	case MO_REC_PROC_START:
		return mo__enc_proc_start(p, ev);
	case MO_REC_FORK:
		return mo_enc_u1(p, MO_REC_FORK, ev->u.fork.pid);
	case MO_REC_EXIT:
		return mo_enc_u2(p, MO_REC_EXIT, ev->u.exit.kind,
				 ev->u.exit.value);
	case MO_REC_RSS:
		return mo_enc_u2(p, MO_REC_RSS, ev->u.rss.rss, ev->u.rss.hwm);
	case MO_REC_LOST:
		return mo_enc_u1(p, MO_REC_LOST, ev->u.lost.bytes);
	case MO_REC_END:
	case MO_REC_SCAN_REQ:
		*p++ = (uint8_t)ev->type;
		return p;
	default:
		return mo__enc_ext(p, ev);
	}
}

/* Re-encodes ev at p.  Returns the end of the encoding, or NULL (nothing
 * written, *base unchanged) if it would not fit before end or ev's type
 * cannot be encoded.  Thread-safe (per buffer). */
static bool mo__is_small(int type)
{
	return type == MO_REC_ALLOC || type == MO_REC_FREE ||
	       type == MO_REC_REALLOC_PRE || type == MO_REC_REALLOC_FAIL ||
	       type == MO_REC_REALLOC || type == MO_REC_TICK;
}

uint8_t *mo_enc_event(uint8_t *p, uint8_t *end, uint64_t *base,
		      const mo_event_t *ev)
{
	/* The frequent small records need no exact size when there is room
	 * for the largest of them. */
	if (p != NULL && end >= p && (size_t)(end - p) >= MO_REC_MAX_SMALL &&
	    mo__is_small(ev->type))
		return mo__enc_fitting(p, base, ev);
	size_t need = mo_enc_event_size(ev, *base);

	if (need == 0 || p == NULL || end < p || need > (size_t)(end - p))
		return NULL;
	return mo__enc_fitting(p, base, ev);
}
