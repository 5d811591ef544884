/*
 * Lock-free concurrent pool (memopt/cpool.h).
 *
 * Free objects form a Treiber stack whose link is the object's first 8
 * bytes.  The head is ONE 64-bit word holding a pointer and a tag:
 *
 *	head = (ptr >> 3) | (tag << 44)
 *
 * Why not a 128-bit {pointer, counter} with cmpxchg16b: with GCC, 16-byte
 * __atomic operations go through libatomic (and -mcx16 would have to be
 * added to the library's shared CFLAGS); a single 64-bit word needs
 * neither, every atomic on it is a plain lock-free instruction, and the
 * sanitizers (TSan) understand it.  It is possible because every object
 * lives in a chunk WE mmap: Linux x86-64 hands out user addresses below
 * 2^47 unless a hint above asks otherwise (5-level paging), and objects
 * are at least 8-byte aligned, so ptr >> 3 fits 44 bits and 20 bits remain
 * for the tag (a chunk mapped above 2^47 is refused, see new_chunk()).
 *
 * ABA: pop reads head (A, t) and A->next == B, then CASes the head to
 * (B, t + 1).  If meanwhile A was popped, B popped and A pushed back, the
 * head is A again but its tag moved on (every pop increments it), so the
 * CAS fails.  Pushes keep the tag: a stack that only grew cannot show A on
 * top again without popping.  The remaining window is a thread stalled
 * between its load and its CAS while exactly a multiple of 2^20 pops
 * happen and A is on top again: accepted (see memopt-cpool(3)).
 *
 * Reading A->next after another thread popped A (and perhaps wrote user
 * data over the link) is safe: chunks are never unmapped before destroy,
 * so the read cannot fault; the value may be garbage, but then the tag has
 * changed and the CAS fails, so it is never used.  This read is a benign
 * race by design; under TSan it is excluded from instrumentation.
 *
 * Batches (the depot): mo_cpool_free_batch() pushes its objects as ONE
 * chain on a second tagged stack, whose entries are chains: a chain's
 * objects are linked through their first word, and the chain's first
 * object holds the next chain in its second word (so the depot needs
 * strides of 16 bytes or more; smaller pools push batches on the object
 * stack).  mo_cpool_alloc_batch() pops a whole chain with one CAS, so a
 * thread cache refilling from what another thread's cache flushed pays
 * one CAS per batch, not per object.  The same tag scheme protects it,
 * and the same argument makes its racy read of a popped chain's second
 * word harmless.  mo_cpool_alloc() takes from the object stack first,
 * then splits a chain from the depot (its rest goes to the object stack).
 *
 * Layout: the heads and the counters every alloc/free updates share one
 * cache line (the CAS owns that line anyway, so the counter RMW costs no
 * extra transfer); the growth state and the read-only configuration live
 * on lines of their own so that readers of the configuration never share
 * a line with writers.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memopt/cpool.h>

#include "cpool_internal.h"

#define PTR_BITS 44
#define PTR_MASK ((UINT64_C(1) << PTR_BITS) - 1)
#define ADDR_LIMIT (UINT64_C(1) << (PTR_BITS + 3))
#define CACHE_LINE 64
#define POISON 0xDD
#define MAX_CHUNK_BYTES ((size_t)16 << 20)
#define DEFAULT_CHUNK_BYTES ((size_t)64 << 10)
#define KIND "cpool"

#if defined(MO_ALLOC_DEBUG_ALL) && MO_ALLOC_DEBUG_ALL
#define DEBUG_ALL 1
#else
#define DEBUG_ALL 0
#endif

struct chunk {
	struct chunk *next;
	char *base;
	size_t nobjs;
	size_t bytes;
	_Atomic unsigned char *state; /* debug mode: one byte per object */
};

struct mo_cpool {
	/* hot: every alloc and free */
	_Alignas(CACHE_LINE) _Atomic uint64_t head;
	_Atomic uint64_t depot; /* stack of chains, same encoding */
	_Atomic uint64_t allocs;
	_Atomic uint64_t frees;
	_Atomic uint64_t peak;	   /* objects */
	_Atomic uint64_t live_off; /* allocs - frees dropped by resets */

	/* growth (under grow) and rare counters */
	_Alignas(CACHE_LINE) pthread_mutex_t grow;
	_Atomic(struct chunk *) chunks;
	_Atomic uint64_t cap_objs;
	_Atomic uint64_t failures;
	_Atomic uint64_t resets;
	size_t next_objs;

	/* read-only after create */
	_Alignas(CACHE_LINE) size_t size;
	size_t stride;
	size_t max_objects;
	int debug;
	int use_depot; /* stride >= 16 */
	char *name;
};

static inline uint64_t encode(void *ptr, uint64_t tag)
{
	return ((uint64_t)(uintptr_t)ptr >> 3) | (tag << PTR_BITS);
}

static inline void *decode(uint64_t w)
{
	return (void *)(uintptr_t)((w & PTR_MASK) << 3);
}

static inline uint64_t tag_of(uint64_t w)
{
	return w >> PTR_BITS;
}

/* The link of an object that may have been popped (and overwritten) by
 * another thread since we saw it on top: see the comment at the top. */
#if defined(__SANITIZE_THREAD__)
#define MO_RACY_READ __attribute__((noinline, no_sanitize_thread))
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MO_RACY_READ __attribute__((noinline, no_sanitize("thread")))
#endif
#endif
#ifndef MO_RACY_READ
#define MO_RACY_READ inline
#endif

/* word: 0 for the object link, 1 for a chain's next chain */
static MO_RACY_READ uint64_t racy_next(const void *node, int word)
{
	return __atomic_load_n((const uint64_t *)node + word, __ATOMIC_RELAXED);
}

static inline void set_word(void *node, int word, void *next)
{
	((uint64_t *)node)[word] = (uint64_t)(uintptr_t)next;
}

static inline void set_next(void *node, void *next)
{
	set_word(node, 0, next);
}

static inline void *get_next(const void *node)
{
	return (void *)(uintptr_t) * (const uint64_t *)node;
}

/* Pops the top of stack h, whose entries link through word `word`. */
static inline void *pop_from(_Atomic uint64_t *h, int word)
{
	uint64_t old = atomic_load_explicit(h, memory_order_acquire);
	for (;;) {
		void *node = decode(old);
		if (!node)
			return NULL;
		uint64_t next = racy_next(node, word);
		uint64_t nw = (next >> 3) | ((tag_of(old) + 1) << PTR_BITS);
		if (atomic_compare_exchange_weak_explicit(h, &old, nw,
							  memory_order_acquire,
							  memory_order_acquire))
			return node;
	}
}

static inline void *pop(mo_cpool_t *p)
{
	return pop_from(&p->head, 0);
}

/* Pushes the private chain first..last (linked through their first word). */
static inline void push_chain(mo_cpool_t *p, void *first, void *last)
{
	uint64_t old = atomic_load_explicit(&p->head, memory_order_relaxed);
	do {
		set_next(last, decode(old));
	} while (!atomic_compare_exchange_weak_explicit(
		&p->head, &old, encode(first, tag_of(old)),
		memory_order_release, memory_order_relaxed));
}

/* Pushes the private chain starting at first as one depot entry. */
static inline void push_depot(mo_cpool_t *p, void *first)
{
	uint64_t old = atomic_load_explicit(&p->depot, memory_order_relaxed);
	do {
		set_word(first, 1, decode(old));
	} while (!atomic_compare_exchange_weak_explicit(
		&p->depot, &old, encode(first, tag_of(old)),
		memory_order_release, memory_order_relaxed));
}

/* Pops a chain from the depot; in debug mode the word that linked it is
 * poisoned again (it is part of the free object's poisoned area). */
static inline void *pop_depot(mo_cpool_t *p)
{
	void *c = p->use_depot ? pop_from(&p->depot, 1) : NULL;
	if (c && p->debug)
		memset((char *)c + 8, POISON, 8);
	return c;
}

/* Pushes the chain starting at first, minus nothing, on the object stack. */
static void push_rest(mo_cpool_t *p, void *first)
{
	void *last = first;
	while (get_next(last))
		last = get_next(last);
	push_chain(p, first, last);
}

/* --- statistics ------------------------------------------------------- */

static void note_allocs(mo_cpool_t *p, uint64_t n)
{
	uint64_t a =
		atomic_fetch_add_explicit(&p->allocs, n, memory_order_relaxed) +
		n;
	uint64_t f = atomic_load_explicit(&p->frees, memory_order_relaxed);
	uint64_t off = atomic_load_explicit(&p->live_off, memory_order_relaxed);
	uint64_t live = a - f - off;
	uint64_t pk = atomic_load_explicit(&p->peak, memory_order_relaxed);
	/* a - f can wrap briefly when a free's count lands before the
	 * matching alloc's: ignore those (live would look huge) */
	if (live > a)
		return;
	while (live > pk && !atomic_compare_exchange_weak_explicit(
				    &p->peak, &pk, live, memory_order_relaxed,
				    memory_order_relaxed))
		;
}

void mo_cpool_stats(const mo_cpool_t *p, mo_alloc_stats_t *st)
{
	mo_cpool_t *q = (mo_cpool_t *)p;
	uint64_t f = atomic_load_explicit(&q->frees, memory_order_relaxed);
	uint64_t a = atomic_load_explicit(&q->allocs, memory_order_relaxed);
	uint64_t off = atomic_load_explicit(&q->live_off, memory_order_relaxed);
	uint64_t live = a - f - off;

	if (live > a) /* in-flight skew, see note_allocs() */
		live = 0;
	memset(st, 0, sizeof(*st));
	st->live = live;
	st->in_use = live * p->size;
	st->internal_frag = live * (p->stride - p->size);
	st->peak =
		atomic_load_explicit(&q->peak, memory_order_relaxed) * p->size;
	st->capacity =
		atomic_load_explicit(&q->cap_objs, memory_order_relaxed) *
		p->stride;
	st->allocs = a;
	st->frees = f;
	st->failures = atomic_load_explicit(&q->failures, memory_order_relaxed);
	st->resets = atomic_load_explicit(&q->resets, memory_order_relaxed);
}

/* --- chunks ------------------------------------------------------------ */

static struct chunk *find_chunk(const mo_cpool_t *p, const void *obj)
{
	struct chunk *c = atomic_load_explicit(&((mo_cpool_t *)p)->chunks,
					       memory_order_acquire);
	for (; c; c = c->next)
		if ((const char *)obj >= c->base &&
		    (const char *)obj < c->base + c->nobjs * p->stride)
			return c;
	return NULL;
}

int mo__cpool_contains(const mo_cpool_t *p, const void *obj)
{
	return find_chunk(p, obj) != NULL;
}

int mo_cpool_owns(const mo_cpool_t *p, const void *obj)
{
	struct chunk *c = find_chunk(p, obj);
	return c && ((size_t)((const char *)obj - c->base) % p->stride) == 0;
}

_Atomic unsigned char *mo__cpool_state(const mo_cpool_t *p, const void *obj)
{
	struct chunk *c;
	size_t off;

	if (!p->debug || !(c = find_chunk(p, obj)))
		return NULL;
	off = (size_t)((const char *)obj - c->base);
	if (off % p->stride)
		return NULL;
	return &c->state[off / p->stride];
}

void mo__cpool_poison(const mo_cpool_t *p, void *obj)
{
	if (p->stride > 8)
		memset((char *)obj + 8, POISON, p->stride - 8);
}

void mo__cpool_check_poison(const mo_cpool_t *p, const void *obj)
{
	const unsigned char *b = obj;
	for (size_t i = 8; i < p->stride; i++)
		if (b[i] != POISON) {
			mo_alloc_misuse(KIND, p->name,
					"object modified after free");
			return;
		}
}

/* Links the objects of c into a chain; returns its first, *last its last. */
static void *link_chunk(mo_cpool_t *p, struct chunk *c, void **last)
{
	for (size_t i = 0; i < c->nobjs; i++) {
		char *o = c->base + i * p->stride;
		set_next(o, i + 1 < c->nobjs ? o + p->stride : NULL);
		if (p->debug) {
			mo__cpool_poison(p, o);
			atomic_store_explicit(&c->state[i], MO__CP_FREE,
					      memory_order_relaxed);
		}
	}
	*last = c->base + (c->nobjs - 1) * p->stride;
	return c->base;
}

/* Maps the next chunk (under grow).  NULL at the limit or out of memory. */
static struct chunk *new_chunk(mo_cpool_t *p)
{
	uint64_t cap = atomic_load_explicit(&p->cap_objs, memory_order_relaxed);
	size_t objs = p->next_objs, bytes, page = (size_t)sysconf(_SC_PAGESIZE);
	struct chunk *c;

	if (p->max_objects) {
		if (cap >= p->max_objects)
			return NULL;
		if (objs > p->max_objects - cap)
			objs = p->max_objects - cap;
	}
	if (mo_size_mul(objs, p->stride, &bytes) ||
	    mo_size_align(bytes, page, &bytes))
		return NULL;
	if (!p->max_objects) /* the page rounding holds more objects */
		objs = bytes / p->stride;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (p->debug && !(c->state = calloc(objs, 1)))
		goto fail;
	c->base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->base == MAP_FAILED)
		goto fail;
	if ((uint64_t)(uintptr_t)c->base + bytes > ADDR_LIMIT) {
		munmap(c->base, bytes); /* cannot be encoded in the head */
		goto fail;
	}
	c->nobjs = objs;
	c->bytes = bytes;
	if (p->next_objs <= MAX_CHUNK_BYTES / 2 / p->stride)
		p->next_objs *= 2;
	return c;
fail:
	free((void *)c->state);
	free(c);
	return NULL;
}

/* Slow path of alloc: grow under the mutex (or find what another thread
 * freed or added meanwhile). */
static void *alloc_slow(mo_cpool_t *p)
{
	struct chunk *c;
	void *obj, *last;

	pthread_mutex_lock(&p->grow);
	obj = pop(p);
	if (!obj && (obj = pop_depot(p)) && get_next(obj))
		push_rest(p, get_next(obj));
	if (!obj && (c = new_chunk(p))) {
		obj = link_chunk(p, c, &last);
		c->next =
			atomic_load_explicit(&p->chunks, memory_order_relaxed);
		atomic_store_explicit(&p->chunks, c, memory_order_release);
		atomic_fetch_add_explicit(&p->cap_objs, c->nobjs,
					  memory_order_relaxed);
		if (c->nobjs > 1)
			push_chain(p, c->base + p->stride, last);
	}
	pthread_mutex_unlock(&p->grow);
	if (!obj)
		atomic_fetch_add_explicit(&p->failures, 1,
					  memory_order_relaxed);
	return obj;
}

/* --- alloc and free ---------------------------------------------------- */

static void debug_alloc(mo_cpool_t *p, void *obj)
{
	_Atomic unsigned char *s = mo__cpool_state(p, obj);

	mo__cpool_check_poison(p, obj);
	if (s && atomic_exchange(s, MO__CP_USED) != MO__CP_FREE)
		mo_alloc_misuse(KIND, p->name, "free list corrupted");
}

static inline void *take(mo_cpool_t *p)
{
	void *obj = pop(p);
	if (__builtin_expect(!obj, 0) && (obj = pop_depot(p)) && get_next(obj))
		push_rest(p, get_next(obj));
	if (__builtin_expect(!obj, 0))
		obj = alloc_slow(p);
	if (obj && p->debug)
		debug_alloc(p, obj);
	return obj;
}

void *mo_cpool_alloc(mo_cpool_t *p)
{
	void *obj = take(p);
	if (!obj)
		return NULL;
	note_allocs(p, 1);
	MO_ALLOC_HOOK(alloc, p, obj, p->size, p->stride);
	return obj;
}

size_t mo_cpool_alloc_batch(mo_cpool_t *p, void **out, size_t n)
{
	size_t i = 0;
	void *c = n > 1 ? pop_depot(p) : NULL;

	/* a whole chain with one CAS: walk it privately */
	for (; c && i < n; c = get_next(c)) {
		out[i++] = c;
		if (p->debug)
			debug_alloc(p, c);
	}
	if (c)
		push_rest(p, c);
	for (; i < n; i++)
		if (!(out[i] = take(p)))
			break;
	if (i) {
		note_allocs(p, i);
		if (__builtin_expect(mo_alloc_hooks != NULL, 0))
			for (size_t j = 0; j < i; j++)
				MO_ALLOC_HOOK(alloc, p, out[j], p->size,
					      p->stride);
	}
	return i;
}

/* Debug checks of a free; returns 0 if obj must not be pushed. */
static int debug_free(mo_cpool_t *p, void *obj)
{
	_Atomic unsigned char *s = mo__cpool_state(p, obj);
	unsigned char was = MO__CP_USED;

	if (!s) {
		mo_alloc_misuse(
			KIND, p->name,
			find_chunk(p, obj)
				? "free of a pointer inside an object, "
				  "not at its start"
				: "free of a pointer not from this pool");
		return 0;
	}
	if (!atomic_compare_exchange_strong(s, &was, MO__CP_FREE)) {
		mo_alloc_misuse(KIND, p->name,
				was == MO__CP_FREE
					? "double free"
					: "free of an object held by a thread "
					  "cache");
		return 0;
	}
	mo__cpool_poison(p, obj);
	return 1;
}

void mo_cpool_free(mo_cpool_t *p, void *obj)
{
	if (!obj)
		return;
	if (p->debug && !debug_free(p, obj))
		return;
	MO_ALLOC_HOOK(free, p, obj, p->size);
	push_chain(p, obj, obj);
	atomic_fetch_add_explicit(&p->frees, 1, memory_order_relaxed);
}

void mo_cpool_free_batch(mo_cpool_t *p, void *const *objs, size_t n)
{
	void *first = NULL, *last = NULL;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		void *o = objs[i];
		if (!o || (p->debug && !debug_free(p, o)))
			continue;
		MO_ALLOC_HOOK(free, p, o, p->size);
		if (last)
			set_next(last, o);
		else
			first = o;
		last = o;
		k++;
	}
	if (!k)
		return;
	if (p->use_depot && k > 1) {
		set_next(last, NULL);
		push_depot(p, first);
	} else {
		push_chain(p, first, last);
	}
	atomic_fetch_add_explicit(&p->frees, k, memory_order_relaxed);
}

/* --- lifecycle --------------------------------------------------------- */

int mo_cpool_create(mo_cpool_t **out, const mo_cpool_opts_t *o)
{
	size_t align = o->align ? o->align : 16, stride;
	const char *name = o->name ? o->name : "cpool";
	mo_cpool_t *p;

	if (!o->size || !mo_is_pow2(align) || align > MO_CPOOL_MAX_ALIGN)
		return -EINVAL;
	if (align < 8)
		align = 8;
	if (mo_size_align(o->size, align, &stride) || stride > MAX_CHUNK_BYTES)
		return -EOVERFLOW;
	p = aligned_alloc(CACHE_LINE, sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	if (!(p->name = strdup(name))) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->grow, NULL);
	p->size = o->size;
	p->stride = stride;
	p->max_objects = o->max_objects;
	p->debug = DEBUG_ALL || (o->flags & MO_ALLOC_DEBUG);
	p->next_objs = o->chunk_objs
			       ? o->chunk_objs
			       : (DEFAULT_CHUNK_BYTES + stride - 1) / stride;
	if (p->next_objs > MAX_CHUNK_BYTES / stride)
		p->next_objs = MAX_CHUNK_BYTES / stride;
	atomic_init(&p->head, 0);
	atomic_init(&p->depot, 0);
	p->use_depot = stride >= 16;
	*out = p;
	MO_ALLOC_HOOK(created, p, "cpool", p->name);
	return 0;
}

void mo_cpool_destroy(mo_cpool_t *p)
{
	struct chunk *c, *n;

	if (!p)
		return;
	MO_ALLOC_HOOK(destroyed, p);
	for (c = atomic_load(&p->chunks); c; c = n) {
		n = c->next;
		munmap(c->base, c->bytes);
		free((void *)c->state);
		free(c);
	}
	pthread_mutex_destroy(&p->grow);
	free(p->name);
	free(p);
}

void mo_cpool_reset(mo_cpool_t *p)
{
	void *first = NULL, *last = NULL, *f, *l;
	uint64_t old = atomic_load(&p->head);

	for (struct chunk *c = atomic_load(&p->chunks); c; c = c->next) {
		f = link_chunk(p, c, &l);
		if (last)
			set_next(last, f);
		else
			first = f;
		last = l;
	}
	/* a new tag: a stale (quiescence violated) pop cannot succeed */
	atomic_store(&p->head, encode(first, tag_of(old) + 1));
	atomic_store(&p->depot,
		     encode(NULL, tag_of(atomic_load(&p->depot)) + 1));
	atomic_store(&p->live_off,
		     atomic_load(&p->allocs) - atomic_load(&p->frees));
	atomic_fetch_add(&p->resets, 1);
	MO_ALLOC_HOOK(reset, p);
}

size_t mo_cpool_size(const mo_cpool_t *p)
{
	return p->size;
}

size_t mo_cpool_stride(const mo_cpool_t *p)
{
	return p->stride;
}

const char *mo_cpool_name(const mo_cpool_t *p)
{
	return p->name;
}

int mo_cpool_debug(const mo_cpool_t *p)
{
	return p->debug;
}

/* --- for the ABA test -------------------------------------------------- */

void mo__cpool_pop_begin(mo_cpool_t *p, uint64_t *head, uint64_t *next)
{
	*head = atomic_load_explicit(&p->head, memory_order_acquire);
	*next = decode(*head) ? racy_next(decode(*head), 0) : 0;
}

void *mo__cpool_pop_finish(mo_cpool_t *p, uint64_t head, uint64_t next)
{
	uint64_t nw = (next >> 3) | ((tag_of(head) + 1) << PTR_BITS);
	if (!decode(head) ||
	    !atomic_compare_exchange_strong(&p->head, &head, nw))
		return NULL;
	return decode(head);
}
