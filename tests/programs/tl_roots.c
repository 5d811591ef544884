/*
 * tl_roots: heap blocks whose only roots are thread-local storage and
 * another thread's stack, for the leak classification tests
 * (tests/test_leaks.c).  Usage: tl_roots [INFO_FILE].
 *
 * main starts one worker thread and waits until it is ready; the worker
 * then blocks for good in read() on a pipe nobody writes to, and main
 * returns: the process exits (and is scanned) with the worker still
 * holding its pointers.  No stdio.  Prints nothing, exits 0 (>= 10 if
 * something fails).
 *
 * Still reachable (400 bytes in 7 blocks):
 *   main_tls         main thread's tl_tls_bss (.tbss) -> tl_block(64)
 *                    -> tl_block(32)                           96 B  2
 *   main_tls_data    main thread's tl_tls_data (.tdata) -> tl_block(48)
 *                                                              48 B  1
 *   worker_tls       worker's tl_tls_bss -> tl_block(80)       80 B  1
 *   worker_stack     a local of the blocked worker -> tl_block(112)
 *                    -> tl_block(64)                          176 B  2
 *   worker_stack_zero a local of the worker -> malloc(0)        0 B  1
 * Possibly lost (96 bytes in 1 block, plus glibc's block):
 *   worker_interior  a local of the worker holds G+40, G = tl_block(96)
 *                                                              96 B  1
 *   pthread_create's block for the worker's dynamic thread vector (DTV):
 *   calloc'd by glibc, its only pointer is in the thread's control block
 *   and points 16 bytes in.  Its size is (modules with TLS + 16) * 16
 *   bytes: 288 natively and under valgrind (this program and libc have
 *   TLS), 16 more per preloaded library with TLS (320 under memopt: its
 *   tracker and libunwind have TLS).  The worker writes the size it sees
 *   to INFO_FILE as "dtv_bytes N\n".
 *
 * The worker's blocks come from a thread arena (a mapping of their own),
 * the main thread's and the DTV from the main heap.
 * Definitely lost (64 bytes in 1 block), indirectly lost (32 bytes in 1):
 *   lost_pair        tl_block(64) -> tl_block(32)
 * Suppressed: nothing.
 */
#include "tl_common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>

static __thread uintptr_t tl_tls_bss;
static __thread uintptr_t tl_tls_data = 1;

static int ready_pipe[2];
static int block_pipe[2];
static const char *info_path;
static pthread_t worker_thread;

/* --- main thread ------------------------------------------------------ */

static TL_NOINLINE void main_tls(void)
{
	void *a = tl_block(64), *b = tl_block(32);

	tl_put(a, 8, (uintptr_t)b);
	tl_tls_bss = (uintptr_t)a;
	a = b = NULL;
}

static TL_NOINLINE void main_tls_data(void)
{
	void *a = tl_block(48);

	tl_tls_data = (uintptr_t)a;
	a = NULL;
}

static TL_NOINLINE void lost_pair(void)
{
	void *a = tl_block(64), *b = tl_block(32);

	tl_put(a, 0, (uintptr_t)b);
	a = b = NULL;
}

/* --- the worker ------------------------------------------------------- */

/* Writes "dtv_bytes N\n" to info_path: the size of the block glibc
 * allocated for this thread's DTV.  On x86-64 the thread control block
 * (%fs:0) holds the DTV pointer at offset 8; it points one 16-byte entry
 * into the block, whose first entry counts the entries after the two
 * header ones. */
static TL_NOINLINE void write_dtv_size(void)
{
	const uint64_t *dtv;
	char line[64];
	int fd, len;

	if (info_path == NULL)
		return;
	__asm__ volatile("mov %%fs:8, %0" : "=r"(dtv));
	len = snprintf(line, sizeof(line), "dtv_bytes %llu\n",
		       (unsigned long long)((dtv[-2] + 2) * 16));
	dtv = NULL;
	fd = open(info_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)len) != len)
		tl_die(30, "tl_roots: cannot write the info file\n");
	close(fd);
}

static TL_NOINLINE void worker_tls(void)
{
	void *a = tl_block(80);

	tl_tls_bss = (uintptr_t)a;
	a = NULL;
}

/* Fills the worker's locals: holds[0] a start pointer, holds[1] an
 * interior pointer, holds[2] a zero-size block. */
static TL_NOINLINE void worker_stack(volatile uintptr_t *holds)
{
	void *e = tl_block(112), *f = tl_block(64), *g = tl_block(96);
	void *z = malloc(0);

	if (z == NULL)
		tl_die(31, "tl_roots: malloc(0) returned NULL\n");
	tl_put(e, 16, (uintptr_t)f);
	holds[0] = (uintptr_t)e;
	holds[1] = (uintptr_t)g + 40;
	holds[2] = (uintptr_t)z;
	e = f = g = z = NULL;
}

static void *worker(void *arg)
{
	volatile uintptr_t holds[3] = {0, 0, 0};
	char c = 0;

	write_dtv_size();
	worker_tls();
	worker_stack(holds);
	tl_wipe_stack();
	if (write(ready_pipe[1], "r", 1) != 1)
		tl_die(32, "tl_roots: cannot signal main\n");
	/* Nobody ever writes to block_pipe: wait here until the end. */
	while (read(block_pipe[0], &c, 1) < 0)
		;
	tl_die(33, "tl_roots: worker woken up\n");
	return arg;
}

static TL_NOINLINE void start_worker(void)
{
	char c;

	if (pipe(ready_pipe) != 0 || pipe(block_pipe) != 0)
		tl_die(34, "tl_roots: pipe failed\n");
	if (pthread_create(&worker_thread, NULL, worker, NULL) != 0)
		tl_die(35, "tl_roots: pthread_create failed\n");
	if (read(ready_pipe[0], &c, 1) != 1)
		tl_die(36, "tl_roots: worker failed\n");
}

int main(int argc, char **argv)
{
	info_path = argc > 1 ? argv[1] : NULL;
	main_tls();
	main_tls_data();
	lost_pair();
	start_worker();
	tl_wipe_stack();
	return 0;
}
