/*
 * tp_basic: calls every allocation function memopt interposes, each from a
 * function of its own so that tests can check per-site figures through the
 * "function" of frame 0.  Uses no stdio: the only heap activity is listed
 * here.  Usage: tp_basic [full|valgrind [EXIT_CODE]].
 *
 *   function            calls                          allocs frees bytes
 *   leak_small          malloc(111), kept                   1     0   111
 *   leak_pair           2 x malloc(222), kept               2     0   444
 *   use_malloc          malloc(100), free                   1     1   100
 *   use_calloc          calloc(10, 20), free                1     1   200
 *   use_realloc         realloc(NULL, 50)                   1     0    50
 *                       realloc(p, 5000), must move         1     1  5000
 *                       realloc(p, 100), must stay          1     1   100
 *                       (valgrind mode: may move)
 *                       realloc(p, 0), returns NULL         0     1     0
 *   realloc_guard       malloc(16) after the 50-byte block,
 *                       freed after the reallocs            1     1    16
 *   use_reallocarray    reallocarray(NULL, 10, 30)          1     0   300
 *                       reallocarray(p, 20, 30), free       1     2   600
 *   use_free_null       free(NULL): not counted             0     0     0
 *   use_posix_memalign  posix_memalign(&p, 64, 256), free   1     1   256
 *   use_aligned_alloc   aligned_alloc(128, 512), free       1     1   512
 *   use_memalign        memalign(32, 96), free              1     1    96
 *   use_valloc          valloc(1000), free                  1     1  1000
 *   use_pvalloc         pvalloc(100), free (full mode);     1     1  page
 *                       counted as the page size (4096)
 *   use_malloc0         malloc(0), free                     1     1     0
 *   use_usable_size     malloc(40), malloc_usable_size()
 *                       must be >= 40, free                 1     1    40
 *   peak_step           3 x malloc(10000), then 3 frees     3     3 30000
 *   fail_victim         malloc(64), free                    1     1    64
 *   try_failures        (full mode) malloc, calloc
 *                       (overflow), realloc of the victim,
 *                       reallocarray (overflow),
 *                       posix_memalign, aligned_alloc,
 *                       memalign, valloc and pvalloc of
 *                       impossible sizes: all fail          0     0     0
 *
 * Full mode (default): 22 allocations, 19 frees, 42985 bytes allocated
 * (with 4096-byte pages).  Valgrind mode (no pvalloc, which valgrind 3.19
 * does not support, and no failing calls, which valgrind reports as fishy
 * arguments): 21 allocations, 18 frees, 38889 bytes.
 * Live at exit in both modes: the 3 leak blocks, 555 bytes.  Peak heap:
 * the leaks plus peak_step's 30000 bytes = 30555 bytes.
 *
 * Writes exactly "tp_basic: ok\n" to stdout and exits with EXIT_CODE (0 by
 * default).  Any broken expectation (a realloc that does not move or
 * does not stay, a failure that succeeds, a bad malloc_usable_size) makes
 * it exit with a code >= 10 and a message on stderr instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Built with -O0 by Makefile.am, but a user's CFLAGS (-O2 by default) come
 * last on the command line: every function stays a real frame under its
 * own name, and every pointer escapes so that no allocation is elided. */
#define NOINLINE __attribute__((noinline, noclone))
#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

static void *kept[3];
static int full_mode = 1;

static NOINLINE void say(const char *s)
{
	size_t len = strlen(s);
	while (len > 0) {
		ssize_t n = write(1, s, len);
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static NOINLINE void fail(int code, const char *what)
{
	(void)!write(2, "tp_basic: unexpected: ", 22);
	(void)!write(2, what, strlen(what));
	(void)!write(2, "\n", 1);
	_exit(code);
}

static NOINLINE void *check(void *p, const char *what)
{
	if (p == NULL)
		fail(10, what);
	ESCAPE(p);
	return p;
}

static NOINLINE void leak_small(void)
{
	kept[0] = check(malloc(111), "malloc(111)");
}

static NOINLINE void leak_pair(void)
{
	kept[1] = check(malloc(222), "malloc(222) #1");
	kept[2] = check(malloc(222), "malloc(222) #2");
}

static NOINLINE void use_malloc(void)
{
	char *p = check(malloc(100), "malloc(100)");
	memset(p, 1, 100);
	free(p);
}

static NOINLINE void use_calloc(void)
{
	unsigned char *p = check(calloc(10, 20), "calloc(10, 20)");
	for (int i = 0; i < 200; i++)
		if (p[i] != 0)
			fail(11, "calloc memory not zeroed");
	free(p);
}

static NOINLINE void *realloc_guard(void)
{
	return check(malloc(16), "malloc(16)");
}

static NOINLINE void use_realloc(void)
{
	char *p = check(realloc(NULL, 50), "realloc(NULL, 50)");
	void *guard = realloc_guard();
	uintptr_t old = (uintptr_t)p;
	char *q;

	memset(p, 7, 50);
	q = check(realloc(p, 5000), "realloc(p, 5000)");
	if ((uintptr_t)q == old)
		fail(12, "realloc(p, 5000) did not move");
	if (q[49] != 7)
		fail(12, "realloc lost the contents");
	old = (uintptr_t)q;
	q = check(realloc(q, 100), "realloc(p, 100)");
	if ((uintptr_t)q != old && full_mode)
		fail(13, "realloc(p, 100) moved");
	if (realloc(q, 0) != NULL)
		fail(14, "realloc(p, 0) returned a block");
	ESCAPE(q);
	free(guard);
}

static NOINLINE void use_reallocarray(void)
{
	char *p = check(reallocarray(NULL, 10, 30), "reallocarray(NULL,10,30)");
	p = check(reallocarray(p, 20, 30), "reallocarray(p, 20, 30)");
	memset(p, 3, 600);
	free(p);
}

static NOINLINE void use_free_null(void)
{
	void *volatile null_ptr = NULL; /* a real call even at -O2 */

	free(null_ptr);
}

static NOINLINE void use_posix_memalign(void)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, 256) != 0 || p == NULL)
		fail(10, "posix_memalign(64, 256)");
	ESCAPE(p);
	if ((uintptr_t)p % 64 != 0)
		fail(15, "posix_memalign alignment");
	free(p);
}

static NOINLINE void use_aligned_alloc(void)
{
	void *p = check(aligned_alloc(128, 512), "aligned_alloc(128, 512)");
	if ((uintptr_t)p % 128 != 0)
		fail(15, "aligned_alloc alignment");
	free(p);
}

static NOINLINE void use_memalign(void)
{
	void *p = check(memalign(32, 96), "memalign(32, 96)");
	if ((uintptr_t)p % 32 != 0)
		fail(15, "memalign alignment");
	free(p);
}

static NOINLINE void use_valloc(void)
{
	void *p = check(valloc(1000), "valloc(1000)");
	if ((uintptr_t)p % (uintptr_t)sysconf(_SC_PAGESIZE) != 0)
		fail(15, "valloc alignment");
	free(p);
}

static NOINLINE void use_pvalloc(void)
{
	void *p = check(pvalloc(100), "pvalloc(100)");
	if ((uintptr_t)p % (uintptr_t)sysconf(_SC_PAGESIZE) != 0)
		fail(15, "pvalloc alignment");
	free(p);
}

static NOINLINE void use_malloc0(void)
{
	free(check(malloc(0), "malloc(0)"));
}

static NOINLINE void use_usable_size(void)
{
	void *p = check(malloc(40), "malloc(40)");
	if (malloc_usable_size(p) < 40)
		fail(16, "malloc_usable_size < 40");
	free(p);
}

static NOINLINE void peak_step(void)
{
	void *p[3];
	for (int i = 0; i < 3; i++)
		p[i] = check(malloc(10000), "malloc(10000)");
	ESCAPE(p);
	for (int i = 0; i < 3; i++)
		free(p[i]);
}

static NOINLINE void *fail_victim(void)
{
	return check(malloc(64), "malloc(64)");
}

/* Every call here must fail; huge is volatile so that the compiler
 * neither warns about nor folds the impossible sizes. */
static NOINLINE void must_fail(void *p, const char *what)
{
	ESCAPE(p);
	if (p != NULL)
		fail(17, what);
}

static NOINLINE void try_failures(void *victim)
{
	volatile size_t huge = SIZE_MAX / 2 + 1;
	volatile size_t half = SIZE_MAX / 2;
	void *p = NULL;

	must_fail(malloc(huge), "malloc(huge) succeeded");
	must_fail(calloc(half, 4), "calloc(SIZE_MAX / 2, 4) succeeded");
	must_fail(realloc(victim, huge), "realloc(p, huge) succeeded");
	must_fail(reallocarray(NULL, half, 4),
		  "reallocarray(NULL, SIZE_MAX / 2, 4) succeeded");
	if (posix_memalign(&p, 64, huge) == 0)
		fail(17, "posix_memalign(huge) succeeded");
	must_fail(aligned_alloc(64, huge), "aligned_alloc(huge) succeeded");
	must_fail(memalign(64, huge), "memalign(huge) succeeded");
	must_fail(valloc(huge), "valloc(huge) succeeded");
	must_fail(pvalloc(huge), "pvalloc(huge) succeeded");
	memset(victim, 9, 64);
	ESCAPE(victim);
}

int main(int argc, char **argv)
{
	void *victim;

	if (argc > 1 && strcmp(argv[1], "valgrind") == 0)
		full_mode = 0;
	else if (argc > 1 && strcmp(argv[1], "full") != 0)
		fail(2, "usage: tp_basic [full|valgrind [EXIT_CODE]]");

	leak_small();
	leak_pair();
	use_malloc();
	use_calloc();
	use_realloc();
	use_reallocarray();
	use_free_null();
	use_posix_memalign();
	use_aligned_alloc();
	use_memalign();
	use_valloc();
	if (full_mode)
		use_pvalloc();
	use_malloc0();
	use_usable_size();
	peak_step();
	victim = fail_victim();
	if (full_mode)
		try_failures(victim);
	free(victim);

	say("tp_basic: ok\n");
	return argc > 2 ? atoi(argv[2]) : 0;
}
