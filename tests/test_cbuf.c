/*
 * Circular buffer (lib/alloc/cbuf.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <memopt/cbuf.h>

#include "hook_rec.h"

static mo_cbuf_t *make(size_t cap, mo_cbuf_policy_t pol)
{
	mo_cbuf_opts_t o = {sizeof(int), cap, pol, "ints", 0};
	mo_cbuf_t *b;

	cr_assert_eq(mo_cbuf_create(&b, &o), 0);
	return b;
}

static int at(mo_cbuf_t *b, size_t i)
{
	return *(int *)mo_cbuf_at(b, i);
}

Test(cbuf, reject_policy_exact)
{
	mo_cbuf_t *b = make(3, MO_CBUF_REJECT); /* rounded to 4 */
	mo_alloc_stats_t st;
	int x, i;

	cr_expect_eq(mo_cbuf_capacity(b), 4);
	cr_expect_null(mo_cbuf_peek_front(b));
	cr_expect_eq(mo_cbuf_pop_front(b, &x), -ENOENT);
	cr_expect_eq(mo_cbuf_pop_back(b, &x), -ENOENT);
	for (i = 1; i <= 4; i++)
		cr_expect_eq(mo_cbuf_push_back(b, &i), 0);
	x = 5;
	cr_expect_eq(mo_cbuf_push_back(b, &x), -ENOBUFS);
	cr_expect_eq(mo_cbuf_push_front(b, &x), -ENOBUFS);
	cr_expect_eq(*(int *)mo_cbuf_peek_front(b), 1);
	cr_expect_eq(*(int *)mo_cbuf_peek_back(b), 4);
	mo_cbuf_stats(b, &st);
	cr_expect_eq(st.failures, 2);
	cr_expect_eq(st.in_use, 16);
	cr_expect_eq(st.capacity, 16);
	cr_expect_eq(st.internal_frag, 0);
	cr_expect_eq(st.live, 1);
	cr_expect_eq(st.allocs, 1);

	cr_expect_eq(mo_cbuf_pop_front(b, &x), 0);
	cr_expect_eq(x, 1);
	x = 0;
	cr_expect_eq(mo_cbuf_push_front(b, &x), 0); /* 0 2 3 4 */
	cr_expect_eq(mo_cbuf_pop_back(b, &x), 0);
	cr_expect_eq(x, 4);
	x = 9;
	cr_expect_eq(mo_cbuf_push_back(b, &x), 0); /* 0 2 3 9, wrapped */
	cr_expect_eq(at(b, 0), 0);
	cr_expect_eq(at(b, 1), 2);
	cr_expect_eq(at(b, 2), 3);
	cr_expect_eq(at(b, 3), 9);
	cr_expect_null(mo_cbuf_at(b, 4));
	mo_cbuf_clear(b);
	cr_expect_eq(mo_cbuf_len(b), 0);
	mo_cbuf_stats(b, &st);
	cr_expect_eq(st.resets, 1);
	cr_expect_eq(st.in_use, 0);
	cr_expect_eq(st.peak, 16);
	mo_cbuf_destroy(b);
}

Test(cbuf, overwrite_policy_exact)
{
	mo_cbuf_t *b = make(4, MO_CBUF_OVERWRITE);
	int i, x;

	for (i = 1; i <= 6; i++)
		cr_expect_eq(mo_cbuf_push_back(b, &i), i > 4 ? 1 : 0);
	/* 3 4 5 6 */
	cr_expect_eq(mo_cbuf_overwritten(b), 2);
	cr_expect_eq(at(b, 0), 3);
	cr_expect_eq(at(b, 3), 6);
	x = 100;
	cr_expect_eq(mo_cbuf_push_front(b, &x), 1); /* drops 6: 100 3 4 5 */
	cr_expect_eq(at(b, 0), 100);
	cr_expect_eq(at(b, 3), 5);
	cr_expect_eq(mo_cbuf_overwritten(b), 3);
	cr_expect_eq(mo_cbuf_len(b), 4);
	mo_cbuf_destroy(b);
}

Test(cbuf, invalid_and_overflow)
{
	mo_cbuf_t *b = (mo_cbuf_t *)1;
	mo_cbuf_opts_t o = {0, 4, MO_CBUF_REJECT, NULL, 0};

	cr_expect_eq(mo_cbuf_create(&b, &o), -EINVAL);
	cr_expect_null(b);
	o.elem_size = 4;
	o.capacity = 0;
	cr_expect_eq(mo_cbuf_create(&b, &o), -EINVAL);
	o.capacity = 4;
	o.policy = 7;
	cr_expect_eq(mo_cbuf_create(&b, &o), -EINVAL);
	o.policy = MO_CBUF_OVERWRITE;
	o.capacity = SIZE_MAX;
	cr_expect_eq(mo_cbuf_create(&b, &o), -EOVERFLOW);
	o.capacity = (size_t)1 << 62;
	cr_expect_eq(mo_cbuf_create(&b, &o), -EOVERFLOW);
	o.capacity = 1;
	cr_assert_eq(mo_cbuf_create(&b, &o), 0);
	cr_expect_eq(mo_cbuf_capacity(b), 1);
	mo_cbuf_destroy(b);
	mo_cbuf_destroy(NULL);
}

Test(cbuf, debug_poisons_popped_slots)
{
	mo_cbuf_opts_t o = {sizeof(int), 2, MO_CBUF_REJECT, NULL,
			    MO_ALLOC_DEBUG};
	mo_cbuf_t *b;
	int x = 7, *slot;

	cr_assert_eq(mo_cbuf_create(&b, &o), 0);
	mo_cbuf_push_back(b, &x);
	slot = mo_cbuf_peek_front(b);
	mo_cbuf_pop_front(b, NULL);
	cr_expect_eq((unsigned)*slot, 0xddddddddu);
	mo_cbuf_destroy(b);
}

/* Random operations against an array deque model. */
Test(cbuf, randomized_model)
{
	enum { CAP = 16, STEPS = 50000 };
	int model[CAP], n = 0, step, i;
	unsigned rnd = 4242;
	mo_cbuf_t *rb = make(CAP, MO_CBUF_REJECT);
	mo_cbuf_t *ob = make(CAP, MO_CBUF_OVERWRITE);
	int omodel[CAP], on = 0;

	for (step = 0; step < STEPS; step++) {
		int x = step, y, rc;
		rnd = rnd * 1103515245 + 12345;
		switch ((rnd >> 12) % 4) {
		case 0:
			rc = mo_cbuf_push_back(rb, &x);
			cr_assert_eq(rc, n < CAP ? 0 : -ENOBUFS);
			if (n < CAP)
				model[n++] = x;
			rc = mo_cbuf_push_back(ob, &x);
			cr_assert_eq(rc, on == CAP);
			if (on == CAP)
				memmove(omodel, omodel + 1, --on * sizeof(int));
			omodel[on++] = x;
			break;
		case 1:
			rc = mo_cbuf_push_front(rb, &x);
			cr_assert_eq(rc, n < CAP ? 0 : -ENOBUFS);
			if (n < CAP) {
				memmove(model + 1, model, n * sizeof(int));
				model[0] = x;
				n++;
			}
			rc = mo_cbuf_push_front(ob, &x);
			cr_assert_eq(rc, on == CAP);
			if (on == CAP)
				on--;
			memmove(omodel + 1, omodel, on * sizeof(int));
			omodel[0] = x;
			on++;
			break;
		case 2:
			rc = mo_cbuf_pop_front(rb, &y);
			cr_assert_eq(rc, n ? 0 : -ENOENT);
			if (n) {
				cr_assert_eq(y, model[0]);
				memmove(model, model + 1, --n * sizeof(int));
			}
			rc = mo_cbuf_pop_front(ob, &y);
			if (on) {
				cr_assert_eq(y, omodel[0]);
				memmove(omodel, omodel + 1, --on * sizeof(int));
			}
			break;
		default:
			rc = mo_cbuf_pop_back(rb, &y);
			cr_assert_eq(rc, n ? 0 : -ENOENT);
			if (n)
				cr_assert_eq(y, model[--n]);
			rc = mo_cbuf_pop_back(ob, &y);
			if (on)
				cr_assert_eq(y, omodel[--on]);
			break;
		}
		cr_assert_eq(mo_cbuf_len(rb), (size_t)n);
		cr_assert_eq(mo_cbuf_len(ob), (size_t)on);
		if (step % 97 == 0) {
			for (i = 0; i < n; i++)
				cr_assert_eq(at(rb, i), model[i]);
			for (i = 0; i < on; i++)
				cr_assert_eq(at(ob, i), omodel[i]);
		}
	}
	mo_cbuf_destroy(rb);
	mo_cbuf_destroy(ob);
}

Test(cbuf, profiler_hooks)
{
	mo_cbuf_t *b;

	rec_start();
	b = make(4, MO_CBUF_REJECT);
	cr_expect_eq(rec.created, 1);
	cr_expect_eq(rec.inst, b);
	cr_expect_str_eq(rec.kind, "cbuf");
	cr_expect_str_eq(rec.name, "ints");
	cr_expect_eq(rec.allocs, 1);
	cr_expect_eq(rec.live_bytes, 16);
	mo_cbuf_clear(b);
	cr_expect_eq(rec.resets, 1);
	mo_cbuf_destroy(b);
	cr_expect_eq(rec.frees, 1);
	cr_expect_eq(rec.live_bytes, 0);
	cr_expect_eq(rec.destroyed, 1);
	rec_stop();
}
