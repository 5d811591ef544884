/*
 * tp_threads: producer/consumer with cross-thread frees.  Usage:
 * tp_threads [BLOCKS_PER_PRODUCER] (default 5000).
 *
 * start_threads() creates TP_PRODUCERS producers and TP_CONSUMERS
 * consumers (64 KiB stacks).  Producer k (0-based) calls produce_block()
 * BLOCKS times; block i has size 16 + ((7 * k + i) % 64) * 8 bytes and is
 * malloc'd there, filled and pushed on a bounded queue (mutex + condition
 * variables, a static array: no heap).  Consumers pop blocks, check them
 * and free them.  When the producers are done, main pushes one NULL per
 * consumer to stop them and joins everyone.
 *
 * Program allocations (all at produce_block): TP_PRODUCERS * BLOCKS
 * mallocs, every one freed (by another thread).  With 4 producers and the
 * default 5000 blocks: 20000 allocations, 20000 frees, 5355520 bytes.
 *
 * glibc itself allocates one block per created thread inside
 * pthread_create() (the thread's TLS vector, its size depends on how many
 * modules with TLS are loaded); with small stacks the thread stacks stay
 * cached, so these TP_PRODUCERS + TP_CONSUMERS blocks are never freed:
 * they are the only blocks live at exit, and their stacks contain
 * start_threads().  No stdio.  Writes "tp_threads: ok\n", exits 0; exits
 * 10+ on any inconsistency.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makefile.am asks for -O0, but a user's CFLAGS (-O2 by default) come last:
 * functions stay real frames and pointers escape at any level. */
#define NOINLINE __attribute__((noinline, noclone))
#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")
#define TP_PRODUCERS 4
#define TP_CONSUMERS 4
#define TP_QUEUE_CAP 256
#define TP_STACK_SIZE (64 * 1024)

static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_empty;
	pthread_cond_t not_full;
	unsigned char *items[TP_QUEUE_CAP];
	size_t head;
	size_t count;
} queue = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	   PTHREAD_COND_INITIALIZER};

static long blocks_per_producer = 5000;
static pthread_t producers[TP_PRODUCERS];
static pthread_t consumers[TP_CONSUMERS];
static long consumed[TP_CONSUMERS];

static NOINLINE void die(int code, const char *msg)
{
	(void)!write(2, msg, strlen(msg));
	_exit(code);
}

static void queue_push(unsigned char *p)
{
	pthread_mutex_lock(&queue.lock);
	while (queue.count == TP_QUEUE_CAP)
		pthread_cond_wait(&queue.not_full, &queue.lock);
	queue.items[(queue.head + queue.count) % TP_QUEUE_CAP] = p;
	queue.count++;
	pthread_cond_signal(&queue.not_empty);
	pthread_mutex_unlock(&queue.lock);
}

static unsigned char *queue_pop(void)
{
	unsigned char *p;

	pthread_mutex_lock(&queue.lock);
	while (queue.count == 0)
		pthread_cond_wait(&queue.not_empty, &queue.lock);
	p = queue.items[queue.head];
	queue.head = (queue.head + 1) % TP_QUEUE_CAP;
	queue.count--;
	pthread_cond_signal(&queue.not_full);
	pthread_mutex_unlock(&queue.lock);
	return p;
}

static size_t block_size(long k, long i)
{
	return 16 + (size_t)((7 * k + i) % 64) * 8;
}

/* Block layout: size (size_t) then the byte 0x5a repeated. */
static NOINLINE unsigned char *produce_block(size_t size)
{
	unsigned char *p = malloc(size);

	if (p == NULL)
		die(10, "tp_threads: malloc failed\n");
	ESCAPE(p);
	memcpy(p, &size, sizeof(size));
	memset(p + sizeof(size), 0x5a, size - sizeof(size));
	return p;
}

static NOINLINE void consume_block(unsigned char *p)
{
	size_t size;

	memcpy(&size, p, sizeof(size));
	if (size < 16 || size > 16 + 63 * 8 || p[size - 1] != 0x5a)
		die(11, "tp_threads: damaged block\n");
	free(p);
}

static NOINLINE void *producer_main(void *arg)
{
	long k = (long)(intptr_t)arg;

	for (long i = 0; i < blocks_per_producer; i++)
		queue_push(produce_block(block_size(k, i)));
	return NULL;
}

static NOINLINE void *consumer_main(void *arg)
{
	long c = (long)(intptr_t)arg;
	unsigned char *p;

	while ((p = queue_pop()) != NULL) {
		consume_block(p);
		consumed[c]++;
	}
	return NULL;
}

static NOINLINE void start_threads(void)
{
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, TP_STACK_SIZE);
	for (long c = 0; c < TP_CONSUMERS; c++)
		if (pthread_create(&consumers[c], &attr, consumer_main,
				   (void *)(intptr_t)c) != 0)
			die(12, "tp_threads: pthread_create failed\n");
	for (long k = 0; k < TP_PRODUCERS; k++)
		if (pthread_create(&producers[k], &attr, producer_main,
				   (void *)(intptr_t)k) != 0)
			die(12, "tp_threads: pthread_create failed\n");
	pthread_attr_destroy(&attr);
}

int main(int argc, char **argv)
{
	long total = 0;

	if (argc > 1)
		blocks_per_producer = atol(argv[1]);
	if (blocks_per_producer < 0)
		die(2, "usage: tp_threads [BLOCKS_PER_PRODUCER]\n");
	start_threads();
	for (int k = 0; k < TP_PRODUCERS; k++)
		pthread_join(producers[k], NULL);
	for (int c = 0; c < TP_CONSUMERS; c++)
		queue_push(NULL);
	for (int c = 0; c < TP_CONSUMERS; c++) {
		pthread_join(consumers[c], NULL);
		total += consumed[c];
	}
	if (total != TP_PRODUCERS * blocks_per_producer)
		die(13, "tp_threads: blocks lost\n");
	(void)!write(1, "tp_threads: ok\n", 15);
	return 0;
}
