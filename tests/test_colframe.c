/*
 * Column frames: the builder (colframe.c) against the decoder
 * (mo_dec_columns, mo_dec_next), the exact layout, and damage.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "colframe.h"
#include "errors.h"
#include "trace_codec.h"
#include "trace_reader.h"
#include "trace_writer.h"

#include "ev_eq.h"

/* A frame the builder wrote, with room to spare. */
typedef struct frame {
	uint8_t *b;
	size_t len;
} frame_t;

static frame_t finish(mo_cf_t *f)
{
	size_t bound = mo_cf_len(f);
	frame_t fr = {malloc(bound + 1), 0};

	cr_assert_not_null(fr.b);
	fr.len = mo_cf_finish(f, fr.b);
	cr_assert_leq(fr.len, bound);
	return fr;
}

/* Decodes fr and checks it yields exactly want[0..n). */
static void expect_events(const frame_t *fr, const mo_event_t *want, size_t n)
{
	mo_dec_t d;
	mo_event_t ev;

	mo_dec_init(&d);
	cr_assert_eq(mo_dec_columns(&d, fr->b, fr->len), 0);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(mo_dec_next(&d, &ev), 1, "record %zu", i);
		cr_assert(ev_eq(&want[i], &ev), "record %zu: type %#x vs %#x",
			  i, want[i].type, ev.type);
	}
	cr_assert_eq(mo_dec_next(&d, &ev), 0);
	mo_dec_free(&d);
}

static mo_event_t ev_alloc(uint32_t fn, uint64_t block, uint64_t size,
			   uint64_t stack)
{
	mo_event_t e = {.type = MO_REC_ALLOC};

	e.u.alloc.fn = fn;
	e.u.alloc.ptr = block;
	e.u.alloc.size = size;
	e.u.alloc.stack = stack;
	return e;
}

static mo_event_t ev_ptr(int type, uint64_t block)
{
	mo_event_t e = {.type = type};

	e.u.free.ptr = block;
	return e;
}

static mo_event_t ev_realloc(uint32_t fn, uint64_t old, uint64_t new_block,
			     uint64_t size, uint64_t stack)
{
	mo_event_t e = {.type = MO_REC_REALLOC};

	e.u.realloc.fn = fn;
	e.u.realloc.old_ptr = old;
	e.u.realloc.new_ptr = new_block;
	e.u.realloc.size = size;
	e.u.realloc.stack = stack;
	return e;
}

static mo_event_t ev_tick(uint64_t ns)
{
	mo_event_t e = {.type = MO_REC_TICK};

	e.u.tick.ns = ns;
	return e;
}

/* The layout of trace_format.h, byte for byte. */
Test(colframe, exact_layout)
{
	/* clang-format off */
	static const uint8_t want[] = {
		5,			    /* ncols */
		5, 2, 1, 2, 5,		    /* column lengths */
		MO_REC_BLOCKS,		    /* ops */
		MO_REC_BALLOC, MO_REC_BALLOC, MO_REC_BFREE, MO_REC_TICK,
		MO_FN_MALLOC, MO_FN_CALLOC, /* fn */
		2,			    /* ref: block 7 of 8 */
		0, 1,			    /* info: new, then the first */
		6,			    /* misc: the BLOCKS count */
		24, 3,			    /* the info: size 24, stack 3 */
		MO_REC_TICK, 100,	    /* the TICK, as a row record */
	};
	/* clang-format on */
	mo_cf_t f;
	frame_t fr;

	mo_cf_init(&f);
	cr_assert_eq(mo_cf_len(&f), 0);
	f.blocks = 6;
	cr_assert_eq(mo_cf_alloc(&f, MO_FN_MALLOC, 24, 3), 0);
	cr_assert_eq(f.blocks, 7);
	cr_assert_eq(mo_cf_alloc(&f, MO_FN_CALLOC, 24, 3), 0);
	cr_assert_eq(f.blocks, 8);
	cr_assert_eq(mo_cf_ref(&f, MO_REC_BFREE, 7), 0);
	mo_event_t t = ev_tick(100);
	cr_assert_eq(mo_cf_row(&f, &t), 0);
	fr = finish(&f);
	cr_assert_eq(fr.len, sizeof(want));
	cr_expect_arr_eq(fr.b, want, sizeof(want));

	mo_event_t ev[] = {ev_alloc(MO_FN_MALLOC, 7, 24, 3),
			   ev_alloc(MO_FN_CALLOC, 8, 24, 3),
			   ev_ptr(MO_REC_FREE, 7), t};
	expect_events(&fr, ev, 4);
	free(fr.b);
	/* the block count carries on; the next frame opens with it */
	cr_assert_eq(mo_cf_len(&f), 0);
	cr_assert_eq(mo_cf_ref(&f, MO_REC_BFREE, 8), 0);
	fr = finish(&f);
	mo_event_t ev2 = ev_ptr(MO_REC_FREE, 8);
	expect_events(&fr, &ev2, 1);
	free(fr.b);
	mo_cf_free(&f);
}

/* Every block record, unknown blocks, realloc(p, 0), set_blocks in the
 * middle of a frame (a forked child adopting its parent's heap). */
Test(colframe, every_block_record)
{
	mo_cf_t f;
	frame_t fr;

	mo_cf_init(&f);
	cr_assert_eq(mo_cf_alloc(&f, MO_FN_MALLOC, 10, 1), 0); /* 1 */
	cr_assert_eq(mo_cf_ref(&f, MO_REC_BREALLOC_PRE, 1), 0);
	cr_assert_eq(mo_cf_realloc(&f, MO_FN_REALLOC, 1, 1, 20, 2), 0); /* 2 */
	cr_assert_eq(mo_cf_ref(&f, MO_REC_BREALLOC_PRE, 2), 0);
	cr_assert_eq(mo_cf_ref(&f, MO_REC_BREALLOC_FAIL, 2), 0);
	cr_assert_eq(mo_cf_ref(&f, MO_REC_BREALLOC_PRE, 2), 0);
	cr_assert_eq(mo_cf_realloc(&f, MO_FN_REALLOCARRAY, 2, 0, 0, 0), 0);
	cr_assert_eq(mo_cf_ref(&f, MO_REC_BFREE, 0), 0);
	cr_assert_eq(mo_cf_ref(&f, MO_REC_BFREE, 99), 0); /* never seen */
	cr_assert_eq(mo_cf_ref(&f, MO_REC_BDROP, 1), 0);
	cr_assert_eq(mo_cf_set_blocks(&f, 1000), 0);
	cr_assert_eq(mo_cf_alloc(&f, MO_FN_MEMALIGN, 10, 1), 0); /* 1001 */
	cr_assert_eq(mo_cf_ref(&f, MO_REC_BFREE, 1000), 0);
	cr_assert_eq(mo_cf_ref(&f, MO_REC_FREE, 1), -EINVAL);
	mo_event_t a = ev_alloc(MO_FN_MALLOC, 1, 10, 1);
	cr_assert_eq(mo_cf_row(&f, &a), -EINVAL);
	fr = finish(&f);

	mo_event_t ev[] = {
		ev_alloc(MO_FN_MALLOC, 1, 10, 1),
		ev_ptr(MO_REC_REALLOC_PRE, 1),
		ev_realloc(MO_FN_REALLOC, 1, 2, 20, 2),
		ev_ptr(MO_REC_REALLOC_PRE, 2),
		ev_ptr(MO_REC_REALLOC_FAIL, 2),
		ev_ptr(MO_REC_REALLOC_PRE, 2),
		ev_realloc(MO_FN_REALLOCARRAY, 2, 0, 0, 0),
		ev_ptr(MO_REC_FREE, MO_BLOCK_UNKNOWN),
		ev_ptr(MO_REC_FREE, MO_BLOCK_UNKNOWN),
		ev_ptr(MO_REC_BDROP, 1),
		ev_alloc(MO_FN_MEMALIGN, 1001, 10, 1),
		ev_ptr(MO_REC_FREE, 1000),
	};
	expect_events(&fr, ev, sizeof(ev) / sizeof(ev[0]));
	free(fr.b);
	mo_cf_free(&f);
}

/* Random sequences against a model, cut into frames at random points:
 * every frame decodes alone. */
Test(colframe, random_against_model)
{
	enum { N = 200000 };
	static mo_event_t want[N];
	static uint64_t live[N];
	uint64_t s = 7, blocks = 0;
	size_t nlive = 0, n = 0, first = 0;
	uint64_t ips[3] = {0x401000, 0x401100, 0x7f0000001000};
	mo_cf_t f;

	mo_cf_init(&f);
	for (size_t i = 0; i < N; i++) {
		unsigned k;
		mo_event_t *w = &want[n];

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		k = (unsigned)(s >> 59) % 8;
		uint32_t fn = 1 + (uint32_t)((s >> 20) % (MO_FN_COUNT_ - 1));
		uint64_t size = (s >> 24) % 64 * 16; /* few infos: reuse */
		uint64_t stack = (s >> 40) % 5 + 1;
		if (k <= 2 || nlive == 0) {
			cr_assert_eq(mo_cf_alloc(&f, fn, size, stack), 0);
			live[nlive++] = ++blocks;
			*w = ev_alloc(fn, blocks, size, stack);
		} else if (k <= 4) {
			size_t j = (size_t)(s >> 32) % nlive;
			uint64_t b = live[j];
			live[j] = live[--nlive];
			cr_assert_eq(mo_cf_ref(&f, MO_REC_BFREE, b), 0);
			*w = ev_ptr(MO_REC_FREE, b);
		} else if (k == 5) {
			size_t j = (size_t)(s >> 32) % nlive;
			uint64_t old = live[j];
			cr_assert_eq(mo_cf_realloc(&f, fn, old, 1, size, stack),
				     0);
			live[j] = ++blocks;
			*w = ev_realloc(fn, old, blocks, size, stack);
		} else if (k == 6) {
			*w = ev_tick(s >> 30);
			cr_assert_eq(mo_cf_row(&f, w), 0);
		} else {
			w->type = MO_REC_STACK;
			w->u.stack.id = stack;
			w->u.stack.n = 3;
			w->u.stack.ips = ips;
			cr_assert_eq(mo_cf_row(&f, w), 0);
		}
		n++;
		if ((s >> 16) % 5000 == 0 || i == N - 1) {
			frame_t fr = finish(&f);
			expect_events(&fr, want + first, n - first);
			free(fr.b);
			first = n;
		}
	}
	mo_cf_free(&f);
}

/* Builds a small valid frame: BLOCKS 0, BALLOC (new info), BFREE 1. */
static frame_t small_frame(void)
{
	mo_cf_t f;
	frame_t fr;

	mo_cf_init(&f);
	cr_assert_eq(mo_cf_alloc(&f, MO_FN_MALLOC, 8, 1), 0);
	cr_assert_eq(mo_cf_ref(&f, MO_REC_BFREE, 1), 0);
	fr = finish(&f);
	mo_cf_free(&f);
	return fr;
}

/* Offsets in small_frame(): table 0..5, ops 6..8, fn 9, ref 10, info 11,
 * misc 12..14. */
static int decode_all(const uint8_t *b, size_t len, int *records)
{
	mo_dec_t d;
	mo_event_t ev;
	int r;

	mo_dec_init(&d);
	*records = 0;
	r = mo_dec_columns(&d, b, len);
	if (r == 0) {
		while ((r = mo_dec_next(&d, &ev)) == 1)
			(*records)++;
		if (r < 0) /* an error repeats */
			cr_expect_eq(mo_dec_next(&d, &ev), r);
	}
	mo_dec_free(&d);
	return r;
}

Test(colframe, damage)
{
	frame_t fr = small_frame();
	uint8_t b[32];
	int records;

	cr_assert_eq(fr.len, 15);
	memcpy(b, fr.b, fr.len);
	cr_assert_eq(decode_all(b, 15, &records), 0);
	cr_expect_eq(records, 2);
	/* truncated anywhere: corrupt, never a crash */
	for (size_t len = 0; len < 15; len++)
		cr_expect_lt(decode_all(b, len, &records), 0, "len %zu", len);
	/* fewer columns than known */
	b[0] = 4;
	cr_expect_eq(decode_all(b, 15, &records), MO_ECORRUPT);
	memcpy(b, fr.b, fr.len);
	/* a ref beyond the block count */
	b[10] = 2;
	cr_expect_eq(decode_all(b, 15, &records), MO_ECORRUPT);
	cr_expect_eq(records, 1);
	memcpy(b, fr.b, fr.len);
	/* an info number not defined */
	b[11] = 1;
	cr_expect_eq(decode_all(b, 15, &records), MO_ECORRUPT);
	cr_expect_eq(records, 0);
	memcpy(b, fr.b, fr.len);
	/* ops names a row record that misc does not hold */
	b[8] = MO_REC_TICK;
	cr_expect_eq(decode_all(b, 15, &records), MO_ECORRUPT);
	memcpy(b, fr.b, fr.len);
	/* a block record type in a record block (not a column frame) */
	{
		uint8_t rb[2] = {MO_REC_BFREE, 1};
		mo_dec_t d;
		mo_event_t ev;

		mo_dec_init(&d);
		mo_dec_block(&d, rb, sizeof(rb));
		cr_expect_eq(mo_dec_next(&d, &ev), MO_ECORRUPT);
		mo_dec_free(&d);
	}
	/* an extra, unknown column is ignored */
	{
		uint8_t x[40], *p = x;

		p = mo_put_uv(p, 6);
		memcpy(p, fr.b + 1, 5);
		p += 5;
		*p++ = 3; /* the sixth column's length */
		memcpy(p, fr.b + 6, 9);
		p += 9;
		memset(p, 0xee, 3);
		p += 3;
		cr_expect_eq(decode_all(x, (size_t)(p - x), &records), 0);
		cr_expect_eq(records, 2);
	}
	free(fr.b);
}

/* Through the writer and the reader, with a corrupt frame in between. */
Test(colframe, file_roundtrip)
{
	char path[] = "/tmp/memopt-colframe-XXXXXX";
	int fd = mkstemp(path);
	mo_tw_t *w;
	mo_tr_t *r;
	mo_cf_t f;
	mo_event_t ev;
	frame_t fr;
	uint64_t frees = 0, allocs = 0;

	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(mo_tw_open(&w, path), 0);
	mo_cf_init(&f);
	for (int k = 0; k < 3; k++) {
		for (int i = 0; i < 1000; i++)
			cr_assert_eq(mo_cf_alloc(&f, MO_FN_MALLOC, 32, 1), 0);
		for (int i = 0; i < 1000; i++)
			cr_assert_eq(mo_cf_ref(&f, MO_REC_BFREE,
					       f.blocks - (uint64_t)i),
				     0);
		fr = finish(&f);
		if (k == 1) /* a frame the reader will reject */
			fr.b[0] = 1;
		cr_assert_eq(mo_tw_columns(w, 1, fr.b, fr.len), 0);
		free(fr.b);
	}
	mo_cf_free(&f);
	cr_assert_eq(mo_tw_close(w), 0);
	cr_assert_eq(mo_tr_open(&r, path), 0);
	while (mo_tr_next(r, &ev) == 1) {
		/* the first frame's blocks are 1..1000, the third's (read
		 * without the second) 2001..3000 */
		if (ev.type == MO_REC_ALLOC) {
			uint64_t want = allocs + 1 + (allocs >= 1000) * 1000;
			cr_assert_eq(ev.u.alloc.ptr, want);
			allocs++;
		} else if (ev.type == MO_REC_FREE) {
			cr_assert(ev.u.free.ptr <= 1000 ||
				  (ev.u.free.ptr > 2000 &&
				   ev.u.free.ptr <= 3000));
			frees++;
		}
	}
	cr_expect_eq(allocs, 2000);
	cr_expect_eq(frees, 2000);
	cr_expect_eq(mo_tr_damage(r)->corrupt_frames, 1);
	mo_tr_close(r);
	unlink(path);
}
