/*
 * Helpers for the integration tests: see run_util.h.
 */
#define _GNU_SOURCE
#include "run_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MO_BUILDDIR
#define MO_BUILDDIR "."
#endif

#define MO__RUN_DEFAULT_TIMEOUT_MS 60000

/* A growable output buffer, always NUL-terminated once started. */
typedef struct {
	char *data;
	size_t len;
	size_t cap;
} mo__buf_t;

static int mo__buf_append(mo__buf_t *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (d == NULL)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static int64_t mo__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: set up fds, cwd and environment, then exec.  Never
 * returns. */
static void mo__run_child(const char *const *argv, const mo_run_opts_t *opts,
			  int out_fd, int err_fd)
{
	int null_fd = open("/dev/null", O_RDONLY);

	setpgid(0, 0);
	if (null_fd >= 0 && null_fd != 0) {
		dup2(null_fd, 0);
		close(null_fd);
	}
	dup2(out_fd, 1);
	dup2(err_fd, 2);
	if (out_fd > 2)
		close(out_fd);
	if (err_fd > 2)
		close(err_fd);
	if (opts != NULL && opts->cwd != NULL && chdir(opts->cwd) != 0)
		_exit(126);
	if (opts != NULL && opts->env != NULL) {
		for (const char *const *e = opts->env; *e != NULL; e++)
			putenv((char *)*e);
	}
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], (char *const *)argv);
	_exit(errno == ENOENT ? 127 : 126);
}

/* Reads what is available on *fd into b; closes and clears *fd at EOF. */
static void mo__drain(int *fd, mo__buf_t *b)
{
	char chunk[8192];
	ssize_t n = read(*fd, chunk, sizeof(chunk));

	if (n > 0) {
		mo__buf_append(b, chunk, (size_t)n);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(*fd);
		*fd = -1;
	}
}

/* Collects the output of a started child until both pipes close, or
 * until the deadline, when the child's process group is killed. */
static void mo__collect(pid_t pid, int out_fd, int err_fd, int timeout_ms,
			mo_run_result_t *res, mo__buf_t *out, mo__buf_t *err)
{
	int64_t deadline = mo__now_ms() + timeout_ms;

	while (out_fd >= 0 || err_fd >= 0) {
		struct pollfd p[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
		int64_t left = deadline - mo__now_ms();
		if (left <= 0) {
			res->timed_out = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		int n = poll(p, 2, (int)(left > 1000 ? 1000 : left));
		if (n < 0 && errno != EINTR)
			break;
		if (out_fd >= 0 &&
		    (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			mo__drain(&out_fd, out);
		if (err_fd >= 0 &&
		    (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			mo__drain(&err_fd, err);
	}
	if (out_fd >= 0)
		close(out_fd);
	if (err_fd >= 0)
		close(err_fd);
}

int mo_run(const char *const *argv, const mo_run_opts_t *opts,
	   mo_run_result_t *res)
{
	int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
	mo__buf_t out = {0}, err = {0};
	int timeout_ms = MO__RUN_DEFAULT_TIMEOUT_MS;
	pid_t pid;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	res->status = -1;
	if (opts != NULL && opts->timeout_ms > 0)
		timeout_ms = opts->timeout_ms;
	if (pipe2(out_pipe, O_CLOEXEC) != 0 ||
	    pipe2(err_pipe, O_CLOEXEC) != 0) {
		rc = -errno;
		goto cleanup;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto cleanup;
	}
	if (pid == 0)
		mo__run_child(argv, opts, out_pipe[1], err_pipe[1]);
	setpgid(pid, pid);
	close(out_pipe[1]);
	close(err_pipe[1]);
	out_pipe[1] = err_pipe[1] = -1;
	mo__collect(pid, out_pipe[0], err_pipe[0], timeout_ms, res, &out, &err);
	out_pipe[0] = err_pipe[0] = -1;
	while (waitpid(pid, &res->status, 0) < 0 && errno == EINTR)
		;
	/* Reap stragglers of a killed group so nothing outlives the test. */
	if (res->timed_out)
		kill(-pid, SIGKILL);
cleanup:
	for (int i = 0; i < 2; i++) {
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
		if (err_pipe[i] >= 0)
			close(err_pipe[i]);
	}
	mo__buf_append(&out, "", 0);
	mo__buf_append(&err, "", 0);
	res->out = out.data;
	res->out_len = out.len;
	res->err = err.data;
	res->err_len = err.len;
	return rc;
}

void mo_run_result_free(mo_run_result_t *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
	res->out_len = res->err_len = 0;
}

int mo_run_exit_code(int status)
{
	if (status == -1)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

int mo_run_count_lines(const char *s)
{
	int n = 0;

	if (s == NULL)
		return 0;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '\n' || p[1] == '\0')
			n++;
	}
	return n;
}

char *mo_run_join(const char *dir, const char *name)
{
	char *path = NULL;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	return path;
}

char *mo_run_build_path(const char *rel)
{
	const char *dir = getenv("MEMOPT_BUILDDIR");

	if (dir == NULL || *dir == '\0')
		dir = MO_BUILDDIR;
	return mo_run_join(dir, rel);
}

char *mo_run_mkdtemp(const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	char *path = NULL;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if (asprintf(&path, "%s/memopt-%s-XXXXXX", tmp, tag) < 0)
		return NULL;
	if (mkdtemp(path) == NULL) {
		free(path);
		return NULL;
	}
	return path;
}

static int mo__rm_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) == 0 ? 0 : -errno;
	return unlink(path) == 0 ? 0 : -errno;
}

int mo_run_rmtree(const char *dir)
{
	if (dir == NULL)
		return 0;
	return nftw(dir, mo__rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int mo__write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int mo_run_copy_file(const char *src, const char *dst, unsigned mode)
{
	size_t len;
	char *data = mo_run_read_file(src, &len);
	int rc, fd;

	if (data == NULL)
		return errno != 0 ? -errno : -EIO;
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
		free(data);
		return rc;
	}
	rc = mo__write_all(fd, data, len);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && chmod(dst, mode) != 0)
		rc = -errno;
	free(data);
	return rc;
}

int mo_run_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc;

	if (fd < 0)
		return -errno;
	rc = mo__write_all(fd, data, len);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

int64_t mo_run_file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return -errno;
	return st.st_size;
}

char *mo_run_read_file(const char *path, size_t *len)
{
	mo__buf_t b = {0};
	char chunk[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return NULL;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || mo__buf_append(&b, chunk, (size_t)n) != 0) {
			close(fd);
			free(b.data);
			return NULL;
		}
	}
	close(fd);
	if (mo__buf_append(&b, "", 0) != 0) {
		free(b.data);
		return NULL;
	}
	if (len != NULL)
		*len = b.len;
	return b.data;
}

cJSON *mo_run_json_parse(const char *text, size_t len)
{
	if (text == NULL)
		return NULL;
	return cJSON_ParseWithLength(text, len);
}

const cJSON *mo_run_json_get(const cJSON *obj, const char *path)
{
	char key[128];
	const char *p = path;

	while (obj != NULL && *p != '\0') {
		size_t n = strcspn(p, ".");
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		obj = cJSON_GetObjectItemCaseSensitive(obj, key);
		p += n;
		if (*p == '.')
			p++;
	}
	return obj;
}

int64_t mo_run_json_int(const cJSON *obj, const char *path)
{
	const cJSON *item = mo_run_json_get(obj, path);

	if (!cJSON_IsNumber(item))
		return INT64_MIN;
	return (int64_t)item->valuedouble;
}

int mo_run_process_count(const cJSON *report)
{
	const cJSON *procs = mo_run_json_get(report, "processes");

	return cJSON_IsArray(procs) ? cJSON_GetArraySize(procs) : 0;
}

/* Whether proc's command has exactly the argument arg1 (or none). */
static bool mo__command_matches(const cJSON *proc, const char *arg1)
{
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(proc, "command");
	const cJSON *a1;

	if (!cJSON_IsArray(cmd))
		return false;
	a1 = cJSON_GetArrayItem(cmd, 1);
	if (arg1 == NULL)
		return a1 == NULL;
	return cJSON_IsString(a1) && strcmp(a1->valuestring, arg1) == 0;
}

const cJSON *mo_run_find_process(const cJSON *report, int64_t pid,
				 const char *arg1, int forked)
{
	const cJSON *procs = mo_run_json_get(report, "processes");
	const cJSON *proc;

	cJSON_ArrayForEach(proc, procs)
	{
		const cJSON *f =
			cJSON_GetObjectItemCaseSensitive(proc, "forked");
		if (mo_run_json_int(proc, "pid") != pid)
			continue;
		if (forked >= 0 &&
		    (!cJSON_IsBool(f) || (bool)cJSON_IsTrue(f) != (bool)forked))
			continue;
		if (mo__command_matches(proc, arg1))
			return proc;
	}
	return NULL;
}

const cJSON *mo_run_find_process_by_name(const cJSON *report, const char *name)
{
	const cJSON *procs = mo_run_json_get(report, "processes");
	const cJSON *proc, *found = NULL;
	size_t nlen = strlen(name);

	cJSON_ArrayForEach(proc, procs)
	{
		const cJSON *cmd =
			cJSON_GetObjectItemCaseSensitive(proc, "command");
		const cJSON *a0 = cJSON_GetArrayItem(cmd, 0);
		size_t len;
		if (!cJSON_IsString(a0))
			continue;
		len = strlen(a0->valuestring);
		if (len < nlen ||
		    strcmp(a0->valuestring + len - nlen, name) != 0 ||
		    (len > nlen && a0->valuestring[len - nlen - 1] != '/'))
			continue;
		if (found != NULL)
			return NULL;
		found = proc;
	}
	return found;
}

bool mo_run_site_has_function(const cJSON *site, const char *fn, int depth)
{
	const cJSON *stack = cJSON_GetObjectItemCaseSensitive(site, "stack");
	const cJSON *frame;
	int i = 0;

	cJSON_ArrayForEach(frame, stack)
	{
		const cJSON *f =
			cJSON_GetObjectItemCaseSensitive(frame, "function");
		if ((depth < 0 || depth == i) && cJSON_IsString(f) &&
		    strcmp(f->valuestring, fn) == 0)
			return true;
		i++;
	}
	return false;
}

static void mo__add_site(const cJSON *site, mo_run_site_sum_t *sum)
{
	sum->sites++;
	sum->bytes += mo_run_json_int(site, "bytes");
	sum->blocks += mo_run_json_int(site, "blocks");
	sum->allocations += mo_run_json_int(site, "allocations");
	sum->bytes_allocated += mo_run_json_int(site, "bytes_allocated");
	sum->temporary += mo_run_json_int(site, "temporary");
}

void mo_run_sum_sites(const cJSON *sites, const char *fn, int depth,
		      mo_run_site_sum_t *sum)
{
	const cJSON *site;

	memset(sum, 0, sizeof(*sum));
	cJSON_ArrayForEach(site, sites)
	{
		if (fn == NULL || mo_run_site_has_function(site, fn, depth))
			mo__add_site(site, sum);
	}
}

void mo_run_sum_sites_without(const cJSON *sites, const char *const *fns,
			      int nfn, mo_run_site_sum_t *sum)
{
	const cJSON *site;

	memset(sum, 0, sizeof(*sum));
	cJSON_ArrayForEach(site, sites)
	{
		bool named = false;
		for (int i = 0; i < nfn && !named; i++)
			named = mo_run_site_has_function(site, fns[i], -1);
		if (!named)
			mo__add_site(site, sum);
	}
}

const cJSON *mo_run_find_site(const cJSON *sites, const char *fn, int depth)
{
	const cJSON *site;

	cJSON_ArrayForEach(site, sites)
	{
		if (fn == NULL || mo_run_site_has_function(site, fn, depth))
			return site;
	}
	return NULL;
}
