/*
 * Helpers shared by the concurrent allocator tests: a single-producer
 * single-consumer ring of pointers, a stamped test object, and a misuse
 * recorder.
 */
#ifndef MO_TEST_CONC_UTIL_H
#define MO_TEST_CONC_UTIL_H

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

/* Test objects: the first 8 bytes belong to the pool while the object is
 * free, so the stamp starts at offset 8.  `claim` is 1 while a user holds
 * the object: taking it twice at once shows up as an exchange that
 * returns 1. */
struct obj {
	uint64_t link;
	_Atomic uint64_t claim;
	uint64_t owner, seq;
};

static inline int claim_obj(struct obj *o, uint64_t owner, uint64_t seq)
{
	if (atomic_exchange(&o->claim, 1) == 1)
		return 0;
	o->owner = owner;
	o->seq = seq;
	return 1;
}

static inline int release_obj(struct obj *o, uint64_t owner, uint64_t seq)
{
	int ok = o->owner == owner && o->seq == seq;
	atomic_store(&o->claim, 0);
	return ok;
}

#define RING 1024
struct ring {
	_Alignas(64) _Atomic size_t head;
	_Alignas(64) _Atomic size_t tail;
	void *slot[RING];
};

static inline void ring_put(struct ring *r, void *p)
{
	size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	while (t - atomic_load_explicit(&r->head, memory_order_acquire) == RING)
		sched_yield();
	r->slot[t % RING] = p;
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
}

static inline void *ring_get(struct ring *r)
{
	size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	void *p;
	while (atomic_load_explicit(&r->tail, memory_order_acquire) == h)
		sched_yield();
	p = r->slot[h % RING];
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return p;
}

static char seen[160];
static int nseen;

static void record_misuse(const char *kind, const char *name, const char *what)
{
	snprintf(seen, sizeof(seen), "%s|%s|%s", kind, name, what);
	nseen++;
}

/* Ops per thread in the stress tests (smaller under the sanitizers). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STRESS_OPS 300000
#else
#define STRESS_OPS 1000000
#endif

/* xorshift64 */
static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#endif
