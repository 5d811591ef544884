/*
 * Integration tests of `memopt record` and `memopt report --json`: record
 * the small programs of tests/programs, whose heap activity is known by
 * construction (each documents it at its top), and check the report's
 * figures exactly.  Each test works in a fresh temporary directory.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "memopt/trace_format.h"
#include "run_util.h"

static char *tmpdir;

static void setup(void)
{
	tmpdir = mo_run_mkdtemp("record");
	cr_assert_not_null(tmpdir, "cannot create a temporary directory");
}

static void teardown(void)
{
	mo_run_rmtree(tmpdir);
	free(tmpdir);
	tmpdir = NULL;
}

TestSuite(record, .init = setup, .fini = teardown, .timeout = 60);

/* --- helpers ---------------------------------------------------------- */

/* Path of the memopt binary or of a test program; malloc'd. */
static char *memopt_path(void)
{
	return mo_run_build_path("cli/memopt");
}

static char *prog_path(const char *name)
{
	char rel[256];
	char *path;

	snprintf(rel, sizeof(rel), "tests/programs/%s", name);
	path = mo_run_build_path(rel);
	cr_assert(access(path, X_OK) == 0,
		  "%s is missing: build the check programs first (make check)",
		  path);
	return path;
}

static char *tmp_file(const char *name)
{
	return mo_run_join(tmpdir, name);
}

/* Runs `memopt record [opts...] -o TRACE -- argv...`; opts and argv are
 * NULL-terminated.  Returns the shell exit code; fills *res. */
static int record_env(const char *trace, const char *const *opts,
		      const char *const *argv, const char *const *env,
		      mo_run_result_t *res)
{
	const char *args[64];
	char *memopt = memopt_path();
	mo_run_opts_t ropts = {.env = env};
	int n = 0, rc;

	args[n++] = memopt;
	args[n++] = "record";
	for (; opts != NULL && *opts != NULL; opts++)
		args[n++] = *opts;
	if (trace != NULL) {
		args[n++] = "-o";
		args[n++] = trace;
	}
	args[n++] = "--";
	for (; *argv != NULL && n < 63; argv++)
		args[n++] = *argv;
	args[n] = NULL;
	rc = mo_run(args, &ropts, res);
	free(memopt);
	cr_assert_eq(rc, 0, "cannot run memopt: %s", strerror(-rc));
	cr_assert(!res->timed_out, "memopt record timed out; stderr:\n%s",
		  res->err);
	return mo_run_exit_code(res->status);
}

static int record(const char *trace, const char *const *opts,
		  const char *const *argv, mo_run_result_t *res)
{
	return record_env(trace, opts, argv, NULL, res);
}

/* Records argv quietly into a fresh trace in tmpdir, with the "NAME=VALUE"
 * settings of env (NULL-terminated, or NULL) added to the environment;
 * asserts memopt's exit code.  Returns the malloc'd trace path; fills
 * *res. */
static char *record_ok_env(const char *const *argv, int want_code,
			   const char *const *env, mo_run_result_t *res)
{
	static const char *const quiet[] = {"-q", NULL};
	char *trace = tmp_file("trace.memopt");
	int code = record_env(trace, quiet, argv, env, res);

	cr_assert_eq(code, want_code,
		     "memopt record exited %d, expected %d; stderr:\n%s", code,
		     want_code, res->err);
	cr_assert_gt(mo_run_file_size(trace), 0, "no trace written");
	return trace;
}

static char *record_ok(const char *const *argv, int want_code,
		       mo_run_result_t *res)
{
	return record_ok_env(argv, want_code, NULL, res);
}

/* Runs `memopt report --json --top 1000 -i trace` (--top large enough to
 * list every site).  Returns the exit code; fills *res. */
static int report(const char *trace, mo_run_result_t *res)
{
	char *memopt = memopt_path();
	const char *args[] = {memopt, "report", "--json", "--top",
			      "1000", "-i",	trace,	  NULL};
	int rc = mo_run(args, NULL, res);

	free(memopt);
	cr_assert_eq(rc, 0, "cannot run memopt: %s", strerror(-rc));
	cr_assert(!res->timed_out, "memopt report timed out");
	return mo_run_exit_code(res->status);
}

/* Reports trace, asserting exit 0, valid JSON and no damage.  Returns the
 * tree (caller deletes). */
static cJSON *report_ok(const char *trace)
{
	mo_run_result_t res;
	int code = report(trace, &res);
	cJSON *json;

	cr_assert_eq(code, 0, "memopt report exited %d; stderr:\n%s", code,
		     res.err);
	json = mo_run_json_parse(res.out, res.out_len);
	cr_assert_not_null(json, "memopt report --json printed no JSON:\n%s",
			   res.out);
	cr_assert(cJSON_IsNull(mo_run_json_get(json, "damage")),
		  "trace reported damaged");
	mo_run_result_free(&res);
	return json;
}

static void expect_int(const cJSON *obj, const char *path, int64_t want,
		       const char *who)
{
	int64_t got = mo_run_json_int(obj, path);

	cr_expect_eq(got, want, "%s: %s is %" PRId64 ", expected %" PRId64, who,
		     path, got, want);
}

/* Expected summary figures; a field of -1 is not checked. */
typedef struct {
	int64_t allocations;
	int64_t frees;
	int64_t bytes_allocated;
	int64_t peak_heap_bytes;
	int64_t leaked_bytes;
	int64_t leaked_blocks;
} summary_t;

static void expect_summary(const cJSON *proc, const summary_t *s,
			   const char *who)
{
	static const char *const names[] = {
		"summary.allocations",	   "summary.frees",
		"summary.bytes_allocated", "summary.peak_heap_bytes",
		"summary.leaked_bytes",	   "summary.leaked_blocks"};
	const int64_t vals[] = {s->allocations,	    s->frees,
				s->bytes_allocated, s->peak_heap_bytes,
				s->leaked_bytes,    s->leaked_blocks};

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		if (vals[i] >= 0)
			expect_int(proc, names[i], vals[i], who);
}

/* The collector saw every address allocated once and freed once. */
static void expect_clean_diagnostics(const cJSON *proc, const char *who)
{
	expect_int(proc, "diagnostics.unmatched_frees", 0, who);
	expect_int(proc, "diagnostics.double_allocs", 0, who);
	expect_int(proc, "diagnostics.lost_bytes", 0, who);
}

/* proc's "exit" is {key: want}. */
static void expect_exit(const cJSON *proc, const char *key, int64_t want,
			const char *who)
{
	const cJSON *exit_obj = mo_run_json_get(proc, "exit");
	char path[64];

	cr_assert(cJSON_IsObject(exit_obj), "%s: \"exit\" is not an object",
		  who);
	cr_expect_eq(cJSON_GetArraySize(exit_obj), 1,
		     "%s: \"exit\" should have exactly one member", who);
	if (strcmp(key, "exec") == 0) {
		cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
				  exit_obj, "exec")),
			  "%s: exit should be {\"exec\": true}", who);
		return;
	}
	snprintf(path, sizeof(path), "exit.%s", key);
	expect_int(proc, path, want, who);
}

static const cJSON *only_process(const cJSON *json)
{
	const cJSON *procs = mo_run_json_get(json, "processes");

	cr_assert_eq(mo_run_process_count(json), 1,
		     "expected exactly one process, got %d",
		     mo_run_process_count(json));
	return cJSON_GetArrayItem(procs, 0);
}

/* Per-function expectation: the sites whose frame at depth (any if < 0)
 * names fn allocated `allocations` blocks, `bytes_allocated` bytes, and
 * `live_blocks` blocks of `live_bytes` are still live at the end. */
typedef struct {
	const char *fn;
	int64_t allocations;
	int64_t bytes_allocated;
	int64_t live_blocks;
	int64_t live_bytes;
} fn_expect_t;

static void expect_function(const cJSON *proc, const fn_expect_t *e, int depth)
{
	const cJSON *all = mo_run_json_get(proc, "top_allocations");
	const cJSON *leaks = mo_run_json_get(proc, "live_at_exit");
	mo_run_site_sum_t sum, live;

	mo_run_sum_sites(all, e->fn, depth, &sum);
	mo_run_sum_sites(leaks, e->fn, depth, &live);
	cr_expect_eq(sum.allocations, e->allocations,
		     "%s: %" PRId64 " allocations in %" PRId64
		     " sites, expected %" PRId64,
		     e->fn, sum.allocations, sum.sites, e->allocations);
	cr_expect_eq(sum.bytes_allocated, e->bytes_allocated,
		     "%s: %" PRId64 " bytes allocated, expected %" PRId64,
		     e->fn, sum.bytes_allocated, e->bytes_allocated);
	cr_expect_eq(live.blocks, e->live_blocks,
		     "%s: %" PRId64 " blocks leaked, expected %" PRId64, e->fn,
		     live.blocks, e->live_blocks);
	cr_expect_eq(live.bytes, e->live_bytes,
		     "%s: %" PRId64 " bytes leaked, expected %" PRId64, e->fn,
		     live.bytes, e->live_bytes);
}

/* The string at path below obj (obj itself if path is ""), or "". */
static const char *json_str(const cJSON *obj, const char *path)
{
	const char *s = cJSON_GetStringValue(mo_run_json_get(obj, path));

	return s != NULL ? s : "";
}

static bool str_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Frame k of the first site of sites naming fn at depth k. */
static const cJSON *frame_of(const cJSON *sites, const char *fn, int k)
{
	const cJSON *site = mo_run_find_site(sites, fn, k);

	cr_assert_not_null(site, "no site with %s at frame %d", fn, k);
	return cJSON_GetArrayItem(mo_run_json_get(site, "stack"), k);
}

/* --- 1. every interposed function ------------------------------------- */

static int64_t page_size(void)
{
	return sysconf(_SC_PAGESIZE);
}

/* The per-function table of tests/programs/tp_basic.c. */
static void tp_basic_table(fn_expect_t *t, size_t *n, bool full)
{
	const fn_expect_t rows[] = {
		{"leak_small", 1, 111, 1, 111},
		{"leak_pair", 2, 444, 2, 444},
		{"use_malloc", 1, 100, 0, 0},
		{"use_calloc", 1, 200, 0, 0},
		{"use_realloc", 3, 50 + 5000 + 100, 0, 0},
		{"realloc_guard", 1, 16, 0, 0},
		{"use_reallocarray", 2, 300 + 600, 0, 0},
		{"use_free_null", 0, 0, 0, 0},
		{"use_posix_memalign", 1, 256, 0, 0},
		{"use_aligned_alloc", 1, 512, 0, 0},
		{"use_memalign", 1, 96, 0, 0},
		{"use_valloc", 1, 1000, 0, 0},
		{"use_pvalloc", full ? 1 : 0, full ? page_size() : 0, 0, 0},
		{"use_malloc0", 1, 0, 0, 0},
		{"use_usable_size", 1, 40, 0, 0},
		{"peak_step", 3, 30000, 0, 0},
		{"fail_victim", 1, 64, 0, 0},
		{"try_failures", 0, 0, 0, 0},
	};

	memcpy(t, rows, sizeof(rows));
	*n = sizeof(rows) / sizeof(rows[0]);
}

/* Summary of tp_basic computed from its table. */
static summary_t tp_basic_summary(bool full)
{
	fn_expect_t t[32];
	size_t n;
	summary_t s = {0, 0, 0, 555 + 30000, 0, 0};

	tp_basic_table(t, &n, full);
	for (size_t i = 0; i < n; i++) {
		s.allocations += t[i].allocations;
		s.bytes_allocated += t[i].bytes_allocated;
		s.leaked_blocks += t[i].live_blocks;
		s.leaked_bytes += t[i].live_bytes;
	}
	s.frees = s.allocations - s.leaked_blocks;
	return s;
}

Test(record, basic_every_interposed_function)
{
	char *prog = prog_path("tp_basic");
	char *trace = tmp_file("basic.memopt");
	const char *argv[] = {prog, "full", "3", NULL};
	summary_t want = tp_basic_summary(true);
	fn_expect_t table[32];
	size_t n;
	mo_run_result_t res;
	mo_run_site_sum_t all;
	const cJSON *proc, *cmd, *frame;
	cJSON *json;
	int code;

	/* Not quiet: the one status line on stderr. */
	code = record(trace, NULL, argv, &res);
	cr_assert_eq(code, 3, "exit status not passed through: %d; stderr:\n%s",
		     code, res.err);
	cr_expect_str_eq(res.out, "tp_basic: ok\n",
			 "program stdout not passed through unchanged");
	cr_expect_eq(mo_run_count_lines(res.err), 1,
		     "expected one line on stderr, got:\n%s", res.err);
	cr_expect(strncmp(res.err, "memopt: wrote ", 14) == 0 &&
			  strstr(res.err, trace) != NULL,
		  "status line should be \"memopt: wrote %s (...)\", got: %s",
		  trace, res.err);
	mo_run_result_free(&res);

	json = report_ok(trace);
	proc = only_process(json);
	cr_expect_eq(mo_run_find_process_by_name(json, "tp_basic"), proc,
		     "process not found by its command name");
	cmd = mo_run_json_get(proc, "command");
	cr_expect_eq(cJSON_GetArraySize(cmd), 3, "command has 3 words");
	cr_expect_str_eq(json_str(cJSON_GetArrayItem(cmd, 0), ""), prog,
			 "command[0]");
	cr_expect_str_eq(json_str(cJSON_GetArrayItem(cmd, 1), ""), "full",
			 "command[1]");
	cr_expect_str_eq(json_str(cJSON_GetArrayItem(cmd, 2), ""), "3",
			 "command[2]");
	cr_expect(cJSON_IsFalse(mo_run_json_get(proc, "forked")),
		  "tp_basic is not forked");
	cr_expect_gt(mo_run_json_int(proc, "pid"), 0, "pid");
	expect_exit(proc, "code", 3, "tp_basic");
	cr_assert_eq(want.allocations, 22, "table of tp_basic.c");
	cr_assert_eq(want.frees, 19, "table of tp_basic.c");
	expect_summary(proc, &want, "tp_basic");
	expect_clean_diagnostics(proc, "tp_basic");

	tp_basic_table(table, &n, true);
	for (size_t i = 0; i < n; i++)
		expect_function(proc, &table[i], 0);
	/* Temporary allocations (freed with no allocation in between), where
	 * the definition leaves no doubt; peak_step's last block is freed
	 * after the other two frees, which definitions treat differently. */
	static const struct {
		const char *fn;
		int64_t temporary;
	} temporaries[] = {
		{"leak_small", 0},	  {"leak_pair", 0},
		{"use_malloc", 1},	  {"use_calloc", 1},
		{"use_realloc", 2},	  {"realloc_guard", 0},
		{"use_reallocarray", 2},  {"use_posix_memalign", 1},
		{"use_aligned_alloc", 1}, {"use_memalign", 1},
		{"use_valloc", 1},	  {"use_pvalloc", 1},
		{"use_malloc0", 1},	  {"use_usable_size", 1},
		{"fail_victim", 1},
	};
	for (size_t i = 0; i < sizeof(temporaries) / sizeof(temporaries[0]);
	     i++) {
		mo_run_sum_sites(mo_run_json_get(proc, "top_allocations"),
				 temporaries[i].fn, 0, &all);
		cr_expect_eq(all.temporary, temporaries[i].temporary,
			     "%s: %" PRId64 " temporary allocations, expected "
			     "%" PRId64,
			     temporaries[i].fn, all.temporary,
			     temporaries[i].temporary);
	}

	/* Nothing but the program's own sites. */
	mo_run_sum_sites(mo_run_json_get(proc, "top_allocations"), NULL, 0,
			 &all);
	cr_expect_eq(all.allocations, want.allocations,
		     "sites add up to %" PRId64 " allocations",
		     all.allocations);
	mo_run_sum_sites(mo_run_json_get(proc, "live_at_exit"), NULL, 0, &all);
	cr_expect_eq(all.blocks, 3, "3 leaked blocks in the leak list");
	const cJSON *site;
	cJSON_ArrayForEach(site, mo_run_json_get(proc, "live_at_exit"))
	{
		cr_expect(
			mo_run_site_has_function(site, "leak_small", 0) ||
				mo_run_site_has_function(site, "leak_pair", 0),
			"a leak site outside leak_small and leak_pair");
	}

	/* Symbolization of the program's own frames. */
	frame = frame_of(mo_run_json_get(proc, "live_at_exit"), "leak_small",
			 0);
	cr_expect(str_ends_with(json_str(frame, "file"), "tp_basic.c"),
		  "leak_small's frame should be in tp_basic.c");
	cr_expect_gt(mo_run_json_int(frame, "line"), 0, "line number");
	cr_expect(strstr(json_str(frame, "module"), "tp_basic") != NULL,
		  "leak_small's module should be tp_basic");

	cJSON_Delete(json);
	free(trace);
	free(prog);
}

Test(record, basic_text_report)
{
	char *prog = prog_path("tp_basic");
	const char *argv[] = {prog, NULL};
	mo_run_result_t res;
	char *trace = record_ok(argv, 0, &res);
	char *memopt = memopt_path();
	const char *args[] = {memopt, "report", "-i", trace, NULL};

	cr_expect_str_eq(res.out, "tp_basic: ok\n", "program stdout");
	cr_expect_str_eq(res.err, "", "-q: nothing on stderr");
	mo_run_result_free(&res);
	cr_assert_eq(mo_run(args, NULL, &res), 0);
	cr_expect_eq(mo_run_exit_code(res.status), 0, "report: stderr:\n%s",
		     res.err);
	cr_expect_gt(res.out_len, 0, "the text report is empty");
	cr_expect_str_eq(res.err, "", "report printed on stderr");
	mo_run_result_free(&res);
	free(memopt);
	free(trace);
	free(prog);
}

/* --- 2. threads with cross-thread frees -------------------------------- */

#define TP_PRODUCERS 4
#define TP_CONSUMERS 4
#define TP_BLOCKS 20000

/* Bytes produced by tp_threads with blocks per producer (see the
 * program: block i of producer k is 16 + ((7k + i) % 64) * 8 bytes). */
static int64_t tp_threads_bytes(long blocks)
{
	int64_t sum = 0;

	for (long k = 0; k < TP_PRODUCERS; k++)
		for (long i = 0; i < blocks; i++)
			sum += 16 + ((7 * k + i) % 64) * 8;
	return sum;
}

static void check_threads_once(int iteration, const char *const *env)
{
	char *prog = prog_path("tp_threads");
	char blocks_arg[32];
	const char *argv[] = {prog, blocks_arg, NULL};
	int64_t n = (int64_t)TP_PRODUCERS * TP_BLOCKS;
	int64_t bytes = tp_threads_bytes(TP_BLOCKS);
	int nthreads = TP_PRODUCERS + TP_CONSUMERS;
	mo_run_site_sum_t tls, tls_live;
	mo_run_result_t res;
	const cJSON *proc;
	char who[64];
	char *trace;
	cJSON *json;

	snprintf(blocks_arg, sizeof(blocks_arg), "%d", TP_BLOCKS);
	snprintf(who, sizeof(who), "tp_threads run %d", iteration);
	trace = record_ok_env(argv, 0, env, &res);
	cr_expect_str_eq(res.out, "tp_threads: ok\n", "program stdout");
	mo_run_result_free(&res);
	json = report_ok(trace);
	proc = only_process(json);
	expect_clean_diagnostics(proc, who);
	expect_exit(proc, "code", 0, who);

	/* The program's blocks: all freed, by other threads. */
	const fn_expect_t produced = {"produce_block", n, bytes, 0, 0};
	expect_function(proc, &produced, 0);

	/* glibc's per-thread TLS vectors, allocated under start_threads(). */
	mo_run_sum_sites(mo_run_json_get(proc, "top_allocations"),
			 "start_threads", -1, &tls);
	mo_run_sum_sites(mo_run_json_get(proc, "live_at_exit"), "start_threads",
			 -1, &tls_live);
	cr_expect_eq(tls.allocations, nthreads,
		     "%s: %" PRId64 " allocations under pthread_create, "
		     "expected one per thread (%d)",
		     who, tls.allocations, nthreads);
	cr_expect_eq(tls_live.blocks, nthreads,
		     "%s: thread TLS blocks live at exit", who);

	const summary_t want = {
		n + nthreads,	n,	 bytes + tls.bytes_allocated, -1,
		tls_live.bytes, nthreads};
	expect_summary(proc, &want, who);
	cr_expect_geq(mo_run_json_int(proc, "summary.peak_heap_bytes"),
		      tls.bytes_allocated + 16,
		      "%s: peak below the live TLS blocks", who);
	cJSON_Delete(json);
	unlink(trace);
	free(trace);
	free(prog);
}

Test(record, threads_cross_thread_frees)
{
	for (int i = 1; i <= 3; i++)
		check_threads_once(i, NULL);
}

/* A ring far smaller than the events in flight: writers must wait for the
 * collector, never drop events. */
Test(record, threads_small_ring)
{
	static const char *const env[] = {"MEMOPT_RING_SIZE=65536", NULL};

	check_threads_once(1, env);
}

/* --- 3. fork and exec -------------------------------------------------- */

static void parse_pids(const char *out, long *parent, long *child)
{
	cr_assert_eq(sscanf(out, "parent %ld child %ld", parent, child), 2,
		     "tp_fork_exec printed \"%s\"", out);
}

Test(record, fork_and_exec)
{
	char *prog = prog_path("tp_fork_exec");
	const char *argv[] = {prog, NULL};
	mo_run_result_t res;
	char *trace = record_ok(argv, 0, &res);
	const cJSON *parent, *child, *image;
	long ppid, cpid;
	cJSON *json;

	parse_pids(res.out, &ppid, &cpid);
	mo_run_result_free(&res);
	json = report_ok(trace);
	cr_assert_eq(mo_run_process_count(json), 3,
		     "expected 3 processes (parent, forked child, exec'd "
		     "image), got %d",
		     mo_run_process_count(json));

	parent = mo_run_find_process(json, ppid, NULL, 0);
	cr_assert_not_null(parent, "no parent process with pid %ld", ppid);
	const summary_t want_parent = {13, 13, 1150, 1150, 0, 0};
	expect_summary(parent, &want_parent, "parent");
	expect_exit(parent, "code", 0, "parent");
	expect_clean_diagnostics(parent, "parent");
	const fn_expect_t parent_after = {"parent_after_fork", 3, 150, 0, 0};
	expect_function(parent, &parent_after, 0);

	child = mo_run_find_process(json, cpid, NULL, 1);
	cr_assert_not_null(child, "no forked child with pid %ld", cpid);
	expect_int(child, "ppid", ppid, "forked child");
	const summary_t want_child = {30, 5, 5000, 5000, 4000, 25};
	expect_summary(child, &want_child, "forked child");
	expect_exit(child, "exec", 1, "forked child");
	expect_clean_diagnostics(child, "forked child");
	/* Inherited blocks keep their sites. */
	const fn_expect_t inherited = {"parent_before_fork", 10, 1000, 10,
				       1000};
	expect_function(child, &inherited, 0);
	const fn_expect_t own = {"child_work", 20, 4000, 15, 3000};
	expect_function(child, &own, 0);

	image = mo_run_find_process(json, cpid, "exec-child", -1);
	cr_assert_not_null(image, "no exec'd image with pid %ld", cpid);
	expect_int(image, "ppid", ppid, "exec'd image");
	const summary_t want_image = {7, 3, 2100, 2100, 1200, 4};
	expect_summary(image, &want_image, "exec'd image");
	expect_exit(image, "code", 0, "exec'd image");
	expect_clean_diagnostics(image, "exec'd image");

	cJSON_Delete(json);
	free(trace);
	free(prog);
}

Test(record, fork_no_follow)
{
	static const char *const opts[] = {"-q", "--no-follow-fork", NULL};
	char *prog = prog_path("tp_fork_exec");
	char *trace = tmp_file("nofollow.memopt");
	const char *argv[] = {prog, NULL};
	mo_run_result_t res;
	const cJSON *proc;
	long ppid, cpid;
	cJSON *json;
	int code = record(trace, opts, argv, &res);

	cr_assert_eq(code, 0, "memopt record exited %d; stderr:\n%s", code,
		     res.err);
	parse_pids(res.out, &ppid, &cpid);
	mo_run_result_free(&res);
	json = report_ok(trace);
	proc = only_process(json);
	expect_int(proc, "pid", ppid, "parent");
	const summary_t want = {13, 13, 1150, 1150, 0, 0};
	expect_summary(proc, &want, "parent");
	expect_exit(proc, "code", 0, "parent");
	cJSON_Delete(json);
	free(trace);
	free(prog);
}

/* --- 4. and 5. crash and SIGKILL ------------------------------------- */

Test(record, crash_after_allocations)
{
	char *prog = prog_path("tp_crash");
	const char *argv[] = {prog, NULL};
	mo_run_result_t res;
	char *trace = record_ok(argv, 139, &res);
	const cJSON *proc;
	cJSON *json;

	mo_run_result_free(&res);
	json = report_ok(trace);
	proc = only_process(json);
	const summary_t want = {1000, 0, 32000, 32000, 32000, 1000};
	expect_summary(proc, &want, "tp_crash");
	expect_exit(proc, "signal", 11, "tp_crash");
	const fn_expect_t sites = {"crash_alloc", 1000, 32000, 1000, 32000};
	expect_function(proc, &sites, 0);
	cJSON_Delete(json);
	free(trace);
	free(prog);
}

Test(record, sigkill)
{
	char *prog = prog_path("tp_kill");
	const char *argv[] = {prog, NULL};
	mo_run_result_t res;
	char *trace = record_ok(argv, 137, &res);
	const cJSON *proc;
	cJSON *json;

	mo_run_result_free(&res);
	json = report_ok(trace);
	proc = only_process(json);
	const summary_t want = {500, 100, 24000, 24000, 19200, 400};
	expect_summary(proc, &want, "tp_kill");
	expect_exit(proc, "signal", 9, "tp_kill");
	expect_clean_diagnostics(proc, "tp_kill");
	cJSON_Delete(json);
	free(trace);
	free(prog);
}

/* --- 6. C++ ------------------------------------------------------------ */

static const fn_expect_t tp_cxx_table[] = {
	{"cxx_new_scalar", 1, 4, 0, 0},
	{"cxx_new_array", 1, 40, 0, 0},
	{"cxx_new_cookie_array", 1, 5 * 4 + 8, 0, 0},
	{"cxx_new_aligned", 1, 128, 0, 0},
	{"cxx_new_aligned_explicit", 1, 256, 0, 0},
	{"cxx_new_nothrow", 1, 12, 0, 0},
	{"cxx_leak", 2, 96, 2, 96},
};
#define TP_CXX_FNS (sizeof(tp_cxx_table) / sizeof(tp_cxx_table[0]))

Test(record, cxx_new_delete)
{
	char *prog = prog_path("tp_cxx");
	const char *argv[] = {prog, NULL};
	mo_run_result_t res;
	char *trace = record_ok(argv, 0, &res);
	const char *fns[TP_CXX_FNS];
	mo_run_site_sum_t pool, pool_live;
	const cJSON *proc, *site, *frame;
	cJSON *json;

	cr_expect_str_eq(res.out, "tp_cxx: ok\n", "program stdout");
	mo_run_result_free(&res);
	json = report_ok(trace);
	proc = only_process(json);
	expect_clean_diagnostics(proc, "tp_cxx");
	expect_exit(proc, "code", 0, "tp_cxx");
	for (size_t i = 0; i < TP_CXX_FNS; i++) {
		expect_function(proc, &tp_cxx_table[i], -1);
		fns[i] = tp_cxx_table[i].fn;
	}

	/* Frame 0 of a new is inside libstdc++'s operator new. */
	site = mo_run_find_site(mo_run_json_get(proc, "top_allocations"),
				"cxx_new_scalar", -1);
	frame = cJSON_GetArrayItem(mo_run_json_get(site, "stack"), 0);
	cr_expect(strstr(json_str(frame, "module"), "libstdc++") != NULL,
		  "frame 0 of new int should be in libstdc++");

	/* Everything else: libstdc++'s emergency pool, one block, kept. */
	mo_run_sum_sites_without(mo_run_json_get(proc, "top_allocations"), fns,
				 TP_CXX_FNS, &pool);
	mo_run_sum_sites_without(mo_run_json_get(proc, "live_at_exit"), fns,
				 TP_CXX_FNS, &pool_live);
	cr_expect_eq(pool.allocations, 1,
		     "one allocation outside the program (the emergency "
		     "pool), got %" PRId64,
		     pool.allocations);
	cr_expect_gt(pool.bytes_allocated, 0, "emergency pool size");
	cr_expect_eq(pool_live.blocks, 1, "the pool is live at exit");
	cr_expect_eq(pool_live.bytes, pool.bytes_allocated, "pool bytes");

	const summary_t want = {8 + 1,
				6,
				564 + pool.bytes_allocated,
				256 + pool.bytes_allocated,
				96 + pool.bytes_allocated,
				2 + 1};
	expect_summary(proc, &want, "tp_cxx");
	cJSON_Delete(json);
	free(trace);
	free(prog);
}

/* --- 7. dlopen'd library ---------------------------------------------- */

static void check_dlopen(const char *mode)
{
	char *prog = prog_path("tp_dlopen");
	char *lib = mo_run_build_path("tests/programs/.libs/libtp_dlib.so");
	const char *argv[] = {prog, lib, mode, NULL};
	const cJSON *proc, *frame, *leaks;
	mo_run_result_t res;
	char *trace;
	cJSON *json;

	cr_assert(access(lib, R_OK) == 0, "%s missing (make check builds it)",
		  lib);
	trace = record_ok(argv, 0, &res);
	cr_expect_str_eq(res.out, "tp_dlopen: ok\n", "program stdout");
	mo_run_result_free(&res);
	json = report_ok(trace);
	proc = only_process(json);
	expect_clean_diagnostics(proc, mode);
	expect_exit(proc, "code", 0, mode);

	const fn_expect_t table[] = {
		{"main_before", 1, 33, 1, 33},
		{"main_after", 1, 44, 0, 0},
		{"tp_dlib_temp", 4, 256, 0, 0},
		{"tp_dlib_leak", 8, 1024, 8, 1024},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		expect_function(proc, &table[i], 0);

	leaks = mo_run_json_get(proc, "live_at_exit");
	frame = frame_of(leaks, "tp_dlib_leak", 0);
	cr_expect(strstr(json_str(frame, "module"), "libtp_dlib") != NULL,
		  "%s: the leak's frame 0 should be in libtp_dlib.so", mode);
	cr_expect(str_ends_with(json_str(frame, "file"), "tp_dlib.c"),
		  "%s: the leak's frame 0 should be in tp_dlib.c", mode);
	cr_expect_gt(mo_run_json_int(frame, "line"), 0, "%s: line", mode);
	cr_expect(
		mo_run_site_has_function(
			mo_run_find_site(leaks, "tp_dlib_leak", 0), "main", -1),
		"%s: the leak's stack should reach main", mode);
	cJSON_Delete(json);
	free(trace);
	free(lib);
	free(prog);
}

Test(record, dlopen_dlclose)
{
	check_dlopen("close");
}

Test(record, dlopen_kept)
{
	check_dlopen("keep");
}

/* --- 8. closing every fd ---------------------------------------------- */

Test(record, closes_all_fds)
{
	char *prog = prog_path("tp_closefds");
	const char *argv[] = {prog, NULL};
	mo_run_result_t res;
	char *trace = record_ok(argv, 0, &res);
	const cJSON *proc;
	cJSON *json;

	mo_run_result_free(&res);
	json = report_ok(trace);
	proc = only_process(json);
	const summary_t want = {10, 4, 1200, 1200, 720, 6};
	expect_summary(proc, &want, "tp_closefds");
	expect_exit(proc, "code", 0, "tp_closefds");
	expect_clean_diagnostics(proc, "tp_closefds");
	const fn_expect_t after = {"alloc_after", 5, 800, 3, 480};
	expect_function(proc, &after, 0);
	cJSON_Delete(json);
	free(trace);
	free(prog);
}

/* --- 9. record errors --------------------------------------------------- */

/* Asserts code and a single "memopt: " line on stderr containing needle
 * (if not NULL). */
static void expect_error(const mo_run_result_t *res, int code, int want,
			 const char *needle, const char *what)
{
	cr_expect_eq(code, want, "%s: exit %d, expected %d; stderr:\n%s", what,
		     code, want, res->err);
	cr_expect_eq(mo_run_count_lines(res->err), 1,
		     "%s: expected one line on stderr, got:\n%s", what,
		     res->err);
	cr_expect(strncmp(res->err, "memopt: ", 8) == 0,
		  "%s: stderr should start with \"memopt: \": %s", what,
		  res->err);
	if (needle != NULL)
		cr_expect(strstr(res->err, needle) != NULL,
			  "%s: stderr should mention \"%s\": %s", what, needle,
			  res->err);
}

Test(record, error_program_not_found)
{
	char *trace = tmp_file("t.memopt");
	char *missing = tmp_file("no-such-program");
	const char *argv1[] = {missing, NULL};
	const char *argv2[] = {"memopt-test-no-such-program-in-path", NULL};
	mo_run_result_t res;

	expect_error(&res, record(trace, NULL, argv1, &res), 127, NULL,
		     "missing path");
	mo_run_result_free(&res);
	expect_error(&res, record(trace, NULL, argv2, &res), 127, NULL,
		     "name not in PATH");
	mo_run_result_free(&res);
	free(missing);
	free(trace);
}

Test(record, error_not_executable)
{
	char *trace = tmp_file("t.memopt");
	char *script = tmp_file("not-executable");
	const char *argv[] = {script, NULL};
	mo_run_result_t res;

	cr_assert_eq(mo_run_write_file(script, "#!/bin/sh\n", 10), 0);
	cr_assert_eq(chmod(script, 0644), 0);
	expect_error(&res, record(trace, NULL, argv, &res), 126, NULL,
		     "not executable");
	mo_run_result_free(&res);
	free(script);
	free(trace);
}

Test(record, error_static_program)
{
	static const char src[] = "int main(void) { return 0; }\n";
	char *c_file = tmp_file("static.c");
	char *exe = tmp_file("static_prog");
	char *trace = tmp_file("t.memopt");
	const char *cc[] = {"cc", "-static", "-o", exe, c_file, NULL};
	const char *argv[] = {exe, NULL};
	mo_run_result_t res;

	cr_assert_eq(mo_run_write_file(c_file, src, sizeof(src) - 1), 0);
	cr_assert_eq(mo_run(cc, NULL, &res), 0);
	if (mo_run_exit_code(res.status) != 0) {
		mo_run_result_free(&res);
		cr_skip_test("cannot link statically here (cc -static failed)");
	}
	mo_run_result_free(&res);
	expect_error(&res, record(trace, NULL, argv, &res), 126,
		     "cannot be tracked: no dynamic loader", "static program");
	mo_run_result_free(&res);
	free(trace);
	free(exe);
	free(c_file);
}

Test(record, error_setuid_program)
{
	char *prog = prog_path("tp_basic");
	char *copy = tmp_file("tp_basic_setuid");
	char *trace = tmp_file("t.memopt");
	const char *argv[] = {copy, NULL};
	mo_run_result_t res;

	cr_assert_eq(mo_run_copy_file(prog, copy, 04755), 0);
	if (geteuid() != 0) {
		struct stat st;
		if (stat(copy, &st) != 0 || !(st.st_mode & S_ISUID))
			cr_skip_test("cannot create a setuid file here");
	}
	expect_error(&res, record(trace, NULL, argv, &res), 126, "setuid",
		     "setuid program");
	cr_expect_str_eq(res.out, "", "the setuid program must not run");
	mo_run_result_free(&res);
	free(trace);
	free(copy);
	free(prog);
}

Test(record, error_usage)
{
	char *memopt = memopt_path();
	char *prog = prog_path("tp_basic");
	const char *bad_opt[] = {memopt, "record", "--no-such-option", prog,
				 NULL};
	const char *no_prog[] = {memopt, "record", NULL};
	const char *bad_cmd[] = {memopt, "no-such-command", NULL};
	mo_run_result_t res;

	cr_assert_eq(mo_run(bad_opt, NULL, &res), 0);
	cr_expect_eq(mo_run_exit_code(res.status), 2, "unknown option: exit %d",
		     mo_run_exit_code(res.status));
	cr_expect_str_eq(res.out, "", "the program must not run");
	mo_run_result_free(&res);
	cr_assert_eq(mo_run(no_prog, NULL, &res), 0);
	cr_expect_eq(mo_run_exit_code(res.status), 2, "no program: exit %d",
		     mo_run_exit_code(res.status));
	mo_run_result_free(&res);
	cr_assert_eq(mo_run(bad_cmd, NULL, &res), 0);
	cr_expect_eq(mo_run_exit_code(res.status), 2,
		     "unknown command: exit %d", mo_run_exit_code(res.status));
	mo_run_result_free(&res);
	free(prog);
	free(memopt);
}

Test(record, default_output_and_old)
{
	char *memopt = memopt_path();
	char *prog = prog_path("tp_basic");
	char *data = tmp_file("memopt.data");
	char *old = tmp_file("memopt.data.old");
	const char *rec[] = {memopt, "record", "-q", prog, NULL};
	const char *rep[] = {memopt, "report", "--json", NULL};
	mo_run_opts_t in_tmp = {.cwd = tmpdir};
	char *first, *second, *now;
	size_t first_len, second_len, now_len;
	mo_run_result_t res;
	cJSON *json;

	cr_assert_eq(mo_run(rec, &in_tmp, &res), 0);
	cr_assert_eq(mo_run_exit_code(res.status), 0, "record: %s", res.err);
	mo_run_result_free(&res);
	first = mo_run_read_file(data, &first_len);
	cr_assert_not_null(first, "no memopt.data in the working directory");
	cr_expect_eq(access(old, F_OK), -1, "no .old after the first run");

	cr_assert_eq(mo_run(rec, &in_tmp, &res), 0);
	cr_assert_eq(mo_run_exit_code(res.status), 0, "record: %s", res.err);
	mo_run_result_free(&res);
	now = mo_run_read_file(old, &now_len);
	cr_assert_not_null(now, "memopt.data.old missing after a second run");
	cr_expect(now_len == first_len && memcmp(now, first, now_len) == 0,
		  "memopt.data.old is not the first trace");
	free(now);
	second = mo_run_read_file(data, &second_len);
	cr_assert_not_null(second, "no memopt.data after the second run");

	cr_assert_eq(mo_run(rec, &in_tmp, &res), 0);
	mo_run_result_free(&res);
	now = mo_run_read_file(old, &now_len);
	cr_assert_not_null(now);
	cr_expect(
		now_len == second_len && memcmp(now, second, now_len) == 0,
		"memopt.data.old is not the previous trace after a third run");
	free(now);

	/* report reads memopt.data by default. */
	cr_assert_eq(mo_run(rep, &in_tmp, &res), 0);
	cr_assert_eq(mo_run_exit_code(res.status), 0, "report: %s", res.err);
	json = mo_run_json_parse(res.out, res.out_len);
	cr_assert_not_null(json, "report printed no JSON");
	cr_expect(str_ends_with(json_str(json, "trace"), "memopt.data"),
		  "\"trace\" should name memopt.data");
	expect_int(only_process(json), "summary.allocations",
		   tp_basic_summary(true).allocations, "default trace");
	cJSON_Delete(json);
	mo_run_result_free(&res);
	free(first);
	free(second);
	free(old);
	free(data);
	free(prog);
	free(memopt);
}

/* --- 10. report errors ------------------------------------------------- */

/* Offset and payload length of the largest frame of a trace image. */
static void largest_frame(const uint8_t *d, size_t len, size_t *off,
			  size_t *plen)
{
	size_t pos = MO_FILE_HDR_SIZE;
	int frames = 0;

	*off = *plen = 0;
	while (pos + MO_FRAME_HDR_SIZE <= len &&
	       mo_get_le32(d + pos) == MO_FRAME_MAGIC) {
		size_t n = mo_get_le32(d + pos + 8);
		if (frames == 0 || n > *plen) {
			*off = pos;
			*plen = n;
		}
		frames++;
		pos += MO_FRAME_HDR_SIZE + n;
	}
	cr_assert_gt(frames, 0, "no frame in the trace");
	cr_assert_eq(pos, len, "frames do not tile the trace file");
}

/* A good trace of tp_threads (several frames), read into memory. */
static uint8_t *good_trace(char **path, size_t *len)
{
	char *prog = prog_path("tp_threads");
	const char *argv[] = {prog, "5000", NULL};
	mo_run_result_t res;
	uint8_t *data;

	*path = record_ok(argv, 0, &res);
	mo_run_result_free(&res);
	data = (uint8_t *)mo_run_read_file(*path, len);
	cr_assert_not_null(data);
	cr_assert_gt(*len, MO_FILE_HDR_SIZE, "trace too short");
	free(prog);
	return data;
}

/* Reports a damaged trace: exit 4, one warning line, JSON with damage. */
static cJSON *report_damaged(const char *trace, const char *needle)
{
	mo_run_result_t res;
	int code = report(trace, &res);
	cJSON *json;

	expect_error(&res, code, 4, needle, "damaged trace");
	json = mo_run_json_parse(res.out, res.out_len);
	cr_assert_not_null(json, "no JSON printed for a damaged trace:\n%s",
			   res.out);
	cr_assert(cJSON_IsObject(mo_run_json_get(json, "damage")),
		  "\"damage\" should be an object");
	mo_run_result_free(&res);
	return json;
}

Test(record, report_missing_and_foreign)
{
	char *missing = tmp_file("missing.memopt");
	char *foreign = tmp_file("passwd");
	char *empty = tmp_file("empty");
	mo_run_result_t res;

	expect_error(&res, report(missing, &res), 3, NULL, "missing file");
	cr_expect_str_eq(res.out, "", "nothing on stdout");
	mo_run_result_free(&res);
	cr_assert_eq(mo_run_copy_file("/etc/passwd", foreign, 0644), 0);
	expect_error(&res, report(foreign, &res), 3, NULL, "foreign file");
	mo_run_result_free(&res);
	cr_assert_eq(mo_run_write_file(empty, "", 0), 0);
	expect_error(&res, report(empty, &res), 3, NULL, "empty file");
	mo_run_result_free(&res);
	free(empty);
	free(foreign);
	free(missing);
}

Test(record, report_unsupported_version)
{
	char *trace;
	size_t len;
	uint8_t *data = good_trace(&trace, &len);
	mo_run_result_t res;

	/* Major version + 1, header CRC made valid again. */
	data[8] = MO_FORMAT_MAJOR + 1;
	mo_put_le32(data + 28, (uint32_t)crc32(0, data, 28));
	cr_assert_eq(mo_run_write_file(trace, data, len), 0);
	expect_error(&res, report(trace, &res), 3, NULL, "format version");
	mo_run_result_free(&res);
	free(data);
	free(trace);
}

Test(record, report_truncated)
{
	char *trace;
	size_t len, off, plen;
	uint8_t *data = good_trace(&trace, &len);
	cJSON *json;

	largest_frame(data, len, &off, &plen);
	cr_assert_gt(plen, 1, "largest frame is empty");
	cr_assert_eq(
		truncate(trace, (off_t)(off + MO_FRAME_HDR_SIZE + plen / 2)),
		0);
	json = report_damaged(trace, "truncated");
	cr_expect(cJSON_IsTrue(mo_run_json_get(json, "damage.truncated")),
		  "damage.truncated should be true");
	cJSON_Delete(json);
	free(data);
	free(trace);
}

Test(record, report_corrupted)
{
	char *trace;
	size_t len, off, plen;
	uint8_t *data = good_trace(&trace, &len);
	cJSON *json;

	largest_frame(data, len, &off, &plen);
	cr_assert_gt(plen, 1, "largest frame is empty");
	data[off + MO_FRAME_HDR_SIZE + plen / 2] ^= 0x5a;
	cr_assert_eq(mo_run_write_file(trace, data, len), 0);
	json = report_damaged(trace, NULL);
	cr_expect_geq(mo_run_json_int(json, "damage.corrupt_frames"), 1,
		      "damage.corrupt_frames should be >= 1");
	cJSON_Delete(json);
	free(data);
	free(trace);
}

Test(record, report_usage)
{
	char *memopt = memopt_path();
	const char *bad_opt[] = {memopt, "report", "--no-such-option", NULL};
	const char *bad_top[] = {memopt, "report", "--top", "many", NULL};
	const char *neg_top[] = {memopt, "report", "--top", "-1", NULL};
	const char *const *cases[] = {bad_opt, bad_top, neg_top};
	mo_run_result_t res;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(mo_run(cases[i], NULL, &res), 0);
		cr_expect_eq(mo_run_exit_code(res.status), 2,
			     "report %s: exit %d, expected 2", cases[i][2],
			     mo_run_exit_code(res.status));
		cr_expect_str_eq(res.out, "", "nothing on stdout");
		mo_run_result_free(&res);
	}
	free(memopt);
}

/* --- 11. valgrind comparison ------------------------------------------ */

typedef struct {
	int64_t allocs, frees, bytes;
	int64_t in_use_bytes, in_use_blocks;
} vg_heap_t;

/* Parses "N,NNN" at s into *v; returns the end or NULL. */
static const char *parse_count(const char *s, int64_t *v)
{
	*v = 0;
	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return NULL;
	for (; (*s >= '0' && *s <= '9') || *s == ','; s++)
		if (*s != ',')
			*v = *v * 10 + (*s - '0');
	return s;
}

static void parse_valgrind(const char *err, vg_heap_t *h)
{
	const char *s = strstr(err, "in use at exit:");
	cr_assert_not_null(s, "no heap summary from valgrind:\n%s", err);
	s = parse_count(s + 15, &h->in_use_bytes);
	cr_assert(s != NULL && strncmp(s, " bytes in", 9) == 0);
	s = parse_count(s + 9, &h->in_use_blocks);
	cr_assert_not_null(s);
	s = strstr(err, "total heap usage:");
	cr_assert_not_null(s, "no heap summary from valgrind:\n%s", err);
	s = parse_count(s + 17, &h->allocs);
	cr_assert(s != NULL && strncmp(s, " allocs,", 8) == 0);
	s = parse_count(s + 8, &h->frees);
	cr_assert(s != NULL && strncmp(s, " frees,", 7) == 0);
	s = parse_count(s + 7, &h->bytes);
	cr_assert_not_null(s);
}

/* Runs argv under valgrind; skips the test if there is no valgrind. */
static void run_valgrind(const char *const *argv, vg_heap_t *h)
{
	const char *args[16] = {"valgrind", "--run-libc-freeres=no",
				"--run-cxx-freeres=no"};
	mo_run_result_t res;
	int n = 3;

	for (; *argv != NULL; argv++)
		args[n++] = *argv;
	args[n] = NULL;
	cr_assert_eq(mo_run(args, NULL, &res), 0);
	if (mo_run_exit_code(res.status) == 127 &&
	    strstr(res.err, "total heap usage") == NULL) {
		mo_run_result_free(&res);
		cr_skip_test("valgrind is not installed");
	}
	cr_assert_eq(mo_run_exit_code(res.status), 0,
		     "program failed under valgrind:\n%s", res.err);
	parse_valgrind(res.err, h);
	mo_run_result_free(&res);
}

/* Records argv; returns its only process's report (json owns it). */
static const cJSON *record_for_valgrind(const char *const *argv, cJSON **json)
{
	mo_run_result_t res;
	char *trace = record_ok(argv, 0, &res);

	mo_run_result_free(&res);
	*json = report_ok(trace);
	free(trace);
	return only_process(*json);
}

static void expect_same_as_valgrind(const cJSON *proc, const vg_heap_t *h,
				    const char *who)
{
	expect_int(proc, "summary.allocations", h->allocs, who);
	expect_int(proc, "summary.frees", h->frees, who);
	expect_int(proc, "summary.bytes_allocated", h->bytes, who);
	expect_int(proc, "summary.leaked_bytes", h->in_use_bytes, who);
	expect_int(proc, "summary.leaked_blocks", h->in_use_blocks, who);
}

Test(record, valgrind_basic)
{
	char *prog = prog_path("tp_basic");
	const char *argv[] = {prog, "valgrind", NULL};
	summary_t want = tp_basic_summary(false);
	vg_heap_t h;
	cJSON *json;

	run_valgrind(argv, &h);
	cr_assert_eq(h.allocs, want.allocations,
		     "valgrind disagrees with "
		     "tp_basic.c's table");
	expect_same_as_valgrind(record_for_valgrind(argv, &json), &h,
				"tp_basic valgrind mode");
	cJSON_Delete(json);
	free(prog);
}

Test(record, valgrind_cxx)
{
	char *prog = prog_path("tp_cxx");
	const char *argv[] = {prog, NULL};
	vg_heap_t h;
	cJSON *json;

	run_valgrind(argv, &h);
	expect_same_as_valgrind(record_for_valgrind(argv, &json), &h, "tp_cxx");
	cJSON_Delete(json);
	free(prog);
}

/* The per-thread TLS vector glibc allocates in pthread_create() grows with
 * the number of loaded modules that have TLS, and the tracker is one more:
 * the thread blocks (the only ones live at exit) are compared by count,
 * every other byte exactly. */
Test(record, valgrind_threads)
{
	char *prog = prog_path("tp_threads");
	const char *argv[] = {prog, "2000", NULL};
	const cJSON *proc;
	vg_heap_t h;
	cJSON *json;

	run_valgrind(argv, &h);
	proc = record_for_valgrind(argv, &json);
	expect_int(proc, "summary.allocations", h.allocs, "tp_threads");
	expect_int(proc, "summary.frees", h.frees, "tp_threads");
	expect_int(proc, "summary.leaked_blocks", h.in_use_blocks,
		   "tp_threads");
	cr_expect_eq(mo_run_json_int(proc, "summary.bytes_allocated") -
			     mo_run_json_int(proc, "summary.leaked_bytes"),
		     h.bytes - h.in_use_bytes,
		     "tp_threads: bytes allocated and freed differ from "
		     "valgrind's %" PRId64,
		     h.bytes - h.in_use_bytes);
	cJSON_Delete(json);
	free(prog);
}
