/*
 * memopt record: run a program under the tracker and collect its trace.
 */
#include "config.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "collector.h"
#include "mo_ring.h"
#include "util.h"

#define MO_TRACKER_NAME "libmemopt_tracker.so"

static void mo__record_usage(FILE *out)
{
	fputs("usage: memopt record [-o FILE] [--no-follow-fork] "
	      "[--no-leak-check] [-q]\n"
	      "                     [--] PROG [ARGS...]\n"
	      "  -o, --output FILE    trace file (default memopt.data; an "
	      "existing one\n"
	      "                       is renamed FILE.old)\n"
	      "      --no-follow-fork do not trace forked children\n"
	      "      --no-leak-check  do not classify the blocks left at "
	      "exit\n"
	      "  -q, --quiet          no summary line on stderr\n"
	      "exit status: PROG's, 128+N if PROG was killed by signal N; "
	      "125 memopt\n"
	      "failed, 126 PROG cannot be run or tracked, 127 PROG not found, "
	      "2 usage\n",
	      out);
}

/* --- checking the program ------------------------------------------------- */

/* Finds prog like execvp() would; returns 0 and the path in buf. */
static int mo__find_program(const char *prog, char *buf, size_t len)
{
	if (strchr(prog, '/')) {
		snprintf(buf, len, "%s", prog);
		return access(buf, F_OK) == 0 ? 0 : -errno;
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t dl = end ? (size_t)(end - path) : strlen(path);
		snprintf(buf, len, "%.*s%s%s", (int)dl, dl ? path : ".", "/",
			 prog);
		struct stat st;
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(buf, X_OK) == 0)
			return 0;
		path += dl + (end != NULL);
	}
	return -ENOENT;
}

/* Returns 1 if path is an ELF file without a PT_INTERP program header
 * (statically linked: the dynamic loader, hence LD_PRELOAD, never runs). */
static int mo__is_static_elf(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	Elf64_Ehdr eh;
	int is_static = 0;
	if (pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) &&
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum > 0) {
		is_static = 1;
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			off_t off = (off_t)(eh.e_phoff + i * sizeof(ph));
			if (pread(fd, &ph, sizeof(ph), off) != sizeof(ph) ||
			    ph.p_type == PT_INTERP) {
				is_static = 0;
				break;
			}
		}
	}
	close(fd);
	return is_static;
}

/* Checks that prog can be run and tracked; prints the error and returns
 * the exit status if not, else 0 with the resolved path in buf. */
static int mo__check_program(const char *prog, char *buf, size_t len)
{
	int err = mo__find_program(prog, buf, len);
	if (err) {
		mo_cli_error("%s: %s", prog,
			     strchr(prog, '/') ? strerror(-err)
					       : "command not found");
		return MO_XIT_NOT_FOUND;
	}
	struct stat st;
	const char *why = NULL;
	if (stat(buf, &st) != 0)
		why = strerror(errno);
	else if (S_ISDIR(st.st_mode))
		why = "Is a directory";
	else if (access(buf, X_OK) != 0)
		why = strerror(errno);
	if (why) {
		mo_cli_error("cannot execute %s: %s", prog, why);
		return MO_XIT_CANNOT_RUN;
	}
	if (st.st_mode & (S_ISUID | S_ISGID)) {
		mo_cli_error("%s cannot be tracked: set-user-ID or "
			     "set-group-ID program (the loader ignores "
			     "LD_PRELOAD)",
			     prog);
		return MO_XIT_CANNOT_RUN;
	}
	if (mo__is_static_elf(buf)) {
		mo_cli_error("%s cannot be tracked: no dynamic loader "
			     "(statically linked)",
			     prog);
		return MO_XIT_CANNOT_RUN;
	}
	return 0;
}

/* --- the tracker library
 * ------------------------------------------------------ */

static int mo__usable(const char *path)
{
	return access(path, R_OK) == 0;
}

/* Finds libmemopt_tracker.so: $MEMOPT_TRACKER, the build tree next to this
 * executable, the configured pkglibdir, then relative to an installed
 * bin/memopt. */
static int mo__find_tracker(char *buf, size_t len)
{
	const char *env = getenv("MEMOPT_TRACKER");
	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return mo__usable(buf) ? 0 : -ENOENT;
	}
	char exe[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
		snprintf(buf, len, "%s/../lib/.libs/%s", exe, MO_TRACKER_NAME);
		if (mo__usable(buf))
			return 0;
	}
	snprintf(buf, len, "%s/%s", MO_PKGLIBDIR, MO_TRACKER_NAME);
	if (mo__usable(buf))
		return 0;
	if (n > 0) {
		snprintf(buf, len, "%s/../lib/memopt/%s", exe, MO_TRACKER_NAME);
		if (mo__usable(buf))
			return 0;
	}
	return -ENOENT;
}

/* --- ring directory --------------------------------------------------------
 */

static int mo__make_ring_dir(char *buf, size_t len)
{
	const char *bases[] = {"/dev/shm", getenv("TMPDIR"), "/tmp"};
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (!bases[i] || !*bases[i])
			continue;
		snprintf(buf, len, "%s/memopt.XXXXXX", bases[i]);
		if (mkdtemp(buf))
			return 0;
	}
	return -errno;
}

/* Removes the ring directory.  The collector unlinks every ring it
 * attached; this also removes rings whose writer died before finishing
 * the header. */
static void mo__remove_ring_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

/* --- signals
 * ------------------------------------------------------------------ */

static volatile int g_stop;
static volatile pid_t g_child;

static int mo__child_running(void)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)g_child, &si, WEXITED | WNOHANG | WNOWAIT) ==
		       0 &&
	       si.si_pid == 0;
}

/* Signals from a terminal reach the whole process group, PROG included,
 * so they are not forwarded; signals sent to memopt alone are.  Once PROG
 * has exited, a signal stops the wait for its remaining descendants. */
static void mo__on_signal(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	int saved = errno;
	g_stop = 1;
	if ((si->si_code == SI_USER || si->si_code == SI_QUEUE) &&
	    g_child > 0 && mo__child_running())
		kill(g_child, sig);
	errno = saved;
}

static void mo__install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = mo__on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	int sigs[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* --- running the program ----------------------------------------------------
 */

static void mo__child_env(const char *tracker, const char *ring_dir,
			  int follow_fork, int leak_check)
{
	const char *old = getenv("LD_PRELOAD");
	size_t len = strlen(tracker) + (old ? strlen(old) + 2 : 1);
	char *preload = malloc(len);
	if (preload) {
		snprintf(preload, len, "%s%s%s", tracker,
			 old && *old ? ":" : "", old ? old : "");
		setenv("LD_PRELOAD", preload, 1);
	}
	setenv(MO_ENV_RING_DIR, ring_dir, 1);
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getppid());
	setenv(MO_ENV_COLLECTOR_PID, pid, 1);
	if (!follow_fork)
		setenv(MO_ENV_FOLLOW_FORK, "0", 1);
	if (!leak_check)
		setenv(MO_ENV_LEAK_CHECK, "0", 1);
}

/* Starts the program; returns its pid, or -errno of the failed exec. */
static pid_t mo__spawn(const char *path, char **argv, const char *tracker,
		       const char *ring_dir, int follow_fork, int leak_check)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int err = errno;
		close(pfd[0]);
		close(pfd[1]);
		return -err;
	}
	if (pid == 0) {
		close(pfd[0]);
		mo__child_env(tracker, ring_dir, follow_fork, leak_check);
		execv(path, argv);
		int err = errno;
		if (write(pfd[1], &err, sizeof(err)) < 0)
			_exit(MO_XIT_CANNOT_RUN);
		_exit(MO_XIT_CANNOT_RUN);
	}
	close(pfd[1]);
	int err = 0;
	ssize_t r;
	do
		r = read(pfd[0], &err, sizeof(err));
	while (r < 0 && errno == EINTR);
	close(pfd[0]);
	if (r == (ssize_t)sizeof(err)) {
		waitpid(pid, NULL, 0);
		return -err;
	}
	return pid;
}

static int mo__exit_status(int ws)
{
	if (WIFSIGNALED(ws))
		return 128 + WTERMSIG(ws);
	return WEXITSTATUS(ws);
}

static int mo__rotate_output(const char *out)
{
	char old[PATH_MAX];
	snprintf(old, sizeof(old), "%s.old", out);
	if (rename(out, old) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int mo__parse_record_args(int argc, char **argv, mo_record_opts_t *o,
				 int *status)
{
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"no-follow-fork", no_argument, NULL, 'F'},
		{"no-leak-check", no_argument, NULL, 'L'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	o->output = "memopt.data";
	o->follow_fork = 1;
	o->leak_check = 1;
	o->quiet = 0;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->output = optarg;
			break;
		case 'F':
			o->follow_fork = 0;
			break;
		case 'L':
			o->leak_check = 0;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'h':
			mo__record_usage(stdout);
			*status = MO_XIT_OK;
			return -1;
		default:
			mo_cli_bad_option("record", argv[optind - 1], optopt);
			*status = MO_XIT_USAGE;
			return -1;
		}
	}
	if (optind >= argc) {
		mo_cli_no_program("record");
		*status = MO_XIT_USAGE;
		return -1;
	}
	return optind;
}

static void mo__summary(const char *path, size_t nstreams)
{
	struct stat st;
	char size[32];
	mo_fmt_bytes(size, sizeof(size),
		     stat(path, &st) == 0 ? (uint64_t)st.st_size : 0);
	fprintf(stderr, "memopt: wrote %s (%s, %zu process%s)\n", path, size,
		nstreams, nstreams == 1 ? "" : "es");
}

int mo_record_run(const mo_record_opts_t *o, char **argv, int *prog_status)
{
	char path[PATH_MAX], tracker[PATH_MAX], ring_dir[PATH_MAX];
	int status = mo__check_program(argv[0], path, sizeof(path));
	if (status)
		return status;
	if (mo__find_tracker(tracker, sizeof(tracker)) != 0) {
		mo_cli_error("tracker library %s not found (set "
			     "MEMOPT_TRACKER to its path)",
			     MO_TRACKER_NAME);
		return MO_XIT_FAILED;
	}
	int err = mo__rotate_output(o->output);
	if (err) {
		mo_cli_error("cannot rename %s to %s.old: %s", o->output,
			     o->output, strerror(-err));
		return MO_XIT_FAILED;
	}
	err = mo__make_ring_dir(ring_dir, sizeof(ring_dir));
	if (err) {
		mo_cli_error("cannot create a ring directory in /dev/shm or "
			     "/tmp: %s",
			     strerror(-err));
		return MO_XIT_FAILED;
	}
	mo_collect_t *col;
	err = mo_collect_new(&col, o->output, ring_dir);
	if (err) {
		mo_cli_error("cannot create %s: %s", o->output, strerror(-err));
		rmdir(ring_dir);
		return MO_XIT_FAILED;
	}
	pid_t pid = mo__spawn(path, argv, tracker, ring_dir, o->follow_fork,
			      o->leak_check);
	if (pid < 0) {
		mo_cli_error("cannot execute %s: %s", argv[0],
			     strerror((int)-pid));
		mo_collect_finish(col, NULL);
		unlink(o->output);
		mo__remove_ring_dir(ring_dir);
		return pid == -ENOENT ? MO_XIT_NOT_FOUND : MO_XIT_CANNOT_RUN;
	}
	g_child = pid;
	mo__install_signals();
	int ws = 0;
	err = mo_collect_run(col, pid, &ws, &g_stop);
	size_t nstreams = 0;
	int ferr = mo_collect_finish(col, &nstreams);
	mo__remove_ring_dir(ring_dir);
	if (!err)
		err = ferr;
	if (err && err != -EINTR) {
		mo_cli_error("writing %s failed: %s", o->output,
			     strerror(-err));
		return MO_XIT_FAILED;
	}
	if (!o->quiet)
		mo__summary(o->output, nstreams);
	*prog_status = mo__exit_status(ws);
	return 0;
}

int mo_cmd_record(int argc, char **argv)
{
	mo_record_opts_t o;
	int status = 0;
	int first = mo__parse_record_args(argc, argv, &o, &status);
	if (first < 0)
		return status;
	int err = mo_record_run(&o, argv + first, &status);
	return err ? err : status;
}
