/*
 * Open-addressing flat map (lib/alloc/fmap.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <memopt/fmap.h>

#include "hook_rec.h"

static mo_fmap_t *make_u64(mo_fmap_probing_t pr)
{
	mo_fmap_opts_t o = {.key_size = 8,
			    .val_size = 8,
			    .hash = mo_fmap_hash_u64,
			    .eq = mo_fmap_eq_bytes,
			    .probing = pr,
			    .name = "u64"};
	mo_fmap_t *m;

	cr_assert_eq(mo_fmap_create(&m, &o), 0);
	return m;
}

Test(fmap, exact_sequence)
{
	mo_fmap_t *m = make_u64(MO_FMAP_ROBIN_HOOD);
	mo_alloc_stats_t st;
	uint64_t k, v, out;

	cr_expect_eq(mo_fmap_slots(m), 0);
	k = 1;
	cr_expect_null(mo_fmap_get(m, &k));
	cr_expect_eq(mo_fmap_remove(m, &k, NULL), -ENOENT);
	for (k = 1; k <= 7; k++) {
		v = k * 100;
		cr_expect_eq(mo_fmap_put(m, &k, &v), 0);
	}
	cr_expect_eq(mo_fmap_slots(m), 8); /* 7 <= 7/8 of 8 */
	k = 8;
	v = 800;
	cr_expect_eq(mo_fmap_put(m, &k, &v), 0);
	cr_expect_eq(mo_fmap_slots(m), 16);
	v = 801;
	cr_expect_eq(mo_fmap_put(m, &k, &v), 1);
	cr_expect_eq(mo_fmap_len(m), 8);
	cr_expect_eq(*(uint64_t *)mo_fmap_get(m, &k), 801);
	mo_fmap_stats(m, &st);
	/* 16 slots: 64 bytes of meta, 128 of keys, 128 of values */
	cr_expect_eq(st.capacity, 320);
	cr_expect_eq(st.in_use, 128);
	cr_expect_eq(st.internal_frag, 192);
	cr_expect_eq(st.live, 1);
	cr_expect_eq(st.allocs, 2);
	cr_expect_eq(st.frees, 1);
	k = 3;
	cr_expect_eq(mo_fmap_remove(m, &k, &out), 0);
	cr_expect_eq(out, 300);
	cr_expect_null(mo_fmap_get(m, &k));
	cr_expect_eq(mo_fmap_remove(m, &k, &out), -ENOENT);
	for (k = 1; k <= 8; k++)
		if (k != 3)
			cr_expect_eq(*(uint64_t *)mo_fmap_get(m, &k),
				     k == 8 ? 801 : k * 100);
	mo_fmap_clear(m);
	cr_expect_eq(mo_fmap_len(m), 0);
	k = 1;
	cr_expect_null(mo_fmap_get(m, &k));
	mo_fmap_stats(m, &st);
	cr_expect_eq(st.resets, 1);
	cr_expect_eq(st.peak, 128);
	mo_fmap_destroy(m);
}

/* A hash that sends every key to slot 0 forces long clusters. */
static uint64_t hash_zero(const void *k, size_t n)
{
	(void)k;
	(void)n;
	return 0;
}

static uint64_t hash_mod4(const void *k, size_t n)
{
	uint64_t v;
	(void)n;
	memcpy(&v, k, 8);
	return v % 4;
}

static void collisions(mo_fmap_probing_t pr, mo_fmap_hash_fn h)
{
	mo_fmap_opts_t o = {.key_size = 8,
			    .val_size = 4,
			    .hash = h,
			    .eq = mo_fmap_eq_bytes,
			    .probing = pr};
	mo_fmap_t *m;
	uint64_t k;
	uint32_t v;

	cr_assert_eq(mo_fmap_create(&m, &o), 0);
	for (k = 0; k < 50; k++) {
		v = (uint32_t)k + 1000;
		cr_assert_eq(mo_fmap_put(m, &k, &v), 0);
	}
	for (k = 0; k < 50; k += 2)
		cr_assert_eq(mo_fmap_remove(m, &k, NULL), 0);
	for (k = 0; k < 50; k++) {
		uint32_t *p = mo_fmap_get(m, &k);
		if (k % 2)
			cr_assert(p && *p == k + 1000, "key %lu", (long)k);
		else
			cr_assert_null(p);
	}
	if (h == hash_zero)
		cr_expect_eq(mo_fmap_max_probe(m), 24);
	mo_fmap_destroy(m);
}

Test(fmap, collisions_linear)
{
	collisions(MO_FMAP_LINEAR, hash_zero);
	collisions(MO_FMAP_LINEAR, hash_mod4);
}

Test(fmap, collisions_robin_hood)
{
	collisions(MO_FMAP_ROBIN_HOOD, hash_zero);
	collisions(MO_FMAP_ROBIN_HOOD, hash_mod4);
}

Test(fmap, string_keys)
{
	mo_fmap_opts_t o = {.key_size = sizeof(char *),
			    .val_size = sizeof(int),
			    .hash = mo_fmap_hash_str,
			    .eq = mo_fmap_eq_str};
	mo_fmap_t *m;
	char a[] = "alpha", a2[] = "alpha";
	const char *k = a, *k2 = a2, *b = "beta";
	int v = 1;

	cr_assert_eq(mo_fmap_create(&m, &o), 0);
	cr_expect_eq(mo_fmap_put(m, &k, &v), 0);
	v = 2;
	cr_expect_eq(mo_fmap_put(m, &b, &v), 0);
	v = 3;
	cr_expect_eq(mo_fmap_put(m, &k2, &v), 1, "equal string, other copy");
	cr_expect_eq(*(int *)mo_fmap_get(m, &k), 3);
	cr_expect_eq(*(int *)mo_fmap_get(m, &b), 2);
	cr_expect_eq(mo_fmap_len(m), 2);
	mo_fmap_destroy(m);
}

Test(fmap, set_with_default_hash_and_odd_keys)
{
	mo_fmap_opts_t o = {.key_size = 5, .initial = 100};
	mo_fmap_t *m;
	char key[5];
	int i;

	cr_assert_eq(mo_fmap_create(&m, &o), 0);
	cr_expect_eq(mo_fmap_slots(m), 128);
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "%04d", i);
		cr_assert_eq(mo_fmap_put(m, key, NULL), 0);
	}
	cr_expect_eq(mo_fmap_slots(m), 128, "reserved: no growth");
	memcpy(key, "0042", 5);
	cr_expect_str_eq((char *)mo_fmap_get(m, key), "0042");
	memcpy(key, "0100", 5);
	cr_expect_null(mo_fmap_get(m, key));
	mo_fmap_destroy(m);
}

Test(fmap, iterate)
{
	mo_fmap_t *m = make_u64(MO_FMAP_LINEAR);
	uint64_t k, sum = 0, vsum = 0;
	const void *kp;
	void *vp;
	size_t it = 0, n = 0;

	for (k = 1; k <= 100; k++) {
		uint64_t v = k * 2;
		mo_fmap_put(m, &k, &v);
	}
	while (mo_fmap_next(m, &it, &kp, &vp)) {
		sum += *(const uint64_t *)kp;
		vsum += *(uint64_t *)vp;
		n++;
	}
	cr_expect_eq(n, 100);
	cr_expect_eq(sum, 5050);
	cr_expect_eq(vsum, 10100);
	cr_expect_eq(mo_fmap_next(m, &it, NULL, NULL), 0);
	mo_fmap_destroy(m);
}

Test(fmap, invalid_and_overflow)
{
	mo_fmap_t *m = (mo_fmap_t *)1;
	mo_fmap_opts_t o = {.key_size = 0};
	mo_alloc_stats_t st;

	cr_expect_eq(mo_fmap_create(&m, &o), -EINVAL);
	cr_expect_null(m);
	o.key_size = 8;
	o.hash = mo_fmap_hash_u64; /* eq missing */
	cr_expect_eq(mo_fmap_create(&m, &o), -EINVAL);
	o.hash = NULL;
	o.probing = 5;
	cr_expect_eq(mo_fmap_create(&m, &o), -EINVAL);
	o.probing = MO_FMAP_LINEAR;
	o.initial = SIZE_MAX;
	cr_expect_eq(mo_fmap_create(&m, &o), -EOVERFLOW);
	o.initial = 0;
	o.val_size = SIZE_MAX / 8;
	cr_assert_eq(mo_fmap_create(&m, &o), 0);
	uint64_t k = 1;
	cr_expect_eq(mo_fmap_put(m, &k, NULL), -EOVERFLOW);
	cr_expect_eq(mo_fmap_len(m), 0);
	mo_fmap_stats(m, &st);
	cr_expect_eq(st.failures, 1);
	mo_fmap_destroy(m);
}

/* Random operations against a direct-indexed model, for both probings,
 * with a deliberately weak hash so clusters form. */
static uint64_t hash_weak(const void *k, size_t n)
{
	uint64_t v;
	(void)n;
	memcpy(&v, k, 8);
	return v / 8;
}

static void model_test(mo_fmap_probing_t pr, mo_fmap_hash_fn h)
{
	enum { KEYS = 2048, STEPS = 60000 };
	static uint64_t model[KEYS];
	static int present[KEYS];
	mo_fmap_opts_t o = {.key_size = 8,
			    .val_size = 8,
			    .hash = h,
			    .eq = mo_fmap_eq_bytes,
			    .probing = pr};
	mo_fmap_t *m;
	unsigned rnd = 777;
	size_t n = 0;
	int step;

	memset(present, 0, sizeof(present));
	cr_assert_eq(mo_fmap_create(&m, &o), 0);
	for (step = 0; step < STEPS; step++) {
		rnd = rnd * 1103515245 + 12345;
		uint64_t k = (rnd >> 8) % KEYS, v = (uint64_t)step, out;
		uint64_t *p;
		switch ((rnd >> 4) % 3) {
		case 0:
		case 1:
			cr_assert_eq(mo_fmap_put(m, &k, &v), present[k]);
			if (!present[k])
				n++;
			present[k] = 1;
			model[k] = v;
			break;
		default:
			cr_assert_eq(mo_fmap_remove(m, &k, &out),
				     present[k] ? 0 : -ENOENT);
			if (present[k]) {
				cr_assert_eq(out, model[k]);
				n--;
			}
			present[k] = 0;
		}
		p = mo_fmap_get(m, &k);
		cr_assert_eq(p != NULL, present[k]);
		cr_assert_eq(mo_fmap_len(m), n);
		cr_assert_leq(mo_fmap_len(m), mo_fmap_slots(m) * 7 / 8);
		if (step % 5000 == 0) {
			for (k = 0; k < KEYS; k++) {
				p = mo_fmap_get(m, &k);
				cr_assert_eq(p != NULL, present[k]);
				if (p)
					cr_assert_eq(*p, model[k]);
			}
		}
	}
	mo_fmap_destroy(m);
}

Test(fmap, randomized_model_robin_hood)
{
	model_test(MO_FMAP_ROBIN_HOOD, mo_fmap_hash_u64);
	model_test(MO_FMAP_ROBIN_HOOD, hash_weak);
}

Test(fmap, randomized_model_linear)
{
	model_test(MO_FMAP_LINEAR, mo_fmap_hash_u64);
	model_test(MO_FMAP_LINEAR, hash_weak);
}

Test(fmap, profiler_hooks)
{
	mo_fmap_t *m;
	uint64_t k;

	rec_start();
	m = make_u64(MO_FMAP_ROBIN_HOOD);
	cr_expect_eq(rec.created, 1);
	cr_expect_eq(rec.inst, m);
	cr_expect_str_eq(rec.kind, "fmap");
	cr_expect_str_eq(rec.name, "u64");
	for (k = 0; k < 8; k++)
		mo_fmap_put(m, &k, &k);
	cr_expect_eq(rec.allocs, 2);
	cr_expect_eq(rec.frees, 1);
	cr_expect_eq(rec.live_bytes, 320);
	mo_fmap_clear(m);
	cr_expect_eq(rec.resets, 1);
	mo_fmap_destroy(m);
	cr_expect_eq(rec.frees, 2);
	cr_expect_eq(rec.live_bytes, 0);
	cr_expect_eq(rec.destroyed, 1);
	rec_stop();
}

Test(fmap, debug_poisons_removed_entries)
{
	mo_fmap_opts_t o = {
		.key_size = 8, .val_size = 8, .flags = MO_ALLOC_DEBUG};
	mo_fmap_t *m;
	uint64_t k = 5, v = 6, *p;

	cr_assert_eq(mo_fmap_create(&m, &o), 0);
	cr_assert_eq(mo_fmap_put(m, &k, &v), 0);
	p = mo_fmap_get(m, &k);
	cr_assert_eq(mo_fmap_remove(m, &k, NULL), 0);
	cr_expect_eq(*p, 0xddddddddddddddddull);
	mo_fmap_destroy(m);
}

Test(fmap, put_from_pointers_into_the_table)
{
	mo_fmap_t *m = make_u64(MO_FMAP_LINEAR);
	uint64_t k, v;

	for (k = 0; k < 7; k++) {
		v = k + 50;
		mo_fmap_put(m, &k, &v);
	}
	k = 7; /* the 8th entry grows the table under the value pointer */
	cr_assert_eq(mo_fmap_put(m, &k, mo_fmap_get(m, &(uint64_t){3})), 0);
	cr_expect_eq(mo_fmap_slots(m), 16);
	cr_expect_eq(*(uint64_t *)mo_fmap_get(m, &k), 53);
	cr_expect_eq(mo_fmap_put(m, &k, mo_fmap_get(m, &k)), 1, "self");
	cr_expect_eq(*(uint64_t *)mo_fmap_get(m, &k), 53);
	mo_fmap_destroy(m);
}
