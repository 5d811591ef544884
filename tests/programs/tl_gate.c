/*
 * tl_gate: small programs for the tests of the CI gate (`memopt check`,
 * `memopt report --check`, tests/test_leaks.c).  Usage:
 *
 *   tl_gate MODE [STATUS [PID_FILE]]
 *
 * Exits with STATUS (default 0) after doing, by MODE:
 *   clean     malloc(100) and malloc(200), both freed: no leak, peak 300
 *   definite  leak_definite(): tl_block(1000) lost (definitely lost 1000
 *             bytes in 1 block, nothing else; peak 1000)
 *   possible  leak_possible(): tl_block(2000) held through a pointer 100
 *             bytes in, in .bss (possibly lost 2000 bytes in 1 block,
 *             nothing else; peak 2000)
 *   peak      malloc(1048576), freed: no leak, peak 1048576 bytes
 *   fork      forks; the child does what "definite" does and exits 0, the
 *             parent waits for it and exits STATUS with nothing leaked
 * If PID_FILE is given, writes to it the pid of the process that leaks
 * (the child in fork mode, else this one) as "PID\n".  No stdio; prints
 * nothing.  Exits >= 10 if something fails.
 */
#include "tl_common.h"

#include <fcntl.h>
#include <sys/wait.h>

uintptr_t tl_gate_root;

static TL_NOINLINE void write_pid(const char *path, pid_t pid)
{
	char buf[32];
	int n = 0, fd;
	char digits[16];
	int nd = 0;

	if (path == NULL)
		return;
	do {
		digits[nd++] = (char)('0' + pid % 10);
		pid /= 10;
	} while (pid > 0);
	while (nd > 0)
		buf[n++] = digits[--nd];
	buf[n++] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		tl_die(40, "tl_gate: cannot write the pid file\n");
	close(fd);
}

static TL_NOINLINE void use_and_free(size_t size)
{
	void *p = tl_block(size);

	free(p);
	p = NULL;
}

static TL_NOINLINE void clean(void)
{
	void *a = tl_block(100), *b = tl_block(200);

	free(a);
	free(b);
	a = b = NULL;
}

static TL_NOINLINE void leak_definite(void)
{
	tl_block(1000);
}

static TL_NOINLINE void leak_possible(void)
{
	tl_gate_root = (uintptr_t)tl_block(2000) + 100;
}

static TL_NOINLINE void fork_leak(const char *pid_file)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		tl_die(41, "tl_gate: fork failed\n");
	if (pid == 0) {
		leak_definite();
		tl_wipe_stack();
		exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		tl_die(42, "tl_gate: the child failed\n");
	write_pid(pid_file, pid);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int status = argc > 2 ? atoi(argv[2]) : 0;
	const char *pid_file = argc > 3 ? argv[3] : NULL;

	if (strcmp(mode, "clean") == 0)
		clean();
	else if (strcmp(mode, "definite") == 0)
		leak_definite();
	else if (strcmp(mode, "possible") == 0)
		leak_possible();
	else if (strcmp(mode, "peak") == 0)
		use_and_free(1048576);
	else if (strcmp(mode, "fork") == 0)
		fork_leak(pid_file);
	else
		tl_die(2, "usage: tl_gate clean|definite|possible|peak|fork "
			  "[STATUS [PID_FILE]]\n");
	if (strcmp(mode, "fork") != 0)
		write_pid(pid_file, getpid());
	tl_wipe_stack();
	return status;
}
