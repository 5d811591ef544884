/*
 * Lock-free concurrent pool (lib/alloc/cpool.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <memopt/cpool.h>

#include "conc_util.h"
#include "cpool_internal.h"

static mo_cpool_t *make(size_t size, size_t align, size_t chunk, size_t max,
			unsigned flags)
{
	mo_cpool_t *p = NULL;
	mo_cpool_opts_t o = {.size = size,
			     .align = align,
			     .chunk_objs = chunk,
			     .max_objects = max,
			     .name = "objs",
			     .flags = flags};
	cr_assert_eq(mo_cpool_create(&p, &o), 0);
	return p;
}

Test(cpool, create_errors)
{
	mo_cpool_t *p = NULL;
	mo_cpool_opts_t o = {.size = 0};

	cr_expect_eq(mo_cpool_create(&p, &o), -EINVAL);
	o.size = 8;
	o.align = 24;
	cr_expect_eq(mo_cpool_create(&p, &o), -EINVAL);
	o.align = 8192;
	cr_expect_eq(mo_cpool_create(&p, &o), -EINVAL);
	o.align = 8;
	o.size = SIZE_MAX - 2;
	cr_expect_eq(mo_cpool_create(&p, &o), -EOVERFLOW);
	cr_expect_null(p);
	mo_cpool_destroy(NULL);
}

Test(cpool, exact_stats)
{
	mo_cpool_t *p = make(24, 16, 128, 0, 0);
	mo_alloc_stats_t st;
	void *a, *b, *c;

	cr_expect_eq(mo_cpool_stride(p), 32);
	cr_expect_eq(mo_cpool_size(p), 24);
	cr_expect_str_eq(mo_cpool_name(p), "objs");
	mo_cpool_stats(p, &st);
	cr_expect_eq(st.capacity, 0, "nothing mapped before the first alloc");
	a = mo_cpool_alloc(p);
	b = mo_cpool_alloc(p);
	c = mo_cpool_alloc(p);
	cr_assert(a && b && c);
	cr_expect(a != b && b != c && a != c);
	mo_cpool_free(p, b);
	mo_cpool_stats(p, &st);
	cr_expect_eq(st.live, 2);
	cr_expect_eq(st.in_use, 48);
	cr_expect_eq(st.internal_frag, 16);
	cr_expect_eq(st.peak, 72);
	cr_expect_eq(st.capacity, 4096, "128 objects of 32 bytes");
	cr_expect_eq(st.allocs, 3);
	cr_expect_eq(st.frees, 1);
	cr_expect_eq(st.failures, 0);
	cr_expect_eq(st.resets, 0);
	cr_expect_eq(mo_cpool_alloc(p), b, "LIFO");
	mo_cpool_free(p, NULL);
	mo_cpool_reset(p);
	mo_cpool_stats(p, &st);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.in_use, 0);
	cr_expect_eq(st.internal_frag, 0);
	cr_expect_eq(st.peak, 72);
	cr_expect_eq(st.allocs, 4);
	cr_expect_eq(st.frees, 1, "a reset counts no frees");
	cr_expect_eq(st.resets, 1);
	cr_expect_eq(st.capacity, 4096);
	/* all 128 are free again, no new chunk */
	for (int i = 0; i < 128; i++)
		cr_assert_not_null(mo_cpool_alloc(p));
	mo_cpool_stats(p, &st);
	cr_expect_eq(st.capacity, 4096);
	cr_expect_eq(st.live, 128);
	cr_expect_eq(st.peak, 128 * 24);
	mo_cpool_destroy(p);
}

Test(cpool, capacity_limit_and_alignment)
{
	mo_cpool_t *p = make(40, 64, 0, 5, 0);
	mo_alloc_stats_t st;
	void *v[5];

	cr_expect_eq(mo_cpool_stride(p), 64);
	for (int i = 0; i < 5; i++) {
		v[i] = mo_cpool_alloc(p);
		cr_assert_not_null(v[i]);
		cr_expect_eq((uintptr_t)v[i] % 64, 0);
		cr_expect(mo_cpool_owns(p, v[i]));
		memset(v[i], 0xab, 40);
	}
	cr_expect_null(mo_cpool_alloc(p));
	cr_expect_eq(mo_cpool_alloc_batch(p, v, 2), 0);
	mo_cpool_stats(p, &st);
	cr_expect_eq(st.failures, 2);
	cr_expect_eq(st.capacity, 5 * 64);
	cr_expect_eq(st.internal_frag, 5 * 24);
	cr_expect(!mo_cpool_owns(p, (char *)v[0] + 8), "interior");
	cr_expect(!mo_cpool_owns(p, &st));
	mo_cpool_destroy(p);
}

Test(cpool, growth_and_batches)
{
	mo_cpool_t *p = make(16, 8, 64, 0, 0);
	enum { N = 5000 };
	static void *v[N];
	mo_alloc_stats_t st;

	cr_assert_eq(mo_cpool_alloc_batch(p, v, N), N);
	for (int i = 0; i < N; i++) {
		cr_assert(mo_cpool_owns(p, v[i]));
		*(int *)((char *)v[i] + 8) = i;
	}
	for (int i = 0; i < N; i++)
		cr_assert_eq(*(int *)((char *)v[i] + 8), i, "no overlap");
	mo_cpool_stats(p, &st);
	cr_expect_eq(st.live, N);
	cr_expect_eq(st.allocs, N);
	cr_expect_geq(st.capacity, (uint64_t)N * 16);
	mo_cpool_free_batch(p, v, N);
	mo_cpool_stats(p, &st);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.frees, N);
	cr_expect_eq(st.peak, (uint64_t)N * 16);
	mo_cpool_destroy(p);
}

/* A batch freed together comes back as one chain from the depot, in order;
 * a single alloc splits a chain (its rest goes to the object stack). */
Test(cpool, depot_chains)
{
	mo_cpool_t *p = make(32, 16, 64, 0, 0);
	void *v[10], *w[10];
	mo_alloc_stats_t st;

	cr_assert_eq(mo_cpool_alloc_batch(p, v, 10), 10);
	mo_cpool_free_batch(p, v, 10);
	cr_assert_eq(mo_cpool_alloc_batch(p, w, 4), 4);
	for (int i = 0; i < 4; i++)
		cr_expect_eq(w[i], v[i], "chain order at %d", i);
	cr_expect_eq(mo_cpool_alloc(p), v[4], "rest of the chain");
	mo_cpool_free_batch(p, w, 4);
	cr_expect_eq(mo_cpool_alloc(p), v[5], "object stack before depot");
	mo_cpool_stats(p, &st);
	cr_expect_eq(st.allocs, 16);
	cr_expect_eq(st.frees, 14);
	cr_expect_eq(st.live, 2);
	cr_expect_eq(st.peak, 10 * 32);
	mo_cpool_destroy(p);
}

/*
 * ABA, replayed deterministically in one thread.  The stack is A -> B -> C.
 * "Thread 1" reads the head (A) and A's link (B), then stalls.  "Thread 2"
 * pops A and B and pushes A back: the stack is A -> C and B is in use.  A
 * plain pointer CAS by thread 1 would succeed and put B (in use!) on top.
 * The tag makes it fail.
 */
Test(cpool, aba_is_detected)
{
	mo_cpool_t *p = make(32, 8, 8, 3, 0);
	void *a, *b, *c, *x, *y;
	uint64_t head, next;

	a = mo_cpool_alloc(p);
	b = mo_cpool_alloc(p);
	c = mo_cpool_alloc(p);
	mo_cpool_free(p, c);
	mo_cpool_free(p, b);
	mo_cpool_free(p, a);
	mo__cpool_pop_begin(p, &head, &next);
	cr_assert_eq(next, (uint64_t)(uintptr_t)b, "thread 1 saw A -> B");
	x = mo_cpool_alloc(p);
	y = mo_cpool_alloc(p);
	cr_assert(x == a && y == b);
	mo_cpool_free(p, a);
	cr_expect_null(mo__cpool_pop_finish(p, head, next), "stale CAS fails");
	cr_expect_eq(mo_cpool_alloc(p), a);
	cr_expect_eq(mo_cpool_alloc(p), c);
	cr_expect_null(mo_cpool_alloc(p), "B was never handed out twice");
	mo_cpool_destroy(p);
}

/* The documented bound: the tag has 20 bits, so a thread stalled across
 * exactly 2^20 pops with the same object on top is fooled.  This pins the
 * bound down (a change of encoding must update the manual). */
Test(cpool, aba_tag_wraps_after_2_pow_20_pops)
{
	mo_cpool_t *p = make(32, 8, 8, 3, 0);
	void *a, *b, *c;
	uint64_t head, next;

	a = mo_cpool_alloc(p);
	b = mo_cpool_alloc(p);
	c = mo_cpool_alloc(p);
	mo_cpool_free(p, c);
	mo_cpool_free(p, b);
	mo_cpool_free(p, a);
	mo__cpool_pop_begin(p, &head, &next);
	cr_assert_eq(mo_cpool_alloc(p), a);
	cr_assert_eq(mo_cpool_alloc(p), b);
	mo_cpool_free(p, a);
	for (uint32_t i = 2; i < (1u << MO__CPOOL_TAG_BITS); i++) {
		void *o = mo_cpool_alloc(p);
		mo_cpool_free(p, o);
	}
	cr_expect_eq(mo__cpool_pop_finish(p, head, next), a,
		     "the tag wrapped: the stale CAS succeeds");
	mo_cpool_destroy(p);
}

static void *stress_thread(void *arg)
{
	mo_cpool_t *p = ((void **)arg)[0];
	uint64_t id = (uint64_t)(uintptr_t)((void **)arg)[1];
	uint64_t s = 0x9e3779b97f4a7c15ull * (id + 1), seq = 0;
	struct obj *held[64];
	uint64_t hseq[64];
	size_t n = 0, bad = 0;

	for (int i = 0; i < STRESS_OPS; i++) {
		uint64_t r = rnd(&s);
		if (n < 64 && (n == 0 || r % 2)) {
			struct obj *o = mo_cpool_alloc(p);
			if (!o || !claim_obj(o, id, ++seq)) {
				bad++;
				continue;
			}
			hseq[n] = seq;
			held[n++] = o;
		} else {
			size_t k = r % n;
			if (!release_obj(held[k], id, hseq[k]))
				bad++;
			mo_cpool_free(p, held[k]);
			held[k] = held[--n];
			hseq[k] = hseq[n];
		}
	}
	while (n--) {
		if (!release_obj(held[n], id, hseq[n]))
			bad++;
		mo_cpool_free(p, held[n]);
	}
	return (void *)bad;
}

Test(cpool, stress_four_threads)
{
	enum { T = 4 };
	mo_cpool_t *p = make(sizeof(struct obj), 8, 32, 0, 0);
	pthread_t th[T];
	void *args[T][2];
	mo_alloc_stats_t st;

	for (int i = 0; i < T; i++) {
		args[i][0] = p;
		args[i][1] = (void *)(uintptr_t)(i + 1);
		pthread_create(&th[i], NULL, stress_thread, args[i]);
	}
	for (int i = 0; i < T; i++) {
		void *bad;
		pthread_join(th[i], &bad);
		cr_expect_null(bad, "thread %d saw a shared object", i);
	}
	mo_cpool_stats(p, &st);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.allocs, st.frees);
	cr_expect_gt(st.allocs, (uint64_t)T * STRESS_OPS / 4);
	/* peak may count up to one in-flight free per other thread */
	cr_expect_leq(st.peak, (uint64_t)T * 65 * sizeof(struct obj));
	mo_cpool_destroy(p);
}

struct pc {
	mo_cpool_t *p;
	struct ring r;
	size_t bad;
};

static void *producer(void *v)
{
	struct pc *pc = v;
	for (uint64_t i = 1; i <= STRESS_OPS; i++) {
		struct obj *o = mo_cpool_alloc(pc->p);
		if (!o || !claim_obj(o, 1, i))
			pc->bad++;
		else
			ring_put(&pc->r, o);
	}
	ring_put(&pc->r, NULL);
	return NULL;
}

Test(cpool, producer_consumer)
{
	static struct pc pc;
	pthread_t th;
	uint64_t want = 1, bad = 0;
	struct obj *o;
	mo_alloc_stats_t st;

	pc.p = make(sizeof(struct obj), 8, 0, 0, 0);
	pthread_create(&th, NULL, producer, &pc);
	while ((o = ring_get(&pc.r))) {
		if (!release_obj(o, 1, want++))
			bad++;
		mo_cpool_free(pc.p, o);
	}
	pthread_join(th, NULL);
	cr_expect_eq(pc.bad + bad, 0);
	cr_expect_eq(want, STRESS_OPS + 1ull);
	mo_cpool_stats(pc.p, &st);
	cr_expect_eq(st.allocs, STRESS_OPS);
	cr_expect_eq(st.frees, STRESS_OPS);
	cr_expect_eq(st.live, 0);
	cr_expect_leq(st.capacity, (uint64_t)(RING + 64) * 64 * 32,
		      "objects are recycled");
	mo_cpool_destroy(pc.p);
}

Test(cpool, misuse_and_poison)
{
	mo_cpool_t *p = make(32, 16, 16, 0, MO_ALLOC_DEBUG);
	unsigned char *a, *b;
	long local;

	cr_assert(mo_cpool_debug(p));
	mo_alloc_set_misuse_handler(record_misuse);
	a = mo_cpool_alloc(p);
	b = mo_cpool_alloc(p);
	memset(a, 0x11, 32);
	mo_cpool_free(p, a);
	for (int i = 8; i < 32; i++)
		cr_assert_eq(a[i], 0xDD, "poisoned at %d", i);
	nseen = 0;
	mo_cpool_free(p, a);
	cr_expect_str_eq(seen, "cpool|objs|double free");
	mo_cpool_free(p, &local);
	cr_expect_str_eq(seen, "cpool|objs|free of a pointer not from this "
			       "pool");
	mo_cpool_free(p, b + 4);
	cr_expect_str_eq(seen, "cpool|objs|free of a pointer inside an "
			       "object, not at its start");
	cr_expect_eq(nseen, 3);
	a[20] = 1; /* write after free */
	cr_expect_eq(mo_cpool_alloc(p), a);
	cr_expect_str_eq(seen, "cpool|objs|object modified after free");
	cr_expect_eq(nseen, 4);
	mo_cpool_free(p, a);
	mo_cpool_free(p, b);
	cr_expect_eq(nseen, 4, "legitimate frees are quiet");
	mo_alloc_stats_t st;
	mo_cpool_stats(p, &st);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.frees, 3, "misuse is not counted");
	cr_expect_eq(st.allocs, 3);
	mo_alloc_set_misuse_handler(NULL);
	mo_cpool_destroy(p);
}
