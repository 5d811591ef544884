/*
 * churn: an allocation-churn benchmark workload for memopt.
 *
 * T threads each perform N allocations (malloc, calloc or realloc) of 16 to
 * 4096 bytes from the bottom of a call chain 16 frames deep.  The chain
 * is built from a few noinline functions chosen by a per-operation
 * "path", so the program produces a few hundred distinct stacks.  Every
 * block goes into a random slot of a per-thread window of live blocks and
 * is freed (or grown with realloc) when a later operation lands on the same
 * slot, so frees follow allocations after a random delay.
 *
 * Everything is deterministic: each thread has its own seeded PRNG.  The
 * program prints one checksum line so that no work can be optimised away.
 *
 * Usage: churn [-t THREADS] [-n ALLOCS_PER_THREAD] [-w WINDOW] [-s SEED]
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHURN_DEPTH 7	      /* levels; each is two frames (level + link) */
#define CHURN_BRANCH_LEVELS 4 /* levels whose function depends on the path */
#define CHURN_PATHS 256	      /* 4 choices ^ CHURN_BRANCH_LEVELS */
#define CHURN_SIZES_PER_PATH 8
#define CHURN_OPS_PER_LEAF 4 /* allocations per walk down the chain */
#define CHURN_MIN_SIZE 16
#define CHURN_MAX_SIZE 4096

#define NOINLINE __attribute__((noinline))

typedef struct churn_opts_s {
	unsigned threads;
	uint64_t allocs;
	unsigned window;
	uint64_t seed;
} churn_opts_t;

typedef struct churn_thread_s {
	pthread_t tid;
	const churn_opts_t *opts;
	unsigned index;
	uint64_t rng;
	void **slots;
	uint32_t *sizes;
	uint64_t done;	    /* allocations performed so far */
	uint64_t visits[4]; /* calls of each chain link */
	uint64_t checksum;
} churn_thread_t;

/* xorshift64*: small, fast and good enough for a workload generator. */
static uint64_t churn_rand(churn_thread_t *t)
{
	uint64_t x = t->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/*
 * Each path (allocation site) uses a few sizes of its own, like the few
 * structure and buffer sizes a real call site allocates.  The sizes are
 * skewed towards small blocks and fixed at startup (churn_init_sizes).
 */
static uint32_t churn_sizes[CHURN_PATHS][CHURN_SIZES_PER_PATH];

static void churn_init_sizes(uint64_t seed)
{
	churn_thread_t gen = {.rng = seed * 0x94d049bb133111ebull + 1};

	for (unsigned p = 0; p < CHURN_PATHS; p++) {
		for (unsigned k = 0; k < CHURN_SIZES_PER_PATH; k++) {
			uint64_t r = churn_rand(&gen);
			uint32_t span = 16u << (r % 9); /* 16 .. 4096 */
			uint32_t size =
				CHURN_MIN_SIZE + (uint32_t)((r >> 8) % span);

			churn_sizes[p][k] =
				size > CHURN_MAX_SIZE ? CHURN_MAX_SIZE : size;
		}
	}
}

static uint32_t churn_size(churn_thread_t *t, unsigned path)
{
	return churn_sizes[path][churn_rand(t) % CHURN_SIZES_PER_PATH];
}

static void churn_die(const char *what)
{
	fprintf(stderr, "churn: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Fill the first and last byte so the block is really used. */
static void churn_touch(churn_thread_t *t, unsigned char *p, uint32_t size)
{
	p[0] = (unsigned char)t->done;
	p[size - 1] = (unsigned char)(t->done >> 8);
}

static uint64_t churn_read(const unsigned char *p, uint32_t size)
{
	return (uint64_t)p[0] + ((uint64_t)p[size - 1] << 8) + size;
}

/* One operation on a random slot: free or grow what is there, then
 * allocate if the slot is empty. */
static void churn_op(churn_thread_t *t, unsigned path)
{
	uint64_t r = churn_rand(t);
	unsigned slot = (unsigned)(r % t->opts->window);
	unsigned kind = (unsigned)((r >> 32) % 16);
	unsigned char *p = t->slots[slot];
	uint32_t size = churn_size(t, path);

	if (p != NULL) {
		t->checksum += churn_read(p, t->sizes[slot]);
		if (kind == 0) { /* 1 in 16: realloc the old block */
			p = realloc(p, size);
			if (p == NULL)
				churn_die("realloc");
			goto done;
		}
		free(p);
	}
	if (kind == 1)
		p = calloc(1, size);
	else
		p = malloc(size);
	if (p == NULL)
		churn_die("malloc");
done:
	t->slots[slot] = p;
	t->sizes[slot] = size;
	churn_touch(t, p, size);
	t->done++;
}

static NOINLINE void churn_leaf(churn_thread_t *t, unsigned path)
{
	for (int i = 0; i < CHURN_OPS_PER_LEAF && t->done < t->opts->allocs;
	     i++)
		churn_op(t, path);
	__asm__ volatile("" ::: "memory");
}

static void churn_level(churn_thread_t *t, unsigned depth, unsigned path);

/* Four distinct links of the chain; which one runs at a given depth
 * depends on the path, so the return addresses differ between paths.
 * Each counts its calls, so the compiler cannot merge them into one. */
static NOINLINE void churn_link_a(churn_thread_t *t, unsigned depth,
				  unsigned path)
{
	t->visits[0]++;
	churn_level(t, depth + 1, path);
	__asm__ volatile("" ::: "memory");
}

static NOINLINE void churn_link_b(churn_thread_t *t, unsigned depth,
				  unsigned path)
{
	t->visits[1]++;
	churn_level(t, depth + 1, path);
	__asm__ volatile("" ::: "memory");
}

static NOINLINE void churn_link_c(churn_thread_t *t, unsigned depth,
				  unsigned path)
{
	t->visits[2]++;
	churn_level(t, depth + 1, path);
	__asm__ volatile("" ::: "memory");
}

static NOINLINE void churn_link_d(churn_thread_t *t, unsigned depth,
				  unsigned path)
{
	t->visits[3]++;
	churn_level(t, depth + 1, path);
	__asm__ volatile("" ::: "memory");
}

static NOINLINE void churn_level(churn_thread_t *t, unsigned depth,
				 unsigned path)
{
	unsigned choice;

	if (depth >= CHURN_DEPTH) {
		churn_leaf(t, path);
		return;
	}
	/* The first levels branch on two bits of the path each; the deeper
	 * ones always take the same link. */
	choice = depth < CHURN_BRANCH_LEVELS ? (path >> (2 * depth)) & 3 : 0;
	switch (choice) {
	case 0:
		churn_link_a(t, depth, path);
		break;
	case 1:
		churn_link_b(t, depth, path);
		break;
	case 2:
		churn_link_c(t, depth, path);
		break;
	default:
		churn_link_d(t, depth, path);
		break;
	}
	__asm__ volatile("" ::: "memory");
}

static void *churn_thread_main(void *arg)
{
	churn_thread_t *t = arg;
	unsigned w = t->opts->window;

	t->slots = calloc(w, sizeof(*t->slots));
	t->sizes = calloc(w, sizeof(*t->sizes));
	if (t->slots == NULL || t->sizes == NULL)
		churn_die("calloc");
	while (t->done < t->opts->allocs)
		churn_level(t, 0, (unsigned)(churn_rand(t) % CHURN_PATHS));
	for (unsigned i = 0; i < w; i++) {
		if (t->slots[i] != NULL)
			t->checksum += churn_read(t->slots[i], t->sizes[i]);
		free(t->slots[i]);
	}
	for (unsigned k = 0; k < 4; k++)
		t->checksum += t->visits[k] << (8 * k);
	free(t->slots);
	free(t->sizes);
	return NULL;
}

static int churn_parse_u64(const char *s, uint64_t min, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min)
		return -EINVAL;
	*out = v;
	return 0;
}

static void churn_usage(FILE *f)
{
	fprintf(f, "usage: churn [-t THREADS] [-n ALLOCS_PER_THREAD] "
		   "[-w WINDOW] [-s SEED]\n"
		   "defaults: -t 2 -n 2000000 -w 4096 -s 1\n");
}

static int churn_parse_args(int argc, char **argv, churn_opts_t *o)
{
	uint64_t v;
	int c;

	while ((c = getopt(argc, argv, "t:n:w:s:h")) != -1) {
		switch (c) {
		case 't':
			if (churn_parse_u64(optarg, 1, &v) < 0 || v > 1024)
				return -EINVAL;
			o->threads = (unsigned)v;
			break;
		case 'n':
			if (churn_parse_u64(optarg, 0, &o->allocs) < 0)
				return -EINVAL;
			break;
		case 'w':
			if (churn_parse_u64(optarg, 1, &v) < 0 ||
			    v > (1u << 24))
				return -EINVAL;
			o->window = (unsigned)v;
			break;
		case 's':
			if (churn_parse_u64(optarg, 0, &o->seed) < 0)
				return -EINVAL;
			break;
		case 'h':
			churn_usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	return optind == argc ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	churn_opts_t opts = {
		.threads = 2, .allocs = 2000000, .window = 4096, .seed = 1};
	churn_thread_t *threads;
	uint64_t checksum = 0;
	int err;

	if (churn_parse_args(argc, argv, &opts) < 0) {
		churn_usage(stderr);
		return 2;
	}
	churn_init_sizes(opts.seed);
	threads = calloc(opts.threads, sizeof(*threads));
	if (threads == NULL)
		churn_die("calloc");
	for (unsigned i = 0; i < opts.threads; i++) {
		threads[i].opts = &opts;
		threads[i].index = i;
		/* never 0: xorshift would stay at 0 forever */
		threads[i].rng = (opts.seed + 1) * 0x9e3779b97f4a7c15ull +
				 (uint64_t)i * 0xbf58476d1ce4e5b9ull;
		if (threads[i].rng == 0)
			threads[i].rng = 1;
		err = pthread_create(&threads[i].tid, NULL, churn_thread_main,
				     &threads[i]);
		if (err != 0) {
			errno = err;
			churn_die("pthread_create");
		}
	}
	for (unsigned i = 0; i < opts.threads; i++) {
		pthread_join(threads[i].tid, NULL);
		checksum = checksum * 31 + threads[i].checksum;
	}
	printf("churn: checksum %016" PRIx64 "\n", checksum);
	free(threads);
	return 0;
}
