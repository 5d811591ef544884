/*
 * tp_closefds: a program that tramples on every file descriptor in the
 * middle of its run, as daemons do.  No stdio.
 *
 *   alloc_before   5 x malloc(80)
 *   then: opens /dev/null, dup2()s it over fds 0..63, closes every fd
 *         from 0 to 1023, reopens /dev/null as fds 0, 1 and 2
 *   alloc_after    5 x malloc(160)
 *   free_some      frees 2 of the 80-byte and 2 of the 160-byte blocks
 *
 * Expected: 10 allocations, 4 frees, 1200 bytes allocated, peak 1200;
 * live at exit 6 blocks, 720 bytes (3 x 80 + 3 x 160).  Exits 0, or 10+
 * if a call fails.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* Makefile.am asks for -O0, but a user's CFLAGS (-O2 by default) come last:
 * functions stay real frames and pointers escape at any level. */
#define NOINLINE __attribute__((noinline, noclone))
#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

static void *small[5];
static void *large[5];

static NOINLINE void alloc_before(void)
{
	for (int i = 0; i < 5; i++)
		if ((small[i] = malloc(80)) == NULL)
			_exit(10);
	ESCAPE(small);
}

static NOINLINE void alloc_after(void)
{
	for (int i = 0; i < 5; i++)
		if ((large[i] = malloc(160)) == NULL)
			_exit(10);
	ESCAPE(large);
}

static NOINLINE void free_some(void)
{
	for (int i = 0; i < 2; i++) {
		free(small[i]);
		free(large[i]);
	}
}

static NOINLINE void trample_fds(void)
{
	int null_fd = open("/dev/null", O_RDWR);

	if (null_fd < 0)
		_exit(11);
	for (int fd = 0; fd < 64; fd++)
		if (fd != null_fd && dup2(null_fd, fd) != fd)
			_exit(12);
	for (int fd = 0; fd < 1024; fd++)
		close(fd);
	if (open("/dev/null", O_RDWR) != 0 || dup2(0, 1) != 1 ||
	    dup2(0, 2) != 2)
		_exit(13);
}

int main(void)
{
	alloc_before();
	trample_fds();
	alloc_after();
	free_some();
	return 0;
}
