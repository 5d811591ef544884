/*
 * tp_kill: kill_alloc() makes 500 calls malloc(48), kill_free() frees the
 * first 100 of them, then the process sends itself SIGKILL, which no
 * handler can intercept.  No stdio, no other heap activity.
 *
 * Expected: 500 allocations, 100 frees, 24000 bytes allocated, peak 24000,
 * live at the end 400 blocks, 19200 bytes; killed by signal 9.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

/* Makefile.am asks for -O0, but a user's CFLAGS (-O2 by default) come last:
 * functions stay real frames and pointers escape at any level. */
#define NOINLINE __attribute__((noinline, noclone))
#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")
#define TP_BLOCKS 500
#define TP_FREED 100

static void *blocks[TP_BLOCKS];

static NOINLINE void kill_alloc(void)
{
	for (int i = 0; i < TP_BLOCKS; i++) {
		blocks[i] = malloc(48);
		if (blocks[i] == NULL)
			_exit(10);
		ESCAPE(blocks[i]);
	}
}

static NOINLINE void kill_free(void)
{
	for (int i = 0; i < TP_FREED; i++)
		free(blocks[i]);
}

int main(void)
{
	kill_alloc();
	kill_free();
	kill(getpid(), SIGKILL);
	return 1;
}
