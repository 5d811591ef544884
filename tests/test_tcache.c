/*
 * Thread-local caching front for the concurrent pool (lib/alloc/tcache.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <memopt/tcache.h>

#include "conc_util.h"

static mo_tcache_t *make(mo_cpool_t *pool, size_t size, size_t mag,
			 unsigned flags)
{
	mo_tcache_t *tc = NULL;
	mo_tcache_opts_t o = {.pool = pool,
			      .size = size,
			      .align = 8,
			      .magazine = mag,
			      .name = "nodes",
			      .flags = flags};
	cr_assert_eq(mo_tcache_create(&tc, &o), 0);
	return tc;
}

static mo_cpool_t *make_pool(size_t size)
{
	mo_cpool_t *p = NULL;
	mo_cpool_opts_t o = {.size = size, .align = 8, .name = "shared"};
	cr_assert_eq(mo_cpool_create(&p, &o), 0);
	return p;
}

Test(tcache, create_errors)
{
	mo_tcache_t *tc = NULL;
	mo_tcache_opts_t o = {.size = 16, .magazine = 3};
	mo_cpool_t *p = make_pool(16);

	cr_expect_eq(mo_tcache_create(&tc, &o), -EINVAL, "odd magazine");
	o.magazine = 0;
	o.size = 0;
	cr_expect_eq(mo_tcache_create(&tc, &o), -EINVAL, "pool size 0");
	o.pool = p;
	o.flags = MO_ALLOC_DEBUG;
	if (!mo_cpool_debug(p))
		cr_expect_eq(mo_tcache_create(&tc, &o), -EINVAL,
			     "debug needs a debug pool");
	cr_expect_null(tc);
	mo_tcache_destroy(NULL);
	mo_cpool_destroy(p);
}

Test(tcache, exact_stats_single_thread)
{
	mo_tcache_t *tc = make(NULL, 24, 8, 0);
	mo_cpool_t *p = mo_tcache_pool(tc);
	mo_alloc_stats_t st, ps;
	void *v[9];

	for (int i = 0; i < 5; i++)
		cr_assert_not_null(v[i] = mo_tcache_alloc(tc));
	cr_expect_eq(mo_tcache_cached(tc), 3, "two refills of 4, 5 used");
	mo_tcache_stats(tc, &st);
	mo_cpool_stats(p, &ps);
	cr_expect_eq(ps.allocs, 8);
	cr_expect_eq(ps.live, 8, "cached objects are out of the pool");
	cr_expect_eq(st.allocs, 5);
	cr_expect_eq(st.frees, 0);
	cr_expect_eq(st.live, 5);
	cr_expect_eq(st.in_use, 120);
	cr_expect_eq(st.internal_frag, 0);
	cr_expect_eq(st.peak, 120);
	cr_expect_eq(st.capacity, ps.capacity);
	cr_expect_gt(st.capacity, 0);
	for (int i = 0; i < 5; i++)
		mo_tcache_free(tc, v[i]);
	cr_expect_eq(mo_tcache_cached(tc), 8, "full, not flushed yet");
	for (int i = 0; i < 9; i++)
		cr_assert_not_null(v[i] = mo_tcache_alloc(tc));
	cr_expect_eq(mo_tcache_cached(tc), 3);
	for (int i = 0; i < 9; i++)
		mo_tcache_free(tc, v[i]);
	cr_expect_eq(mo_tcache_cached(tc), 8, "one flush of 4");
	mo_cpool_stats(p, &ps);
	cr_expect_eq(ps.allocs, 12);
	cr_expect_eq(ps.frees, 4);
	mo_tcache_stats(tc, &st);
	cr_expect_eq(st.allocs, 14);
	cr_expect_eq(st.frees, 14);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.in_use, 0);
	cr_expect_eq(st.peak, 9 * 24);
	cr_expect_eq(st.failures, 0);
	mo_tcache_flush(tc);
	cr_expect_eq(mo_tcache_cached(tc), 0);
	mo_cpool_stats(p, &ps);
	cr_expect_eq(ps.live, 0);
	cr_expect_eq(ps.frees, 12);
	v[0] = mo_tcache_alloc(tc);
	cr_expect_eq(mo_tcache_reset(tc), 0);
	mo_tcache_stats(tc, &st);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.resets, 1);
	cr_expect_eq(st.allocs, 15);
	cr_expect_eq(st.frees, 14);
	cr_expect_eq(mo_tcache_cached(tc), 0);
	mo_cpool_stats(p, &ps);
	cr_expect_eq(ps.live, 0);
	mo_tcache_destroy(tc);
}

Test(tcache, failures_and_limit)
{
	mo_tcache_t *tc = NULL;
	mo_tcache_opts_t o = {.size = 16, .max_objects = 3, .magazine = 4};
	mo_alloc_stats_t st;

	cr_assert_eq(mo_tcache_create(&tc, &o), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_not_null(mo_tcache_alloc(tc));
	cr_expect_null(mo_tcache_alloc(tc));
	mo_tcache_stats(tc, &st);
	cr_expect_eq(st.failures, 1);
	cr_expect_eq(st.live, 3);
	cr_expect_eq(st.capacity, 3 * 16);
	mo_tcache_destroy(tc);
}

Test(tcache, reset_needs_an_owned_pool)
{
	mo_cpool_t *p = make_pool(16);
	mo_tcache_t *tc = make(p, 0, 4, 0);
	mo_alloc_stats_t ps;
	void *a = mo_tcache_alloc(tc);

	cr_expect_eq(mo_tcache_reset(tc), -EINVAL);
	mo_tcache_free(tc, a);
	mo_tcache_destroy(tc);
	mo_cpool_stats(p, &ps);
	cr_expect_eq(ps.live, 0, "destroy flushed the magazine");
	cr_expect_eq(ps.allocs, 2);
	cr_expect_eq(ps.frees, 2);
	mo_cpool_destroy(p);
}

static void *churn(void *v)
{
	mo_tcache_t *tc = v;
	void *o[100];
	for (int r = 0; r < 3; r++) {
		for (int i = 0; i < 100; i++)
			o[i] = mo_tcache_alloc(tc);
		for (int i = 0; i < 100; i++)
			mo_tcache_free(tc, o[i]);
	}
	o[0] = mo_tcache_alloc(tc);
	mo_tcache_free(tc, o[0]); /* leaves a partly full magazine */
	return NULL;
}

Test(tcache, thread_exit_flushes)
{
	enum { T = 4 };
	mo_cpool_t *p = make_pool(32);
	mo_tcache_t *tc = make(p, 0, 64, 0);
	pthread_t th[T];
	mo_alloc_stats_t st, ps;

	for (int i = 0; i < T; i++)
		pthread_create(&th[i], NULL, churn, tc);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	cr_expect_eq(mo_tcache_cached(tc), 0, "every magazine came back");
	mo_cpool_stats(p, &ps);
	cr_expect_eq(ps.live, 0);
	cr_expect_eq(ps.allocs, ps.frees);
	mo_tcache_stats(tc, &st);
	cr_expect_eq(st.allocs, T * 301);
	cr_expect_eq(st.frees, T * 301);
	cr_expect_eq(st.live, 0);
	/* approximate under concurrency: at least one thread's 100, at most
	 * all four at once */
	cr_expect_geq(st.peak, 100 * 32);
	cr_expect_leq(st.peak, T * 100 * 32);
	mo_tcache_destroy(tc);
	mo_cpool_destroy(p);
}

/* Stress: each thread allocates and frees, and hands a share of its
 * objects to the next thread through a ring, which frees them. */
struct sarg {
	mo_tcache_t *tc;
	uint64_t id;
	struct ring *in, *out;
	size_t bad;
};

static void *stress_thread(void *v)
{
	struct sarg *a = v;
	uint64_t s = 0x9e3779b97f4a7c15ull * a->id, seq = 0;
	struct obj *held[32];
	uint64_t hseq[32];
	size_t n = 0;
	int prev_done = 0;

	for (int i = 0; i < STRESS_OPS; i++) {
		uint64_t r = rnd(&s);
		if (n < 32 && (n == 0 || r % 2)) {
			struct obj *o = mo_tcache_alloc(a->tc);
			if (!o || !claim_obj(o, a->id, ++seq)) {
				a->bad++;
				continue;
			}
			hseq[n] = seq;
			held[n++] = o;
		} else {
			size_t k = r % n;
			if (!release_obj(held[k], a->id, hseq[k]))
				a->bad++;
			if (r % 8 == 0) /* cross-thread free */
				ring_put(a->out, held[k]);
			else
				mo_tcache_free(a->tc, held[k]);
			held[k] = held[--n];
			hseq[k] = hseq[n];
		}
		/* free what the previous thread handed over */
		while (!prev_done &&
		       atomic_load(&a->in->tail) != atomic_load(&a->in->head)) {
			struct obj *o = ring_get(a->in);
			if (o)
				mo_tcache_free(a->tc, o);
			else
				prev_done = 1;
		}
	}
	while (n--) {
		if (!release_obj(held[n], a->id, hseq[n]))
			a->bad++;
		mo_tcache_free(a->tc, held[n]);
	}
	ring_put(a->out, NULL);
	for (struct obj *o; !prev_done && (o = ring_get(a->in));)
		mo_tcache_free(a->tc, o);
	return NULL;
}

Test(tcache, stress_four_threads_cross_frees)
{
	enum { T = 4 };
	mo_tcache_t *tc = make(NULL, sizeof(struct obj), 16, 0);
	static struct ring rings[T];
	struct sarg args[T];
	pthread_t th[T];
	mo_alloc_stats_t st, ps;

	for (int i = 0; i < T; i++) {
		args[i] = (struct sarg){.tc = tc,
					.id = i + 1,
					.in = &rings[i],
					.out = &rings[(i + 1) % T]};
		pthread_create(&th[i], NULL, stress_thread, &args[i]);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(args[i].bad, 0, "thread %d saw a shared object",
			     i);
	}
	mo_tcache_stats(tc, &st);
	mo_cpool_stats(mo_tcache_pool(tc), &ps);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(st.allocs, st.frees);
	cr_expect_eq(mo_tcache_cached(tc), 0);
	cr_expect_eq(ps.live, 0);
	mo_tcache_destroy(tc);
}

struct pc {
	mo_tcache_t *tc;
	struct ring r;
	size_t bad;
};

static void *producer(void *v)
{
	struct pc *pc = v;
	for (uint64_t i = 1; i <= STRESS_OPS; i++) {
		struct obj *o = mo_tcache_alloc(pc->tc);
		if (!o || !claim_obj(o, 1, i))
			pc->bad++;
		else
			ring_put(&pc->r, o);
	}
	ring_put(&pc->r, NULL);
	return NULL;
}

static void *consumer(void *v)
{
	struct pc *pc = v;
	uint64_t want = 1;
	struct obj *o;

	while ((o = ring_get(&pc->r))) {
		if (!release_obj(o, 1, want++))
			pc->bad++;
		mo_tcache_free(pc->tc, o);
	}
	return NULL;
}

Test(tcache, producer_consumer)
{
	static struct pc pc;
	pthread_t a, b;
	mo_alloc_stats_t st, ps;

	pc.tc = make(NULL, sizeof(struct obj), 64, 0);
	pthread_create(&a, NULL, producer, &pc);
	pthread_create(&b, NULL, consumer, &pc);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	cr_expect_eq(pc.bad, 0);
	mo_tcache_stats(pc.tc, &st);
	mo_cpool_stats(mo_tcache_pool(pc.tc), &ps);
	cr_expect_eq(st.allocs, STRESS_OPS);
	cr_expect_eq(st.frees, STRESS_OPS);
	cr_expect_eq(st.live, 0);
	cr_expect_eq(ps.live, 0, "both threads exited: magazines flushed");
	cr_expect_eq(ps.allocs, ps.frees);
	mo_tcache_destroy(pc.tc);
}

Test(tcache, misuse_and_poison)
{
	mo_tcache_t *tc = make(NULL, 32, 4, MO_ALLOC_DEBUG);
	unsigned char *a, *b;
	long local;

	mo_alloc_set_misuse_handler(record_misuse);
	nseen = 0;
	a = mo_tcache_alloc(tc);
	b = mo_tcache_alloc(tc);
	memset(a, 0x22, 32);
	mo_tcache_free(tc, a);
	for (int i = 8; i < 32; i++)
		cr_assert_eq(a[i], 0xDD, "poisoned at %d", i);
	mo_tcache_free(tc, a);
	cr_expect_str_eq(seen, "tcache|nodes|double free",
			 "double free in the magazine");
	mo_tcache_flush(tc);
	mo_tcache_free(tc, a);
	cr_expect_str_eq(seen, "tcache|nodes|double free",
			 "double free of an object back in the pool");
	mo_tcache_free(tc, &local);
	cr_expect_str_eq(seen, "tcache|nodes|free of a pointer not from this "
			       "cache's pool");
	mo_tcache_free(tc, b + 8);
	cr_expect_str_eq(seen, "tcache|nodes|free of a pointer inside an "
			       "object, not at its start");
	mo_tcache_free(tc, b);
	mo_cpool_free(mo_tcache_pool(tc), b);
	cr_expect_str_eq(seen, "cpool|nodes|free of an object held by a "
			       "thread cache");
	cr_expect_eq(nseen, 5);
	b[12] = 7; /* write after free, in the magazine */
	cr_expect_eq(mo_tcache_alloc(tc), b);
	cr_expect_str_eq(seen, "cpool|nodes|object modified after free");
	cr_expect_eq(nseen, 6);
	mo_tcache_free(tc, b);
	cr_expect_eq(nseen, 6);
	mo_alloc_set_misuse_handler(NULL);
	mo_tcache_destroy(tc);
}
