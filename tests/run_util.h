/*
 * Helpers for the integration tests (tests/test_record.c): run a command
 * with its output captured, manage temporary directories, load the JSON
 * report and look things up in it.
 *
 * None of these functions is thread-safe; the tests call them from one
 * thread.  Every function that allocates says who frees.
 */
#ifndef MO_RUN_UTIL_H
#define MO_RUN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* What mo_run() observed. */
typedef struct {
	int status;	/* wait status from waitpid(), -1 if never started */
	bool timed_out; /* the command was killed after the timeout */
	char *out;	/* captured stdout, NUL-terminated, owned */
	size_t out_len;
	char *err; /* captured stderr, NUL-terminated, owned */
	size_t err_len;
} mo_run_result_t;

/* Optional settings of mo_run(); a NULL pointer means all defaults. */
typedef struct {
	const char *cwd;	/* working directory, NULL: inherit */
	const char *const *env; /* "NAME=VALUE" strings to set, NULL-ended */
	int timeout_ms;		/* 0: 60 seconds */
} mo_run_opts_t;

/* Runs argv[0] (looked up in PATH if it has no slash) with argv, stdin
 * from /dev/null, stdout and stderr captured, in a process group of its
 * own (killed as a whole on timeout).  Fills *res, which the caller
 * releases with mo_run_result_free().  Returns 0, or -errno if the
 * command could not be started (res->status is then -1); a command that
 * cannot be executed ends with status 127 as in a shell. */
int mo_run(const char *const *argv, const mo_run_opts_t *opts,
	   mo_run_result_t *res);

/* Frees the buffers of res (not res itself).  Safe on a zeroed res. */
void mo_run_result_free(mo_run_result_t *res);

/* The shell's view of a wait status: the exit code, 128 + N for a death
 * by signal N, -1 for anything else. */
int mo_run_exit_code(int status);

/* Number of '\n'-terminated lines in s (a last line without newline
 * counts too). */
int mo_run_count_lines(const char *s);

/* Absolute path of rel inside the build tree: $MEMOPT_BUILDDIR if set,
 * else the compile-time MO_BUILDDIR.  Returns a malloc'd string. */
char *mo_run_build_path(const char *rel);

/* Path of dir/name; returns a malloc'd string. */
char *mo_run_join(const char *dir, const char *name);

/* Creates a fresh private directory under $TMPDIR (or /tmp) whose name
 * contains tag.  Returns its malloc'd path, or NULL on failure. */
char *mo_run_mkdtemp(const char *tag);

/* Removes dir and everything below it (no symlinks followed).  Returns 0
 * or -errno of the first failure. */
int mo_run_rmtree(const char *dir);

/* Copies file src to dst (created with mode).  Returns 0 or -errno. */
int mo_run_copy_file(const char *src, const char *dst, unsigned mode);

/* Writes len bytes of data to path (created or truncated, mode 0644).
 * Returns 0 or -errno. */
int mo_run_write_file(const char *path, const void *data, size_t len);

/* Size of path in bytes, or -errno. */
int64_t mo_run_file_size(const char *path);

/* Reads the whole of path into a malloc'd, NUL-terminated buffer; stores
 * its length in *len if len is not NULL.  Returns NULL on failure. */
char *mo_run_read_file(const char *path, size_t *len);

/* Parses text (len bytes, need not be NUL-terminated).  Returns a tree
 * the caller frees with cJSON_Delete(), or NULL if it is not JSON. */
cJSON *mo_run_json_parse(const char *text, size_t len);

/* Value of the number at a dotted path below obj ("summary.allocations"),
 * or INT64_MIN if absent or not a number. */
int64_t mo_run_json_int(const cJSON *obj, const char *path);

/* Item at a dotted path below obj, or NULL. */
const cJSON *mo_run_json_get(const cJSON *obj, const char *path);

/* Number of entries of report's "processes" array (0 if missing). */
int mo_run_process_count(const cJSON *report);

/* The process of report with the given pid and image: if arg1 is not
 * NULL the process's command[1] must equal it, if arg1 is NULL the
 * command must have no argument; forked selects the "forked" flag
 * (-1: either).  Returns a pointer into report, or NULL if none. */
const cJSON *mo_run_find_process(const cJSON *report, int64_t pid,
				 const char *arg1, int forked);

/* The only process of report whose command[0] ends in name (basename
 * match, a pid of -1 or any), or NULL if none or several. */
const cJSON *mo_run_find_process_by_name(const cJSON *report, const char *name);

/* Whether the "stack" of site has a frame whose "function" equals fn:
 * at index depth, or at any index if depth < 0. */
bool mo_run_site_has_function(const cJSON *site, const char *fn, int depth);

/* Sums of the figures of the selected sites of one site list. */
typedef struct {
	int64_t sites;
	int64_t bytes;
	int64_t blocks;
	int64_t allocations;
	int64_t bytes_allocated;
	int64_t temporary;
} mo_run_site_sum_t;

/* Adds up the sites of the array sites (e.g. a process's "top_bytes")
 * selected by mo_run_site_has_function(site, fn, depth); fn NULL selects
 * every site.  Fills *sum. */
void mo_run_sum_sites(const cJSON *sites, const char *fn, int depth,
		      mo_run_site_sum_t *sum);

/* Like mo_run_sum_sites() but selects the sites whose stack names none of
 * the nfn functions in fns (at any depth). */
void mo_run_sum_sites_without(const cJSON *sites, const char *const *fns,
			      int nfn, mo_run_site_sum_t *sum);

/* The first site of sites selected as by mo_run_sum_sites(), or NULL. */
const cJSON *mo_run_find_site(const cJSON *sites, const char *fn, int depth);

#endif
