/*
 * Helpers shared by the leak-check test programs (tests/programs/tl_*.c).
 *
 * Those programs must give the same leak classification in every run,
 * under memopt (whose scanner runs inside the process at exit and has no
 * idea which bytes are initialised) and under valgrind's memcheck (which
 * ignores undefined bytes and everything below the stack pointer).  So:
 *
 * - every block is zeroed when allocated (tl_block), and pointers are only
 *   stored into blocks or globals explicitly (tl_put), so no block holds
 *   stale heap contents that memopt would take for pointers;
 * - the functions that allocate are called from main, never inlined, and
 *   keep their pointers in their own frames; before the program ends,
 *   tl_wipe_stack() overwrites the stack below the caller with zeroes, so
 *   no dead frame of theirs (nor of malloc's or the tracker's) still holds
 *   a copy of a pointer;
 * - main itself never holds a block pointer in a local.
 *
 * The programs are built with -O0 (Makefile.am appends it after the user's
 * CFLAGS), but nothing here depends on that.
 */
#ifndef TL_COMMON_H
#define TL_COMMON_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TL_NOINLINE __attribute__((noinline, noclone, unused))

/* Bytes of stack tl_wipe_stack() clears below its caller: far deeper than
 * any call chain of the programs (malloc and the tracker's unwinder
 * included); threads have 8 MiB stacks. */
#define TL_WIPE_BYTES (256 * 1024)

/* Writes msg to stderr and exits with code (>= 10: a broken program). */
static TL_NOINLINE void tl_die(int code, const char *msg)
{
	(void)!write(2, msg, strlen(msg));
	_exit(code);
}

/* A block of size bytes from malloc, zeroed.  Exits 10 if malloc fails. */
static TL_NOINLINE void *tl_block(size_t size)
{
	void *p = malloc(size);

	if (p == NULL)
		tl_die(10, "tl: malloc failed\n");
	memset(p, 0, size);
	return p;
}

/* Stores the word value at byte offset off of block (off a multiple of
 * 8). */
static TL_NOINLINE void tl_put(void *block, size_t off, uintptr_t value)
{
	memcpy((char *)block + off, &value, sizeof(value));
}

/* Overwrites TL_WIPE_BYTES of stack below the caller's frame with zeroes:
 * the dead frames of the functions the caller called before. */
static TL_NOINLINE void tl_wipe_stack(void)
{
	char buf[TL_WIPE_BYTES];

	memset(buf, 0, sizeof(buf));
	__asm__ volatile("" : : "r"(buf) : "memory");
}

#endif
