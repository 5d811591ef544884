/*
 * allocbench: memopt's allocators against the general-purpose malloc on
 * the patterns each is made for.  One run measures one side:
 *
 *   allocbench malloc PATTERN   the process's malloc (bench/allocs.sh runs
 *                               it under glibc, jemalloc, mimalloc and
 *                               tcmalloc with LD_PRELOAD)
 *   allocbench memopt PATTERN   memopt's allocator for PATTERN
 *
 * and prints one number: nanoseconds per operation, the best of several
 * repetitions.  Patterns (an operation is one allocation and its share of
 * the freeing):
 *   fixed     64-byte objects: allocate a batch of 1024, free it in a
 *             scrambled order (memopt: mo_pool)
 *   phases    16-256 bytes: allocate a batch of 4096, then free them all
 *             at once (memopt: mo_arena, one reset)
 *   lifo      16-512 bytes: allocate 64 nested, free in reverse order
 *             (memopt: mo_stack)
 *   mixed     16-4096 bytes: random frees within a window of 1024 live
 *             blocks (memopt: mo_fl, best fit)
 *   prodcons  two threads: one allocates 64-byte objects and passes them
 *             through a ring to the other, which frees them (memopt:
 *             mo_cpool, the lock-free pool, behind its per-thread caching
 *             front mo_tcache, as a program would use it)
 * Work is done in batches: every block is written to and its pointer kept
 * until it is freed, so that no alloc/free pair can be optimised away.
 * Sizes are drawn before timing, so the harness adds a store per block.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memopt/arena.h>
#include <memopt/cpool.h>
#include <memopt/tcache.h>
#include <memopt/freelist.h>
#include <memopt/pool.h>
#include <memopt/stackalloc.h>

#define BATCH 1024
#define PHASE 4096
#define DEPTH 64
#define WINDOW 1024
#define REPS 5

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Writes a byte of each block, so that every allocation is really used;
 * the harness adds as little as it can to what is measured. */
static inline void touch(void *p, size_t n)
{
	*(volatile unsigned char *)p = (unsigned char)n;
}

/* Sizes and slots drawn once, before any timing. */
#define DRAWS 65536
static uint16_t g_size_phase[DRAWS], g_size_lifo[DRAWS], g_size_mixed[DRAWS];
static uint16_t g_slot[DRAWS];

static void draw(void)
{
	uint64_t s = 1;
	for (size_t i = 0; i < DRAWS; i++) {
		g_size_phase[i] = (uint16_t)(16 + rng(&s) % 241);
		g_size_lifo[i] = (uint16_t)(16 + rng(&s) % 497);
		g_size_mixed[i] = (uint16_t)(16 + rng(&s) % 4081);
		g_slot[i] = (uint16_t)(rng(&s) % WINDOW);
	}
}

/* A scrambled visiting order of BATCH slots (a multiplicative walk). */
static size_t scramble(size_t i)
{
	return (i * 389) % BATCH; /* 389 is prime to 1024 */
}

/* --- the patterns, with malloc ------------------------------------------- */

static uint64_t malloc_fixed(uint64_t rounds)
{
	static void *v[BATCH];
	for (uint64_t r = 0; r < rounds; r++) {
		for (size_t i = 0; i < BATCH; i++) {
			v[i] = malloc(64);
			touch(v[i], 64);
		}
		for (size_t i = 0; i < BATCH; i++)
			free(v[scramble(i)]);
	}
	return rounds * BATCH;
}

static uint64_t malloc_phases(uint64_t rounds)
{
	static void *v[PHASE];
	for (uint64_t r = 0; r < rounds; r++) {
		for (size_t i = 0; i < PHASE; i++) {
			size_t n = g_size_phase[i];
			v[i] = malloc(n);
			touch(v[i], n);
		}
		for (size_t i = 0; i < PHASE; i++)
			free(v[i]);
	}
	return rounds * PHASE;
}

static uint64_t malloc_lifo(uint64_t rounds)
{
	void *v[DEPTH];
	for (uint64_t r = 0; r < rounds; r++) {
		for (size_t i = 0; i < DEPTH; i++) {
			size_t n = g_size_lifo[(r * DEPTH + i) % DRAWS];
			v[i] = malloc(n);
			touch(v[i], n);
		}
		for (size_t i = DEPTH; i-- > 0;)
			free(v[i]);
	}
	return rounds * DEPTH;
}

static uint64_t malloc_mixed(uint64_t rounds)
{
	static void *v[WINDOW];
	uint64_t ops = rounds * BATCH;
	for (uint64_t k = 0; k < ops; k++) {
		size_t slot = g_slot[k % DRAWS], n = g_size_mixed[k % DRAWS];
		free(v[slot]);
		v[slot] = malloc(n);
		touch(v[slot], n);
	}
	for (size_t i = 0; i < WINDOW; i++) {
		free(v[i]);
		v[i] = NULL;
	}
	return ops;
}

/* --- the same patterns, with memopt's allocators ------------------------- */

static void die(const char *what, int err)
{
	fprintf(stderr, "allocbench: %s: %s\n", what, strerror(-err));
	exit(1);
}

static uint64_t memopt_fixed(uint64_t rounds)
{
	static void *v[BATCH];
	mo_pool_t *created;
	mo_pool_opts_t o = {.obj_size = 64, .chunk_objs = BATCH};
	int r0 = mo_pool_create(&created, &o);
	if (r0 < 0)
		die("mo_pool_create", r0);
	mo_pool_t *const pool = created; /* not address-taken: a register */
	for (uint64_t r = 0; r < rounds; r++) {
		for (size_t i = 0; i < BATCH; i++) {
			v[i] = mo_pool_alloc(pool);
			touch(v[i], 64);
		}
		for (size_t i = 0; i < BATCH; i++)
			mo_pool_free(pool, v[scramble(i)]);
	}
	mo_pool_destroy(pool);
	return rounds * BATCH;
}

static uint64_t memopt_phases(uint64_t rounds)
{
	mo_arena_t *created;
	int r0 = mo_arena_create(&created, NULL);
	if (r0 < 0)
		die("mo_arena_create", r0);
	mo_arena_t *const a = created;
	for (uint64_t r = 0; r < rounds; r++) {
		for (size_t i = 0; i < PHASE; i++) {
			size_t n = g_size_phase[i];
			void *p = mo_arena_alloc(a, n);
			touch(p, n);
		}
		mo_arena_reset(a);
	}
	mo_arena_destroy(a);
	return rounds * PHASE;
}

static uint64_t memopt_lifo(uint64_t rounds)
{
	void *v[DEPTH];
	mo_stack_t *st;
	mo_stack_opts_t o = {.size = 1u << 20};
	int r0 = mo_stack_create(&st, &o);
	if (r0 < 0)
		die("mo_stack_create", r0);
	for (uint64_t r = 0; r < rounds; r++) {
		for (size_t i = 0; i < DEPTH; i++) {
			size_t n = g_size_lifo[(r * DEPTH + i) % DRAWS];
			v[i] = mo_stack_alloc(st, n);
			touch(v[i], n);
		}
		for (size_t i = DEPTH; i-- > 0;)
			mo_stack_free(st, v[i]);
	}
	mo_stack_destroy(st);
	return rounds * DEPTH;
}

static uint64_t memopt_mixed(uint64_t rounds)
{
	static void *v[WINDOW];
	mo_fl_t *fl;
	uint64_t ops = rounds * BATCH;
	mo_fl_opts_t o = {.size = 16u << 20, .fit = MO_FL_BEST_FIT};
	int r0 = mo_fl_create(&fl, &o);
	if (r0 < 0)
		die("mo_fl_create", r0);
	for (uint64_t k = 0; k < ops; k++) {
		size_t slot = g_slot[k % DRAWS], n = g_size_mixed[k % DRAWS];
		if (v[slot])
			mo_fl_free(fl, v[slot]);
		v[slot] = mo_fl_alloc(fl, n);
		touch(v[slot], n);
	}
	mo_fl_destroy(fl);
	memset(v, 0, sizeof(v));
	return ops;
}

/* --- two threads: producer allocates, consumer frees -------------------- */

#define RING 1024 /* a single-producer, single-consumer ring of pointers */

typedef struct prodcons {
	void *slot[RING];
	_Alignas(64) _Atomic uint64_t head; /* written by the producer */
	_Alignas(64) _Atomic uint64_t tail; /* written by the consumer */
	uint64_t n;
	mo_tcache_t *pool; /* NULL: malloc and free */
} prodcons_t;

static void *consumer(void *arg)
{
	prodcons_t *pc = arg;
	uint64_t t = 0;
	while (t < pc->n) {
		uint64_t h =
			atomic_load_explicit(&pc->head, memory_order_acquire);
		for (; t < h; t++) {
			void *p = pc->slot[t % RING];
			if (pc->pool)
				mo_tcache_free(pc->pool, p);
			else
				free(p);
		}
		atomic_store_explicit(&pc->tail, t, memory_order_release);
	}
	return NULL;
}

static uint64_t run_prodcons(uint64_t rounds, mo_tcache_t *pool)
{
	static prodcons_t pc;
	pthread_t th;
	pc.n = rounds * BATCH;
	pc.pool = pool;
	atomic_store(&pc.head, 0);
	atomic_store(&pc.tail, 0);
	if (pthread_create(&th, NULL, consumer, &pc) != 0)
		die("pthread_create", -EAGAIN);
	for (uint64_t h = 0; h < pc.n; h++) {
		while (h - atomic_load_explicit(&pc.tail,
						memory_order_acquire) >=
		       RING)
			;
		void *p = pool ? mo_tcache_alloc(pool) : malloc(64);
		touch(p, 64);
		pc.slot[h % RING] = p;
		if ((h & 63) == 63 || h + 1 == pc.n)
			atomic_store_explicit(&pc.head, h + 1,
					      memory_order_release);
	}
	pthread_join(th, NULL);
	return pc.n;
}

static uint64_t malloc_prodcons(uint64_t rounds)
{
	return run_prodcons(rounds, NULL);
}

static uint64_t memopt_prodcons(uint64_t rounds)
{
	mo_tcache_t *tc;
	mo_tcache_opts_t o = {.size = 64};
	int r0 = mo_tcache_create(&tc, &o);
	if (r0 < 0)
		die("mo_tcache_create", r0);
	uint64_t n = run_prodcons(rounds, tc);
	mo_tcache_destroy(tc);
	return n;
}

typedef uint64_t (*bench_fn)(uint64_t rounds);

static const struct {
	const char *name;
	bench_fn with_malloc, with_memopt;
	uint64_t rounds;
} patterns[] = {
	{"fixed", malloc_fixed, memopt_fixed, 2000},
	{"phases", malloc_phases, memopt_phases, 500},
	{"lifo", malloc_lifo, memopt_lifo, 30000},
	{"mixed", malloc_mixed, memopt_mixed, 2000},
	{"prodcons", malloc_prodcons, memopt_prodcons, 2000},
};

int main(int argc, char **argv)
{
	if (argc != 3 ||
	    (strcmp(argv[1], "malloc") && strcmp(argv[1], "memopt"))) {
		fprintf(stderr, "usage: allocbench malloc|memopt PATTERN\n");
		return 2;
	}
	for (size_t k = 0; k < sizeof(patterns) / sizeof(patterns[0]); k++) {
		if (strcmp(argv[2], patterns[k].name))
			continue;
		bench_fn fn = argv[1][1] == 'a' ? patterns[k].with_malloc
						: patterns[k].with_memopt;
		double best = 1e30;
		draw();
		fn(patterns[k].rounds / 10); /* warm up */
		for (int r = 0; r < REPS; r++) {
			uint64_t t0 = now_ns();
			uint64_t ops = fn(patterns[k].rounds);
			double ns = (double)(now_ns() - t0) / (double)ops;
			if (ns < best)
				best = ns;
		}
		printf("%.2f\n", best);
		return 0;
	}
	fprintf(stderr, "allocbench: unknown pattern '%s'\n", argv[2]);
	return 2;
}
