/*
 * Column frame builder (see colframe.h and memopt/trace_format.h).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "colframe.h"

/* Bytes one record can add to one column, other than a misc row. */
#define MO__CF_FIELD_MAX 32
/* The column table: ncols and one length per column. */
#define MO__CF_TABLE_MAX (10 * (1 + MO_COL_COUNT))

void mo_cf_init(mo_cf_t *f)
{
	memset(f, 0, sizeof(*f));
	mo_addrmap_init(&f->info_ids);
}

void mo_cf_free(mo_cf_t *f)
{
	for (int i = 0; i < MO_COL_COUNT; i++)
		free(f->col[i].b);
	mo_addrmap_free(&f->info_ids);
	free(f->infos);
	mo_cf_init(f);
}

size_t mo_cf_len(const mo_cf_t *f)
{
	size_t n = 0;

	for (int i = 0; i < MO_COL_COUNT; i++)
		n += f->col[i].len;
	return n ? n + MO__CF_TABLE_MAX : 0;
}

/* Makes room for n more bytes in column i; returns its write position. */
static uint8_t *mo__cf_room(mo_cf_t *f, int i, size_t n)
{
	mo_colbuf_t *c = &f->col[i];
	size_t cap = c->cap ? c->cap : 4096;
	uint8_t *b;

	if (c->len + n <= c->cap)
		return c->b + c->len;
	while (cap < c->len + n)
		cap *= 2;
	b = realloc(c->b, cap);
	if (!b)
		return NULL;
	c->b = b;
	c->cap = cap;
	return b + c->len;
}

/* Appends a uv to column i. */
static int mo__cf_uv(mo_cf_t *f, int i, uint64_t v)
{
	uint8_t *p = mo__cf_room(f, i, 10);

	if (!p)
		return -ENOMEM;
	f->col[i].len = (size_t)(mo_put_uv(p, v) - f->col[i].b);
	return 0;
}

/* Appends a record's type to the ops column (room was reserved). */
static void mo__cf_op(mo_cf_t *f, int type)
{
	f->col[MO_COL_OPS].b[f->col[MO_COL_OPS].len++] = (uint8_t)type;
}

/* Reserves room for one record in every column (misc_extra more bytes in
 * misc), so that a record is never left half written, and opens the frame
 * with its MO_REC_BLOCKS if this is its first record. */
static int mo__cf_reserve(mo_cf_t *f, size_t misc_extra)
{
	for (int i = 0; i < MO_COL_COUNT; i++)
		if (!mo__cf_room(f, i,
				 MO__CF_FIELD_MAX +
					 (i == MO_COL_MISC ? misc_extra : 0)))
			return -ENOMEM;
	if (!f->started) {
		mo__cf_op(f, MO_REC_BLOCKS);
		mo__cf_uv(f, MO_COL_MISC, f->blocks);
		f->started = 1;
	}
	return 0;
}

static uint64_t mo__cf_ref_of(const mo_cf_t *f, uint64_t block)
{
	return block >= 1 && block <= f->blocks ? f->blocks - block + 1 : 0;
}

static uint64_t mo__cf_info_key(uint64_t size, uint64_t stack)
{
	uint64_t h = (size * 0x9e3779b97f4a7c15ull) ^
		     (stack * 0xc2b2ae3d27d4eb4full);
	return h ^ (h >> 29);
}

/* Appends the info field of (size, stack): its number in this frame, or
 * 0 and a new definition in misc.  Needs mo__cf_reserve(). */
static int mo__cf_info(mo_cf_t *f, uint64_t size, uint64_t stack)
{
	uint64_t key = mo__cf_info_key(size, stack);
	mo_addrmap_entry_t *e = mo_addrmap_get(&f->info_ids, key);
	mo_info_t *infos;

	if (e && f->infos[e->aux - 1].size == size &&
	    f->infos[e->aux - 1].stack == stack)
		return mo__cf_uv(f, MO_COL_INFO, e->aux);
	/* New, or a hash collision: define it (again). */
	infos = f->infos;
	if (f->ninfos == f->infos_cap) {
		size_t cap = f->infos_cap ? 2 * f->infos_cap : 256;
		infos = realloc(f->infos, cap * sizeof(*infos));
		if (!infos)
			return -ENOMEM;
		f->infos = infos;
		f->infos_cap = cap;
	}
	if (mo_addrmap_put(&f->info_ids, key, 0, (uint32_t)(f->ninfos + 1),
			   NULL) < 0)
		return -ENOMEM;
	infos[f->ninfos++] = (mo_info_t){size, stack};
	mo__cf_uv(f, MO_COL_INFO, 0);
	mo__cf_uv(f, MO_COL_MISC, size);
	return mo__cf_uv(f, MO_COL_MISC, stack);
}

int mo_cf_set_blocks(mo_cf_t *f, uint64_t count)
{
	int started = f->started, r;

	f->blocks = count;
	r = mo__cf_reserve(f, 10);
	if (r < 0 || !started)
		return r; /* the frame's opening BLOCKS says it */
	mo__cf_op(f, MO_REC_BLOCKS);
	return mo__cf_uv(f, MO_COL_MISC, count);
}

int mo_cf_alloc(mo_cf_t *f, uint32_t fn, uint64_t size, uint64_t stack)
{
	int r = mo__cf_reserve(f, 0);

	if (r < 0)
		return r;
	r = mo__cf_info(f, size, stack);
	if (r < 0)
		return r;
	mo__cf_uv(f, MO_COL_FN, fn);
	f->blocks++;
	mo__cf_op(f, MO_REC_BALLOC);
	return 0;
}

int mo_cf_ref(mo_cf_t *f, int type, uint64_t block)
{
	int r;

	if (type != MO_REC_BFREE && type != MO_REC_BREALLOC_PRE &&
	    type != MO_REC_BREALLOC_FAIL && type != MO_REC_BDROP)
		return -EINVAL;
	r = mo__cf_reserve(f, 0);
	if (r < 0)
		return r;
	mo__cf_uv(f, MO_COL_REF, mo__cf_ref_of(f, block));
	mo__cf_op(f, type);
	return 0;
}

int mo_cf_realloc(mo_cf_t *f, uint32_t fn, uint64_t old, int has_new,
		  uint64_t size, uint64_t stack)
{
	int r = mo__cf_reserve(f, 0);

	if (r < 0)
		return r;
	if (has_new) {
		r = mo__cf_info(f, size, stack);
		if (r < 0)
			return r;
	}
	mo__cf_uv(f, MO_COL_FN, fn);
	mo__cf_uv(f, MO_COL_REF, mo__cf_ref_of(f, old));
	if (!has_new) {
		mo__cf_op(f, MO_REC_BREALLOC_FREE);
		return 0;
	}
	f->blocks++;
	mo__cf_op(f, MO_REC_BREALLOC);
	return 0;
}

int mo_cf_row(mo_cf_t *f, const mo_event_t *ev)
{
	/* Records other than the block ones have no addr field, so their
	 * size does not depend on the base. */
	size_t n = mo_enc_event_size(ev, 0);
	uint8_t *p, *end;
	int r;

	if (n == 0 || ev->type <= MO_REC_REALLOC_FAIL)
		return -EINVAL;
	r = mo__cf_reserve(f, n);
	if (r < 0)
		return r;
	mo__cf_op(f, ev->type);
	p = f->col[MO_COL_MISC].b + f->col[MO_COL_MISC].len;
	end = mo_enc_event(p, p + n, &f->base, ev);
	f->col[MO_COL_MISC].len = (size_t)(end - f->col[MO_COL_MISC].b);
	return 0;
}

size_t mo_cf_finish(mo_cf_t *f, uint8_t *out)
{
	uint8_t *p = out;

	if (mo_cf_len(f) == 0)
		return 0;
	p = mo_put_uv(p, MO_COL_COUNT);
	for (int i = 0; i < MO_COL_COUNT; i++)
		p = mo_put_uv(p, f->col[i].len);
	for (int i = 0; i < MO_COL_COUNT; i++) {
		if (f->col[i].len)
			memcpy(p, f->col[i].b, f->col[i].len);
		p += f->col[i].len;
		f->col[i].len = 0;
	}
	f->base = 0;
	f->started = 0;
	f->ninfos = 0;
	mo_addrmap_clear(&f->info_ids);
	return (size_t)(p - out);
}
