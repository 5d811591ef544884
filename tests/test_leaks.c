/*
 * End-to-end tests of the leak classification (doc/leaks.md) and of the CI
 * gate: record the leak test programs of tests/programs (tl_*.c, each
 * documents its heap at its top) with `memopt record`, read
 * `memopt report --json`, and check every process's "leak_summary"
 * against fixed expectations, and against valgrind's memcheck when it is
 * installed; then run `memopt check` and `memopt report --check`.
 *
 * The fixed expectations are memcheck's LEAK SUMMARY for each program,
 * obtained with valgrind 3.19.0 on Debian 12 (glibc 2.36, gcc 12.2, the
 * programs at -O0) by
 *
 *   valgrind --leak-check=full --show-leak-kinds=all \
 *            --run-libc-freeres=no --run-cxx-freeres=no PROG ARGS
 *
 * and identical over repeated runs.  --run-libc-freeres=no and
 * --run-cxx-freeres=no, because memopt scans at exit, after atexit
 * handlers and destructors but before anything like glibc's
 * __libc_freeres() (which only valgrind and mtrace call, and which frees
 * glibc's internal blocks that a real run keeps until the end); with
 * "yes", memcheck would classify a heap that the program never has.
 * None of the programs uses stdio or C++, so the choice changes none of
 * their figures today, but it is the comparable one.
 *
 * The only block whose size depends on the environment is the one glibc
 * allocates in pthread_create() for the new thread's DTV (tl_roots): 16
 * bytes per loaded module with TLS, and memopt's tracker and its
 * libunwind are two more such modules.  tl_roots reports that size, and
 * the tests add it to the program's own figures.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_util.h"

static char *tmpdir;

static void setup(void)
{
	tmpdir = mo_run_mkdtemp("leaks");
	cr_assert_not_null(tmpdir, "cannot create a temporary directory");
}

static void teardown(void)
{
	mo_run_rmtree(tmpdir);
	free(tmpdir);
	tmpdir = NULL;
}

TestSuite(leaks, .init = setup, .fini = teardown, .timeout = 120);

/* --- figures ---------------------------------------------------------- */

enum { K_DEFINITE, K_INDIRECT, K_POSSIBLE, K_REACHABLE, K_SUPPRESSED, K_N };

static const char *const kind_json[K_N] = {"definitely_lost", "indirectly_lost",
					   "possibly_lost", "still_reachable",
					   "suppressed"};
static const char *const kind_valgrind[K_N] = {
	"definitely lost:", "indirectly lost:", "possibly lost:",
	"still reachable:", "suppressed:"};

/* Bytes and blocks per kind, in the order of the enum. */
typedef struct {
	int64_t bytes[K_N];
	int64_t blocks[K_N];
} leak_counts_t;

/* Expectations are written kind by kind: definite, indirect, possible,
 * reachable, suppressed, each as bytes then blocks. */
#define COUNTS(db, dn, ib, in, pb, pn, rb, rn, sb, sn) \
	((leak_counts_t){{db, ib, pb, rb, sb}, {dn, in, pn, rn, sn}})

static void expect_counts(const leak_counts_t *got, const leak_counts_t *want,
			  const char *who)
{
	for (int k = 0; k < K_N; k++) {
		cr_expect_eq(got->bytes[k], want->bytes[k],
			     "%s: %s is %" PRId64 " bytes, expected %" PRId64,
			     who, kind_json[k], got->bytes[k], want->bytes[k]);
		cr_expect_eq(got->blocks[k], want->blocks[k],
			     "%s: %s is %" PRId64 " blocks, expected %" PRId64,
			     who, kind_json[k], got->blocks[k],
			     want->blocks[k]);
	}
}

/* The "leak_summary" of a process of the JSON report. */
static leak_counts_t json_counts(const cJSON *proc)
{
	const cJSON *sum = mo_run_json_get(proc, "leak_summary");
	leak_counts_t c;
	char path[64];

	cr_assert(cJSON_IsObject(sum),
		  "no \"leak_summary\" object in the process (no scan?)");
	for (int k = 0; k < K_N; k++) {
		snprintf(path, sizeof(path), "%s.bytes", kind_json[k]);
		c.bytes[k] = mo_run_json_int(sum, path);
		snprintf(path, sizeof(path), "%s.blocks", kind_json[k]);
		c.blocks[k] = mo_run_json_int(sum, path);
		cr_assert(
			c.bytes[k] != INT64_MIN && c.blocks[k] != INT64_MIN,
			"leak_summary.%s is not {\"bytes\": N, \"blocks\": N}",
			kind_json[k]);
	}
	return c;
}

/* --- running memopt --------------------------------------------------- */

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

/* Runs `memopt CMD [opts...] [-- argv...]` in tmpdir (opts and argv
 * NULL-terminated, argv may be NULL).  Returns the shell exit code;
 * fills *res. */
static int run_memopt(const char *cmd, const char *const *opts,
		      const char *const *argv, mo_run_result_t *res)
{
	const char *args[64];
	char *memopt = memopt_path();
	mo_run_opts_t ropts = {.cwd = tmpdir};
	int n = 0, rc;

	args[n++] = memopt;
	args[n++] = cmd;
	for (; opts != NULL && *opts != NULL && n < 40; opts++)
		args[n++] = *opts;
	if (argv != NULL) {
		args[n++] = "--";
		for (; *argv != NULL && n < 63; argv++)
			args[n++] = *argv;
	}
	args[n] = NULL;
	rc = mo_run(args, &ropts, res);
	free(memopt);
	cr_assert_eq(rc, 0, "cannot run memopt: %s", strerror(-rc));
	cr_assert(!res->timed_out, "memopt %s timed out; stderr:\n%s", cmd,
		  res->err);
	return mo_run_exit_code(res->status);
}

/* Records argv quietly into tmpdir/name, asserting that memopt exits with
 * the program's status want_code.  Returns the malloc'd trace path. */
static char *record_ok(const char *name, const char *const *argv, int want_code)
{
	char *trace = tmp_file(name);
	const char *opts[] = {"-q", "-o", trace, NULL};
	mo_run_result_t res;
	int code = run_memopt("record", opts, argv, &res);

	cr_assert_eq(code, want_code,
		     "memopt record exited %d, expected %d; stderr:\n%s", code,
		     want_code, res.err);
	cr_expect_str_eq(res.out, "", "the program prints nothing");
	mo_run_result_free(&res);
	cr_assert_gt(mo_run_file_size(trace), 0, "no trace written");
	return trace;
}

/* `memopt report --json -i trace`, parsed; the caller deletes it. */
static cJSON *report_json(const char *trace)
{
	/* memcheck's classification as such: no built-in suppressions */
	const char *opts[] = {"--json", "--no-default-suppressions", "-i",
			      trace, NULL};
	mo_run_result_t res;
	int code = run_memopt("report", opts, NULL, &res);
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

static const cJSON *only_process(const cJSON *json)
{
	cr_assert_eq(mo_run_process_count(json), 1,
		     "expected exactly one process, got %d",
		     mo_run_process_count(json));
	return cJSON_GetArrayItem(mo_run_json_get(json, "processes"), 0);
}

/* Records argv and returns its only process's leak summary; checks on
 * the way that the five kinds add up to the blocks live at exit (every
 * live block classified) and that the loss records come largest first.
 * If json is not NULL, hands the report over (caller deletes). */
static leak_counts_t memopt_counts(const char *const *argv, cJSON **json)
{
	char *trace = record_ok("leaks.memopt", argv, 0);
	cJSON *report = report_json(trace);
	const cJSON *proc = only_process(report);
	leak_counts_t c = json_counts(proc);
	const cJSON *rec;
	int64_t bytes = 0, blocks = 0, prev = INT64_MAX;

	for (int k = 0; k < K_N; k++) {
		bytes += c.bytes[k];
		blocks += c.blocks[k];
	}
	cr_expect_eq(bytes, mo_run_json_int(proc, "summary.leaked_bytes"),
		     "the kinds add up to %" PRId64
		     " bytes, not to the bytes live at exit",
		     bytes);
	cr_expect_eq(blocks, mo_run_json_int(proc, "summary.leaked_blocks"),
		     "the kinds add up to %" PRId64
		     " blocks, not to the blocks live at exit",
		     blocks);
	cJSON_ArrayForEach(rec, mo_run_json_get(proc, "leaks"))
	{
		int64_t b = mo_run_json_int(rec, "bytes");
		cr_expect_leq(b, prev, "loss records not largest first");
		prev = b;
	}
	free(trace);
	if (json != NULL)
		*json = report;
	else
		cJSON_Delete(report);
	return c;
}

/* --- running valgrind ------------------------------------------------- */

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

/* Memcheck's LEAK SUMMARY from its log; all zero if it says that every
 * block was freed. */
static leak_counts_t parse_leak_summary(const char *log)
{
	const char *sum = strstr(log, "LEAK SUMMARY:");
	leak_counts_t c;

	memset(&c, 0, sizeof(c));
	if (sum == NULL) {
		cr_assert_not_null(strstr(log, "All heap blocks were freed"),
				   "no LEAK SUMMARY from valgrind:\n%s", log);
		return c;
	}
	for (int k = 0; k < K_N; k++) {
		const char *s = strstr(sum, kind_valgrind[k]);
		cr_assert_not_null(s, "no \"%s\" in valgrind's summary:\n%s",
				   kind_valgrind[k], sum);
		s = parse_count(s + strlen(kind_valgrind[k]), &c.bytes[k]);
		cr_assert(s != NULL && strncmp(s, " bytes in ", 10) == 0,
			  "cannot parse valgrind's \"%s\"", kind_valgrind[k]);
		s = parse_count(s + 10, &c.blocks[k]);
		cr_assert_not_null(s, "cannot parse valgrind's \"%s\"",
				   kind_valgrind[k]);
	}
	return c;
}

/* Runs argv under memcheck with the options of the header comment and
 * returns its LEAK SUMMARY; skips the test if valgrind is not
 * installed. */
static leak_counts_t valgrind_counts(const char *const *argv)
{
	char *log = tmp_file("valgrind.log");
	char *log_opt = NULL;
	const char *args[32];
	mo_run_result_t res;
	leak_counts_t c;
	char *text;
	int n = 0;

	cr_assert(asprintf(&log_opt, "--log-file=%s", log) > 0);
	args[n++] = "valgrind";
	args[n++] = "--leak-check=full";
	args[n++] = "--show-leak-kinds=all";
	args[n++] = "--run-libc-freeres=no";
	args[n++] = "--run-cxx-freeres=no";
	args[n++] = log_opt;
	for (; *argv != NULL && n < 31; argv++)
		args[n++] = *argv;
	args[n] = NULL;
	unlink(log);
	cr_assert_eq(mo_run(args, NULL, &res), 0);
	if (mo_run_exit_code(res.status) == 127 && access(log, F_OK) != 0) {
		mo_run_result_free(&res);
		free(log_opt);
		free(log);
		cr_skip_test("valgrind is not installed");
	}
	cr_assert_eq(mo_run_exit_code(res.status), 0,
		     "program failed under valgrind:\n%s", res.err);
	mo_run_result_free(&res);
	text = mo_run_read_file(log, NULL);
	cr_assert_not_null(text, "valgrind wrote no log");
	c = parse_leak_summary(text);
	free(text);
	free(log_opt);
	free(log);
	return c;
}

/* --- 1. classification: fixed expectations and memcheck -------------- */

/* tl_graph: trees, cycles, interior pointers, .data and .bss roots,
 * zero-size blocks, calloc, realloc, strdup, memalign, posix_memalign,
 * aligned_alloc, two of memcheck's heuristics.  Memcheck's figures
 * (HEAP SUMMARY: 3,335 bytes in 48 blocks in use at exit, 51 allocs, 3
 * frees, 3,703 bytes allocated):
 *   definitely lost: 1,035 bytes in 12 blocks
 *   indirectly lost: 736 bytes in 12 blocks
 *     possibly lost: 400 bytes in 5 blocks
 *   still reachable: 1,164 bytes in 19 blocks
 *                      of which reachable via heuristic:
 *                        stdstring          : 64 bytes in 1 blocks
 *                        length64           : 96 bytes in 1 blocks
 *        suppressed: 0 bytes in 0 blocks */
static const leak_counts_t graph_want =
	COUNTS(1035, 12, 736, 12, 400, 5, 1164, 19, 0, 0);

/* Bytes and blocks of the loss records of proc whose stack names fn. */
static void expect_record(const cJSON *proc, const char *fn, int64_t bytes,
			  int64_t blocks)
{
	mo_run_site_sum_t sum;

	mo_run_sum_sites(mo_run_json_get(proc, "leaks"), fn, -1, &sum);
	cr_expect_eq(sum.bytes, bytes,
		     "loss records of %s: %" PRId64 " bytes, expected %" PRId64,
		     fn, sum.bytes, bytes);
	cr_expect_eq(sum.blocks, blocks,
		     "loss records of %s: %" PRId64
		     " blocks, expected %" PRId64,
		     fn, sum.blocks, blocks);
}

Test(leaks, graph)
{
	char *prog = prog_path("tl_graph");
	const char *argv[] = {prog, NULL};
	cJSON *json;
	leak_counts_t got = memopt_counts(argv, &json);
	const cJSON *proc = only_process(json);

	expect_counts(&got, &graph_want, "tl_graph");
	cr_expect_eq(mo_run_json_int(proc, "summary.leaked_bytes"), 3335);
	cr_expect_eq(mo_run_json_int(proc, "summary.leaked_blocks"), 48);
	/* A few loss records of lost blocks whose function allocates
	 * exactly one block. */
	expect_record(proc, "lost_posix_memalign", 192, 1);
	expect_record(proc, "lost_calloc", 125, 1);
	expect_record(proc, "lost_strdup", 14, 1);
	expect_record(proc, "lost_memalign", 64, 1);
	expect_record(proc, "lost_zero", 0, 1);
	expect_record(proc, "possible_memalign", 160, 1);
	cJSON_Delete(json);
	free(prog);
}

Test(leaks, graph_valgrind)
{
	char *prog = prog_path("tl_graph");
	const char *argv[] = {prog, NULL};
	leak_counts_t vg = valgrind_counts(argv);
	leak_counts_t got;

	expect_counts(&vg, &graph_want, "tl_graph under valgrind");
	got = memopt_counts(argv, NULL);
	expect_counts(&got, &vg, "tl_graph, memopt vs valgrind");
	free(prog);
}

/* tl_roots: roots in static TLS (.tbss and .tdata) of the main thread and
 * of a worker thread, and on the stack of the worker, blocked in read()
 * while main exits.  Memcheck's figures with a 288-byte DTV block (HEAP
 * SUMMARY: 880 bytes in 11 blocks in use at exit, 11 allocs, 0 frees):
 *   definitely lost: 64 bytes in 1 blocks
 *   indirectly lost: 32 bytes in 1 blocks
 *     possibly lost: 384 bytes in 2 blocks   (96 + the DTV's 288)
 *   still reachable: 400 bytes in 7 blocks
 *        suppressed: 0 bytes in 0 blocks */
static leak_counts_t roots_want(int64_t dtv_bytes)
{
	return COUNTS(64, 1, 32, 1, 96 + dtv_bytes, 2, 400, 7, 0, 0);
}

/* The DTV size tl_roots wrote to info. */
static int64_t read_dtv_bytes(const char *info)
{
	char *text = mo_run_read_file(info, NULL);
	long long v = -1;

	cr_assert_not_null(text, "tl_roots wrote no %s", info);
	cr_assert_eq(sscanf(text, "dtv_bytes %lld", &v), 1, "bad info file: %s",
		     text);
	free(text);
	cr_assert(v >= 17 * 16 && v % 16 == 0, "odd DTV size %lld", v);
	return v;
}

Test(leaks, roots)
{
	char *prog = prog_path("tl_roots");
	char *info = tmp_file("roots.info");
	const char *argv[] = {prog, info, NULL};
	leak_counts_t got = memopt_counts(argv, NULL);
	leak_counts_t want = roots_want(read_dtv_bytes(info));

	expect_counts(&got, &want, "tl_roots");
	free(info);
	free(prog);
}

Test(leaks, roots_valgrind)
{
	char *prog = prog_path("tl_roots");
	char *info = tmp_file("roots.info");
	const char *argv[] = {prog, info, NULL};
	leak_counts_t vg = valgrind_counts(argv);
	int64_t vg_dtv = read_dtv_bytes(info);
	leak_counts_t want = roots_want(vg_dtv), got;
	int64_t mo_dtv;

	expect_counts(&vg, &want, "tl_roots under valgrind");
	got = memopt_counts(argv, NULL);
	mo_dtv = read_dtv_bytes(info);
	/* Same figures once each side's DTV block is taken out. */
	got.bytes[K_POSSIBLE] -= mo_dtv;
	vg.bytes[K_POSSIBLE] -= vg_dtv;
	expect_counts(&got, &vg,
		      "tl_roots, memopt vs valgrind (DTV block aside)");
	free(info);
	free(prog);
}

/* tl_arena: lost blocks that glibc's main_arena (bins, top) points into.
 * Memcheck (HEAP SUMMARY: 96 bytes in 3 blocks in use at exit, 4 allocs,
 * 1 frees, 2,096 bytes allocated):
 *   definitely lost: 80 bytes in 2 blocks
 *   indirectly lost: 0 bytes in 0 blocks
 *     possibly lost: 0 bytes in 0 blocks
 *   still reachable: 16 bytes in 1 blocks
 *        suppressed: 0 bytes in 0 blocks */
static const leak_counts_t arena_want = COUNTS(80, 2, 0, 0, 0, 0, 16, 1, 0, 0);

Test(leaks, allocator_state_is_no_root)
{
	char *prog = prog_path("tl_arena");
	const char *argv[] = {prog, NULL};
	leak_counts_t got = memopt_counts(argv, NULL);

	expect_counts(&got, &arena_want, "tl_arena");
	free(prog);
}

Test(leaks, allocator_state_valgrind)
{
	char *prog = prog_path("tl_arena");
	const char *argv[] = {prog, NULL};
	leak_counts_t vg = valgrind_counts(argv);
	leak_counts_t got;

	expect_counts(&vg, &arena_want, "tl_arena under valgrind");
	got = memopt_counts(argv, NULL);
	expect_counts(&got, &vg, "tl_arena, memopt vs valgrind");
	free(prog);
}

/* tl_gate's modes, memcheck's figures: definite 1,000 bytes in 1 block
 * definitely lost; possible 2,000 bytes in 1 block possibly lost; clean
 * and peak: all heap blocks freed. */
Test(leaks, gate_programs)
{
	char *prog = prog_path("tl_gate");
	const char *definite[] = {prog, "definite", NULL};
	const char *possible[] = {prog, "possible", NULL};
	const char *peak[] = {prog, "peak", NULL};
	leak_counts_t got;

	got = memopt_counts(definite, NULL);
	expect_counts(&got, &COUNTS(1000, 1, 0, 0, 0, 0, 0, 0, 0, 0),
		      "tl_gate definite");
	got = memopt_counts(possible, NULL);
	expect_counts(&got, &COUNTS(0, 0, 0, 0, 2000, 1, 0, 0, 0, 0),
		      "tl_gate possible");
	got = memopt_counts(peak, NULL);
	expect_counts(&got, &COUNTS(0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		      "tl_gate peak");
	free(prog);
}

/* --- 2. the gate: memopt check ---------------------------------------- */

/* Runs `memopt check [opts...] -- tl_gate MODE STATUS PIDFILE`.  Returns
 * memopt's exit code; fills *res and *pid (the leaking process's pid,
 * as tl_gate wrote it). */
static int check_gate(const char *const *opts, const char *mode,
		      const char *status, mo_run_result_t *res, long *pid)
{
	char *prog = prog_path("tl_gate");
	char *pid_file = tmp_file("gate.pid");
	const char *argv[] = {prog, mode, status, pid_file, NULL};
	int code;
	char *text;

	unlink(pid_file);
	code = run_memopt("check", opts, argv, res);
	cr_expect_str_eq(res->out, "", "tl_gate prints nothing");
	text = mo_run_read_file(pid_file, NULL);
	cr_assert_not_null(text, "tl_gate did not run; stderr:\n%s", res->err);
	*pid = strtol(text, NULL, 10);
	free(text);
	free(pid_file);
	free(prog);
	return code;
}

/* A failing gate's report on stderr names the failing process's pid and
 * command and its biggest loss record's stack. */
static void expect_failure_report(const mo_run_result_t *res, long pid,
				  const char *fn)
{
	char pid_str[32];

	snprintf(pid_str, sizeof(pid_str), "%ld", pid);
	cr_expect_not_null(strstr(res->err, pid_str),
			   "the report does not name pid %s:\n%s", pid_str,
			   res->err);
	cr_expect_not_null(strstr(res->err, "tl_gate"),
			   "the report does not name the command:\n%s",
			   res->err);
	cr_expect_not_null(strstr(res->err, fn),
			   "the report does not show %s:\n%s", fn, res->err);
}

/* A passing gate prints one line on stderr. */
static void expect_pass(int code, int want, const mo_run_result_t *res,
			const char *what)
{
	cr_expect_eq(code, want, "%s: exit %d, expected %d; stderr:\n%s", what,
		     code, want, res->err);
	cr_expect_eq(mo_run_count_lines(res->err), 1,
		     "%s: a passing gate prints one line, got:\n%s", what,
		     res->err);
}

Test(leaks, check_definite_fails)
{
	mo_run_result_t res;
	long pid;
	int code = check_gate(NULL, "definite", "0", &res, &pid);

	cr_expect_eq(code, 23, "exit %d, expected the default 23; stderr:\n%s",
		     code, res.err);
	expect_failure_report(&res, pid, "leak_definite");
	mo_run_result_free(&res);
}

Test(leaks, check_error_exitcode)
{
	static const char *const opts[] = {"--error-exitcode", "7", NULL};
	mo_run_result_t res;
	long pid;
	int code = check_gate(opts, "definite", "0", &res, &pid);

	cr_expect_eq(code, 7, "exit %d, expected 7; stderr:\n%s", code,
		     res.err);
	expect_failure_report(&res, pid, "leak_definite");
	mo_run_result_free(&res);
}

Test(leaks, check_clean_passes_with_program_status)
{
	mo_run_result_t res;
	long pid;
	int code = check_gate(NULL, "clean", "0", &res, &pid);

	expect_pass(code, 0, &res, "clean, status 0");
	mo_run_result_free(&res);
	code = check_gate(NULL, "clean", "3", &res, &pid);
	expect_pass(code, 3, &res, "clean, status 3");
	mo_run_result_free(&res);
}

/* The gate fails by default on a leak with status 3 too: the gate's code
 * wins over the program's. */
Test(leaks, check_leak_beats_status)
{
	mo_run_result_t res;
	long pid;
	int code = check_gate(NULL, "definite", "3", &res, &pid);

	cr_expect_eq(code, 23, "exit %d, expected 23; stderr:\n%s", code,
		     res.err);
	mo_run_result_free(&res);
}

Test(leaks, check_leak_kinds)
{
	static const char *const only_definite[] = {"--leak-kinds", "definite",
						    NULL};
	static const char *const only_possible[] = {"--leak-kinds", "possible",
						    NULL};
	mo_run_result_t res;
	long pid;
	int code;

	/* Default definite,possible: a possibly lost block fails. */
	code = check_gate(NULL, "possible", "0", &res, &pid);
	cr_expect_eq(code, 23, "possible, default kinds: exit %d; stderr:\n%s",
		     code, res.err);
	expect_failure_report(&res, pid, "leak_possible");
	mo_run_result_free(&res);

	code = check_gate(only_definite, "possible", "0", &res, &pid);
	expect_pass(code, 0, &res, "possible, --leak-kinds definite");
	mo_run_result_free(&res);

	code = check_gate(only_definite, "definite", "0", &res, &pid);
	cr_expect_eq(code, 23,
		     "definite, --leak-kinds definite: exit %d; stderr:\n%s",
		     code, res.err);
	mo_run_result_free(&res);

	code = check_gate(only_possible, "definite", "0", &res, &pid);
	expect_pass(code, 0, &res, "definite, --leak-kinds possible");
	mo_run_result_free(&res);

	code = check_gate(only_possible, "possible", "0", &res, &pid);
	cr_expect_eq(code, 23,
		     "possible, --leak-kinds possible: exit %d; stderr:\n%s",
		     code, res.err);
	mo_run_result_free(&res);
}

/* --max-leak is the most leaked bytes that still pass (default 0). */
Test(leaks, check_max_leak)
{
	static const char *const above[] = {"--max-leak", "2000", NULL};
	static const char *const equal[] = {"--max-leak", "1000", NULL};
	static const char *const below[] = {"--max-leak", "999", NULL};
	mo_run_result_t res;
	long pid;
	int code;

	code = check_gate(above, "definite", "0", &res, &pid);
	expect_pass(code, 0, &res, "--max-leak 2000, 1000 leaked");
	mo_run_result_free(&res);
	code = check_gate(equal, "definite", "0", &res, &pid);
	expect_pass(code, 0, &res, "--max-leak 1000, 1000 leaked");
	mo_run_result_free(&res);
	code = check_gate(below, "definite", "0", &res, &pid);
	cr_expect_eq(code, 23,
		     "--max-leak 999, 1000 leaked: exit %d; "
		     "stderr:\n%s",
		     code, res.err);
	expect_failure_report(&res, pid, "leak_definite");
	mo_run_result_free(&res);
}

/* tl_gate peak's heap peaks at 1048576 bytes and leaks nothing. */
Test(leaks, check_max_peak)
{
	static const char *const below[] = {"--max-peak", "1000000", NULL};
	static const char *const above[] = {"--max-peak", "2000000", NULL};
	mo_run_result_t res;
	long pid;
	int code;

	code = check_gate(below, "peak", "0", &res, &pid);
	cr_expect_eq(code, 23, "--max-peak 1000000: exit %d; stderr:\n%s", code,
		     res.err);
	cr_expect_not_null(strstr(res.err, "tl_gate"),
			   "the report does not name the command:\n%s",
			   res.err);
	mo_run_result_free(&res);
	code = check_gate(above, "peak", "0", &res, &pid);
	expect_pass(code, 0, &res, "--max-peak 2000000");
	mo_run_result_free(&res);
}

/* Every process of the recording is checked: the leaking one here is a
 * forked child, the parent is clean. */
Test(leaks, check_forked_child)
{
	mo_run_result_t res;
	long pid;
	int code = check_gate(NULL, "fork", "0", &res, &pid);

	cr_expect_eq(code, 23, "exit %d, expected 23; stderr:\n%s", code,
		     res.err);
	expect_failure_report(&res, pid, "leak_definite");
	mo_run_result_free(&res);
}

Test(leaks, check_suppressions)
{
	static const char supp[] = "# tl_gate's leak\nleak:leak_definite\n";
	char *file = tmp_file("gate.supp");
	const char *opts[] = {"--suppressions", file, NULL};
	mo_run_result_t res;
	long pid;
	int code;

	cr_assert_eq(mo_run_write_file(file, supp, sizeof(supp) - 1), 0);
	code = check_gate(opts, "definite", "0", &res, &pid);
	expect_pass(code, 0, &res, "definite, suppressed");
	mo_run_result_free(&res);
	free(file);
}

/* --- 3. the gate on a saved trace: memopt report --check -------------- */

static int report_check(const char *trace, const char *const *extra,
			mo_run_result_t *res)
{
	const char *opts[16];
	int n = 0;

	opts[n++] = "--check";
	for (; extra != NULL && *extra != NULL && n < 12; extra++)
		opts[n++] = *extra;
	opts[n++] = "-i";
	opts[n++] = trace;
	opts[n] = NULL;
	return run_memopt("report", opts, NULL, res);
}

Test(leaks, report_check)
{
	static const char *const exitcode[] = {"--error-exitcode", "9", NULL};
	static const char *const only_possible[] = {"--leak-kinds", "possible",
						    NULL};
	char *prog = prog_path("tl_gate");
	char *pid_file = tmp_file("gate.pid");
	const char *leaky[] = {prog, "definite", "0", pid_file, NULL};
	const char *clean[] = {prog, "clean", "3", NULL};
	char *leaky_trace = record_ok("leaky.memopt", leaky, 0);
	char *clean_trace = record_ok("clean.memopt", clean, 3);
	char *text = mo_run_read_file(pid_file, NULL);
	mo_run_result_t res;
	long pid;
	int code;

	cr_assert_not_null(text);
	pid = strtol(text, NULL, 10);
	free(text);

	code = report_check(leaky_trace, NULL, &res);
	cr_expect_eq(code, 23, "report --check: exit %d; stderr:\n%s", code,
		     res.err);
	expect_failure_report(&res, pid, "leak_definite");
	mo_run_result_free(&res);

	code = report_check(leaky_trace, exitcode, &res);
	cr_expect_eq(code, 9, "report --check --error-exitcode 9: exit %d",
		     code);
	mo_run_result_free(&res);

	code = report_check(leaky_trace, only_possible, &res);
	expect_pass(code, 0, &res, "report --check --leak-kinds possible");
	mo_run_result_free(&res);

	/* Passing: the recorded program's own status. */
	code = report_check(clean_trace, NULL, &res);
	expect_pass(code, 3, &res, "report --check, clean, status 3");
	mo_run_result_free(&res);

	free(clean_trace);
	free(leaky_trace);
	free(pid_file);
	free(prog);
}
