/*
 * Thread-local caching front for the concurrent pool (memopt/tcache.h).
 *
 * Each thread has one magazine per cache: a cache-line aligned block
 * holding up to `cap` free objects plus the thread's counters.  The fast
 * paths touch only the magazine (owner-written counters are relaxed
 * atomics: plain moves on x86-64, readable by mo_tcache_stats()).  A
 * thread finds its magazine through a one-entry thread-local memo keyed by
 * the cache's unique id, else through the cache's pthread key, whose
 * destructor flushes the magazine back to the pool at thread exit.
 *
 * Debug mode uses the pool's per-object state byte: FREE (in the pool's
 * list), USED (handed to a user) and CACHED (in some magazine), changed by
 * compare-and-swap, so a double free is caught whichever thread's magazine
 * holds the object.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <memopt/tcache.h>

#include "cpool_internal.h"

#define CACHE_LINE 64
#define KIND "tcache"

struct mag {
	_Alignas(CACHE_LINE) mo_tcache_t *tc;
	_Atomic uint32_t n; /* objects in objs[]; owner writes */
	int64_t delta;	    /* allocs - frees since the last sync */
	uint64_t base;	    /* the cache's live count at the last sync */
	_Atomic uint64_t allocs, frees, peak;
	struct mag *prev, *next; /* registry, under tc->lock */
	void *objs[];
};

struct mo_tcache {
	mo_cpool_t *pool;
	size_t cap, batch, size, stride;
	uint64_t id;
	pthread_key_t key;
	int owns_pool, debug;
	char *name;
	_Atomic int64_t live;	   /* synced live count */
	_Atomic uint64_t failures; /* rare */
	pthread_mutex_t lock;	   /* registry and retired counters */
	struct mag *mags;
	uint64_t r_allocs, r_frees, r_peak, resets, live_off;
};

static _Atomic uint64_t g_ids;
static __thread struct {
	uint64_t id;
	struct mag *m;
} t_last;

static inline uint64_t ld(_Atomic uint64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

/* Owner-only increment: no RMW needed. */
static inline void bump(_Atomic uint64_t *a, uint64_t by)
{
	atomic_store_explicit(a, ld(a) + by, memory_order_relaxed);
}

static inline uint32_t mag_n(struct mag *m)
{
	return atomic_load_explicit(&m->n, memory_order_relaxed);
}

static inline void set_n(struct mag *m, uint32_t n)
{
	atomic_store_explicit(&m->n, n, memory_order_relaxed);
}

/* Publishes the magazine's delta to the cache's live count. */
static void sync_live(struct mag *m)
{
	m->base = (uint64_t)(atomic_fetch_add_explicit(&m->tc->live, m->delta,
						       memory_order_relaxed) +
			     m->delta);
	m->delta = 0;
}

static void unlink_mag(mo_tcache_t *tc, struct mag *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		tc->mags = m->next;
	if (m->next)
		m->next->prev = m->prev;
}

/* Hands n objects of the magazine, from objs[from], back to the pool. */
static void give_back(mo_tcache_t *tc, struct mag *m, uint32_t from, uint32_t n)
{
	if (tc->debug)
		for (uint32_t i = from; i < from + n; i++) {
			_Atomic unsigned char *s =
				mo__cpool_state(tc->pool, m->objs[i]);
			atomic_store(s, MO__CP_USED);
		}
	mo_cpool_free_batch(tc->pool, &m->objs[from], n);
}

/* Flushes a whole magazine and folds its counters into the retired ones
 * (under tc->lock), then frees it. */
static void retire(mo_tcache_t *tc, struct mag *m)
{
	uint64_t pk = ld(&m->peak);

	give_back(tc, m, 0, mag_n(m));
	sync_live(m);
	tc->r_allocs += ld(&m->allocs);
	tc->r_frees += ld(&m->frees);
	if (pk > tc->r_peak)
		tc->r_peak = pk;
	unlink_mag(tc, m);
	free(m);
}

static void on_thread_exit(void *v)
{
	struct mag *m = v;
	mo_tcache_t *tc = m->tc;

	if (t_last.m == m)
		t_last.id = 0;
	pthread_mutex_lock(&tc->lock);
	retire(tc, m);
	pthread_mutex_unlock(&tc->lock);
}

static struct mag *new_mag(mo_tcache_t *tc)
{
	size_t bytes = sizeof(struct mag) + tc->cap * sizeof(void *);
	struct mag *m;

	bytes = (bytes + CACHE_LINE - 1) & ~(size_t)(CACHE_LINE - 1);
	m = aligned_alloc(CACHE_LINE, bytes);
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->tc = tc;
	if (pthread_setspecific(tc->key, m)) {
		free(m);
		return NULL;
	}
	pthread_mutex_lock(&tc->lock);
	m->base = (uint64_t)atomic_load(&tc->live);
	m->next = tc->mags;
	if (tc->mags)
		tc->mags->prev = m;
	tc->mags = m;
	pthread_mutex_unlock(&tc->lock);
	return m;
}

static struct mag *get_mag_slow(mo_tcache_t *tc)
{
	struct mag *m = pthread_getspecific(tc->key);

	if (!m && !(m = new_mag(tc)))
		return NULL;
	t_last.id = tc->id;
	t_last.m = m;
	return m;
}

static inline struct mag *get_mag(mo_tcache_t *tc)
{
	if (__builtin_expect(t_last.id == tc->id, 1))
		return t_last.m;
	return get_mag_slow(tc);
}

/* --- alloc and free ---------------------------------------------------- */

static void debug_alloc(mo_tcache_t *tc, void *obj)
{
	_Atomic unsigned char *s = mo__cpool_state(tc->pool, obj);
	unsigned char was = MO__CP_CACHED;

	mo__cpool_check_poison(tc->pool, obj);
	if (!atomic_compare_exchange_strong(s, &was, MO__CP_USED))
		mo_alloc_misuse(KIND, tc->name, "magazine corrupted");
}

static int refill(mo_tcache_t *tc, struct mag *m)
{
	size_t n;

	sync_live(m);
	n = mo_cpool_alloc_batch(tc->pool, m->objs, tc->batch);
	if (tc->debug)
		for (size_t i = 0; i < n; i++)
			atomic_store(mo__cpool_state(tc->pool, m->objs[i]),
				     MO__CP_CACHED);
	set_n(m, (uint32_t)n);
	return n != 0;
}

void *mo_tcache_alloc(mo_tcache_t *tc)
{
	struct mag *m = get_mag(tc);
	uint32_t n;
	int64_t est;
	void *obj;

	if (__builtin_expect(!m, 0))
		goto fail;
	n = mag_n(m);
	if (__builtin_expect(!n, 0)) {
		if (!refill(tc, m))
			goto fail;
		n = mag_n(m);
	}
	obj = m->objs[--n];
	set_n(m, n);
	bump(&m->allocs, 1);
	m->delta++;
	est = (int64_t)m->base + m->delta;
	if (est > (int64_t)ld(&m->peak))
		atomic_store_explicit(&m->peak, (uint64_t)est,
				      memory_order_relaxed);
	if (tc->debug)
		debug_alloc(tc, obj);
	MO_ALLOC_HOOK(alloc, tc, obj, tc->size, tc->stride);
	return obj;
fail:
	atomic_fetch_add_explicit(&tc->failures, 1, memory_order_relaxed);
	return NULL;
}

/* Debug checks of a free; returns 0 if obj must not be cached. */
static int debug_free(mo_tcache_t *tc, void *obj)
{
	_Atomic unsigned char *s = mo__cpool_state(tc->pool, obj);
	unsigned char was = MO__CP_USED;

	if (!s) {
		mo_alloc_misuse(KIND, tc->name,
				mo__cpool_contains(tc->pool, obj)
					? "free of a pointer inside an object, "
					  "not at its start"
					: "free of a pointer not from this "
					  "cache's pool");
		return 0;
	}
	if (!atomic_compare_exchange_strong(s, &was, MO__CP_CACHED)) {
		mo_alloc_misuse(KIND, tc->name, "double free");
		return 0;
	}
	mo__cpool_poison(tc->pool, obj);
	return 1;
}

void mo_tcache_free(mo_tcache_t *tc, void *obj)
{
	struct mag *m;
	uint32_t n;

	if (!obj)
		return;
	if (tc->debug && !debug_free(tc, obj))
		return;
	MO_ALLOC_HOOK(free, tc, obj, tc->size);
	m = get_mag(tc);
	if (__builtin_expect(!m, 0)) { /* no magazine: straight to the pool */
		if (tc->debug)
			atomic_store(mo__cpool_state(tc->pool, obj),
				     MO__CP_USED);
		mo_cpool_free(tc->pool, obj);
		atomic_fetch_add(&tc->live, -1);
		pthread_mutex_lock(&tc->lock);
		tc->r_frees++;
		pthread_mutex_unlock(&tc->lock);
		return;
	}
	n = mag_n(m);
	if (__builtin_expect(n == tc->cap, 0)) {
		/* the oldest half goes: the newest are warm in this cache */
		sync_live(m);
		give_back(tc, m, 0, (uint32_t)tc->batch);
		memmove(m->objs, m->objs + tc->batch,
			(tc->cap - tc->batch) * sizeof(void *));
		n -= (uint32_t)tc->batch;
	}
	m->objs[n] = obj;
	set_n(m, n + 1);
	bump(&m->frees, 1);
	m->delta--;
}

void mo_tcache_flush(mo_tcache_t *tc)
{
	struct mag *m = get_mag(tc);

	if (!m)
		return;
	sync_live(m);
	give_back(tc, m, 0, mag_n(m));
	set_n(m, 0);
}

/* --- lifecycle and statistics ------------------------------------------ */

int mo_tcache_create(mo_tcache_t **out, const mo_tcache_opts_t *o)
{
	size_t cap = o->magazine ? o->magazine : 64;
	const char *name = o->name ? o->name : "tcache";
	mo_tcache_t *tc;
	int err = -ENOMEM;

	if (cap < 2 || cap % 2 || cap > UINT32_MAX ||
	    ((o->flags & MO_ALLOC_DEBUG) && o->pool &&
	     !mo_cpool_debug(o->pool)))
		return -EINVAL;
	tc = calloc(1, sizeof(*tc));
	if (!tc || !(tc->name = strdup(name)))
		goto fail;
	if (o->pool) {
		tc->pool = o->pool;
	} else {
		mo_cpool_opts_t po = {.size = o->size,
				      .align = o->align,
				      .max_objects = o->max_objects,
				      .name = name,
				      .flags = o->flags};
		if ((err = mo_cpool_create(&tc->pool, &po)))
			goto fail;
		tc->owns_pool = 1;
	}
	if (pthread_key_create(&tc->key, on_thread_exit)) {
		err = -EAGAIN;
		goto fail;
	}
	pthread_mutex_init(&tc->lock, NULL);
	tc->cap = cap;
	tc->batch = cap / 2;
	tc->size = mo_cpool_size(tc->pool);
	tc->stride = mo_cpool_stride(tc->pool);
	tc->debug = mo_cpool_debug(tc->pool);
	tc->id = atomic_fetch_add(&g_ids, 1) + 1;
	*out = tc;
	MO_ALLOC_HOOK(created, tc, "tcache", tc->name);
	return 0;
fail:
	if (tc && tc->owns_pool)
		mo_cpool_destroy(tc->pool);
	if (tc)
		free(tc->name);
	free(tc);
	return err;
}

void mo_tcache_destroy(mo_tcache_t *tc)
{
	if (!tc)
		return;
	MO_ALLOC_HOOK(destroyed, tc);
	pthread_key_delete(tc->key);
	if (t_last.id == tc->id)
		t_last.id = 0;
	pthread_mutex_lock(&tc->lock);
	while (tc->mags)
		retire(tc, tc->mags);
	pthread_mutex_unlock(&tc->lock);
	pthread_mutex_destroy(&tc->lock);
	if (tc->owns_pool)
		mo_cpool_destroy(tc->pool);
	free(tc->name);
	free(tc);
}

int mo_tcache_reset(mo_tcache_t *tc)
{
	uint64_t a = 0, f = 0;

	if (!tc->owns_pool)
		return -EINVAL;
	pthread_mutex_lock(&tc->lock);
	for (struct mag *m = tc->mags; m; m = m->next) {
		set_n(m, 0);
		m->delta = 0;
		m->base = 0;
		a += ld(&m->allocs);
		f += ld(&m->frees);
	}
	tc->live_off = a + tc->r_allocs - f - tc->r_frees;
	atomic_store(&tc->live, 0);
	tc->resets++;
	pthread_mutex_unlock(&tc->lock);
	mo_cpool_reset(tc->pool);
	MO_ALLOC_HOOK(reset, tc);
	return 0;
}

void mo_tcache_stats(mo_tcache_t *tc, mo_alloc_stats_t *st)
{
	uint64_t a, f, pk, live;
	mo_alloc_stats_t ps;

	mo_cpool_stats(tc->pool, &ps);
	pthread_mutex_lock(&tc->lock);
	a = tc->r_allocs;
	f = tc->r_frees;
	pk = tc->r_peak;
	for (struct mag *m = tc->mags; m; m = m->next) {
		a += ld(&m->allocs);
		f += ld(&m->frees);
		if (ld(&m->peak) > pk)
			pk = ld(&m->peak);
	}
	live = a - f - tc->live_off;
	if (live > a)
		live = 0;
	memset(st, 0, sizeof(*st));
	st->live = live;
	st->in_use = live * tc->size;
	st->internal_frag = live * (tc->stride - tc->size);
	st->peak = pk * tc->size;
	st->capacity = ps.capacity;
	st->allocs = a;
	st->frees = f;
	st->failures = atomic_load(&tc->failures);
	st->resets = tc->resets;
	pthread_mutex_unlock(&tc->lock);
}

size_t mo_tcache_cached(mo_tcache_t *tc)
{
	size_t n = 0;

	pthread_mutex_lock(&tc->lock);
	for (struct mag *m = tc->mags; m; m = m->next)
		n += mag_n(m);
	pthread_mutex_unlock(&tc->lock);
	return n;
}

mo_cpool_t *mo_tcache_pool(const mo_tcache_t *tc)
{
	return tc->pool;
}
