/*
 * tp_dlib: the shared library that tp_dlopen loads with dlopen()
 * (tests/programs/.libs/libtp_dlib.so).  No stdio.
 *
 *   tp_dlib_run    calls the two functions below
 *   tp_dlib_temp   4 x malloc(64), all freed          4 allocs  256 bytes
 *   tp_dlib_leak   8 x malloc(128), kept in a static  8 allocs 1024 bytes
 *                  array of the library: live at exit (8 blocks, 1024 bytes)
 *
 * All three are exported, so their names are in the dynamic symbol table
 * as well as in .symtab and the debug information.
 */
#include <stdlib.h>
#include <unistd.h>

/* Makefile.am asks for -O0, but a user's CFLAGS (-O2 by default) come last:
 * functions stay real frames and pointers escape at any level. */
#define NOINLINE __attribute__((noinline, noclone))
#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

void tp_dlib_run(void);
void tp_dlib_temp(void);
void tp_dlib_leak(void);

static void *kept[8];

NOINLINE void tp_dlib_temp(void)
{
	void *p[4];

	for (int i = 0; i < 4; i++)
		if ((p[i] = malloc(64)) == NULL)
			_exit(20);
	ESCAPE(p);
	for (int i = 0; i < 4; i++)
		free(p[i]);
}

NOINLINE void tp_dlib_leak(void)
{
	for (int i = 0; i < 8; i++)
		if ((kept[i] = malloc(128)) == NULL)
			_exit(21);
	ESCAPE(kept);
}

NOINLINE void tp_dlib_run(void)
{
	tp_dlib_temp();
	tp_dlib_leak();
}
