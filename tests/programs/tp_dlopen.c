/*
 * tp_dlopen: loads a library at run time.  Usage: tp_dlopen LIB [close|keep]
 * where LIB is the path of libtp_dlib.so.  No stdio.
 *
 *   main_before   malloc(33), kept: live at exit          1 alloc  33 bytes
 *   dlopen(LIB, RTLD_NOW), dlsym("tp_dlib_run"), call it: see tp_dlib.c
 *                 (tp_dlib_temp 4 x 64 freed, tp_dlib_leak 8 x 128 kept)
 *   with "close": dlclose(LIB), which unmaps it
 *   main_after    malloc(44), freed                       1 alloc  44 bytes
 *
 * The dynamic loader itself allocates and frees blocks inside dlopen()
 * and dlclose() (link maps, scopes...); their number is glibc's business,
 * so tests look at the program's and the library's own sites only.
 * Writes "tp_dlopen: ok\n" and exits 0; 10+ if loading fails.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makefile.am asks for -O0, but a user's CFLAGS (-O2 by default) come last:
 * functions stay real frames and pointers escape at any level. */
#define NOINLINE __attribute__((noinline, noclone))
#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

static void *kept;

static NOINLINE void die(int code, const char *msg)
{
	(void)!write(2, "tp_dlopen: ", 11);
	(void)!write(2, msg, strlen(msg));
	(void)!write(2, "\n", 1);
	_exit(code);
}

static NOINLINE void main_before(void)
{
	if ((kept = malloc(33)) == NULL)
		die(10, "malloc failed");
	ESCAPE(kept);
}

static NOINLINE void main_after(void)
{
	void *p = malloc(44);

	if (p == NULL)
		die(10, "malloc failed");
	ESCAPE(p);
	free(p);
}

int main(int argc, char **argv)
{
	void (*run)(void);
	void *lib;
	int do_close = argc > 2 && strcmp(argv[2], "close") == 0;

	if (argc < 2 || (argc > 2 && !do_close && strcmp(argv[2], "keep")))
		die(2, "usage: tp_dlopen LIB [close|keep]");
	main_before();
	lib = dlopen(argv[1], RTLD_NOW);
	if (lib == NULL)
		die(11, dlerror());
	*(void **)&run = dlsym(lib, "tp_dlib_run");
	if (run == NULL)
		die(12, "tp_dlib_run not found");
	run();
	if (do_close && dlclose(lib) != 0)
		die(13, "dlclose failed");
	main_after();
	(void)!write(1, "tp_dlopen: ok\n", 14);
	return 0;
}
