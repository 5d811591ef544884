/*
 * tp_fork_exec: a parent, a forked child, and the image the child execs.
 * Usage: tp_fork_exec (the exec'd image runs as "tp_fork_exec exec-child").
 * No stdio.
 *
 * Parent
 *   parent_before_fork  10 x malloc(100)
 *   fork()
 *   writes "parent PID child PID\n" to stdout
 *   parent_after_fork   3 x malloc(50)
 *   waitpid(child), then frees all 13 blocks
 *   -> 13 allocations, 13 frees, 1150 bytes, peak 1150, nothing live;
 *      exits 0 if the child's image exited 0, else 1.
 * Forked child (inherits the parent's 10 live blocks and counters)
 *   child_work          20 x malloc(200), frees 5 of them, then execs
 *                       /proc/self/exe with argv {argv[0], "exec-child"}
 *   -> counting the inherited state: 30 allocations, 5 frees, 5000
 *      bytes, peak 5000; live at exec: 25 blocks, 4000 bytes (10 x 100 +
 *      15 x 200).  Exits 127 if the exec fails.
 * Exec'd image (same pid as the forked child)
 *   exec_image_work     7 x malloc(300), frees 3 of them, exits 0
 *   -> 7 allocations, 3 frees, 2100 bytes, peak 2100; live at exit:
 *      4 blocks, 1200 bytes.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Makefile.am asks for -O0, but a user's CFLAGS (-O2 by default) come last:
 * functions stay real frames and pointers escape at any level. */
#define NOINLINE __attribute__((noinline, noclone))
#define ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

static void *before[10];
static void *after[3];
static void *child_blocks[20];
static void *image_blocks[7];

static NOINLINE void die(int code, const char *msg)
{
	(void)!write(2, msg, strlen(msg));
	_exit(code);
}

static NOINLINE void *must(void *p)
{
	if (p == NULL)
		die(10, "tp_fork_exec: malloc failed\n");
	ESCAPE(p);
	return p;
}

static NOINLINE void parent_before_fork(void)
{
	for (int i = 0; i < 10; i++)
		before[i] = must(malloc(100));
}

static NOINLINE void parent_after_fork(void)
{
	for (int i = 0; i < 3; i++)
		after[i] = must(malloc(50));
}

static NOINLINE void child_work(const char *argv0)
{
	char *const args[] = {(char *)argv0, "exec-child", NULL};

	for (int i = 0; i < 20; i++)
		child_blocks[i] = must(malloc(200));
	for (int i = 0; i < 5; i++)
		free(child_blocks[i]);
	execv("/proc/self/exe", args);
	die(127, "tp_fork_exec: exec failed\n");
}

static NOINLINE int exec_image_work(void)
{
	for (int i = 0; i < 7; i++)
		image_blocks[i] = must(malloc(300));
	for (int i = 0; i < 3; i++)
		free(image_blocks[i]);
	return 0;
}

/* Formats "parent P child C\n" without stdio. */
static NOINLINE void report_pids(pid_t parent, pid_t child)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "parent %d child %d\n",
			 (int)parent, (int)child);
	(void)!write(1, line, (size_t)n);
}

int main(int argc, char **argv)
{
	pid_t child;
	int status;

	if (argc > 1 && strcmp(argv[1], "exec-child") == 0)
		return exec_image_work();
	parent_before_fork();
	child = fork();
	if (child < 0)
		die(11, "tp_fork_exec: fork failed\n");
	if (child == 0)
		child_work(argv[0]);
	report_pids(getpid(), child);
	parent_after_fork();
	if (waitpid(child, &status, 0) != child)
		die(12, "tp_fork_exec: waitpid failed\n");
	for (int i = 0; i < 10; i++)
		free(before[i]);
	for (int i = 0; i < 3; i++)
		free(after[i]);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
