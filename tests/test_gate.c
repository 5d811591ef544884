/*
 * Tests of the CI gate (src/gate.c) and of the commands around it
 * (memopt report --check, memopt check), on synthetic traces written with
 * the trace writer and column frames.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"
#include "colframe.h"
#include "gate.h"
#include "run_util.h"
#include "suppress.h"
#include "symbolize.h"
#include "trace_reader.h"
#include "trace_writer.h"

static char *dir, *t_leak, *t_nodata, *supp_file, *memopt;

/* --- synthetic traces ---------------------------------------------------- */

static void put_row(mo_cf_t *f, const mo_event_t *ev)
{
	cr_assert_eq(mo_cf_row(f, ev), 0, "row of type %d", ev->type);
}

static void put_start(mo_cf_t *f, uint32_t pid, uint64_t flags, const char *arg)
{
	mo_event_t ev = {.type = MO_REC_PROC_START};
	mo_str_t argv[2] = {{"./app", 5}, {arg, strlen(arg)}};

	ev.u.start.pid = pid;
	ev.u.start.ppid = 1;
	ev.u.start.flags = flags;
	ev.u.start.exe = (mo_str_t){"/nowhere/app", 12};
	ev.u.start.argc = 2;
	ev.u.start.argv = argv;
	put_row(f, &ev);
}

static void put_exit(mo_cf_t *f, uint32_t kind, uint64_t value)
{
	mo_event_t ev = {.type = MO_REC_EXIT};

	ev.u.exit.kind = kind;
	ev.u.exit.value = value;
	put_row(f, &ev);
	ev = (mo_event_t){.type = MO_REC_END};
	put_row(f, &ev);
}

static void put_frame(mo_tw_t *w, uint32_t stream, mo_cf_t *f)
{
	uint8_t *buf = malloc(mo_cf_len(f) + 1);
	size_t len;

	cr_assert_not_null(buf);
	len = mo_cf_finish(f, buf);
	cr_assert_eq(mo_tw_columns(w, stream, buf, len), 0);
	free(buf);
	mo_cf_free(f);
}

/*
 * Process 1001 (./app one), exit 0: stack 1 in /nowhere/libleaky.so,
 * stack 2 in no module.  Blocks: 1 (100 B, stack 1) definitely lost,
 * 2 (200 B, stack 1) indirectly lost, 3 (3000 B, stack 2) still
 * reachable, 4 (50 B) freed.  Peak heap 3,350 B.
 * Process 1002 (./app two): replaced by exec, no scan.
 * Process 1003 (./app three): forked, exit 0, no scan.
 */
static void write_leak_trace(const char *path)
{
	mo_tw_t *w;
	mo_cf_t f;
	mo_event_t ev;
	mo_module_rec_t mod = {
		0x400000, 0x500000, 0, {"/nowhere/libleaky.so", 20}, {NULL, 0}};
	uint64_t ip1 = 0x401000, ip2 = 0x7f0000002000;
	uint8_t payload[16], *q = payload;

	cr_assert_eq(mo_tw_open(&w, path), 0);
	mo_cf_init(&f);
	put_start(&f, 1001, 0, "one");
	ev = (mo_event_t){.type = MO_REC_MODMAP};
	ev.u.modmap.n = 1;
	ev.u.modmap.mods = &mod;
	put_row(&f, &ev);
	ev = (mo_event_t){.type = MO_REC_STACK};
	ev.u.stack.id = 1;
	ev.u.stack.n = 1;
	ev.u.stack.ips = &ip1;
	put_row(&f, &ev);
	ev.u.stack.id = 2;
	ev.u.stack.ips = &ip2;
	put_row(&f, &ev);
	cr_assert_eq(mo_cf_alloc(&f, MO_FN_MALLOC, 100, 1), 0);
	cr_assert_eq(mo_cf_alloc(&f, MO_FN_MALLOC, 200, 1), 0);
	cr_assert_eq(mo_cf_alloc(&f, MO_FN_MALLOC, 3000, 2), 0);
	cr_assert_eq(mo_cf_alloc(&f, MO_FN_CALLOC, 50, 2), 0);
	cr_assert_eq(mo_cf_ref(&f, MO_REC_BFREE, 4), 0);
	q = mo_put_uv(q, 1);		    /* flags: at exit */
	q = mo_put_uv(q, 1);		    /* threads */
	q = mo_put_uv(q, 3);		    /* scanned */
	q = mo_put_uv(q, 2);		    /* listed */
	q = mo_put_uv(q, 1);		    /* block 1 */
	q = mo_put_uv(q, MO_LEAK_DEFINITE); /* */
	q = mo_put_uv(q, 1);		    /* block 2 */
	q = mo_put_uv(q, MO_LEAK_INDIRECT);
	ev = (mo_event_t){.type = MO_REC_LEAKS};
	ev.u.ext.len = (uint32_t)(q - payload);
	ev.u.ext.data = payload;
	put_row(&f, &ev);
	put_exit(&f, MO_EXIT_CODE, 0);
	put_frame(w, 1, &f);

	mo_cf_init(&f);
	put_start(&f, 1002, 0, "two");
	put_exit(&f, MO_EXIT_EXEC, 0);
	put_frame(w, 2, &f);

	mo_cf_init(&f);
	put_start(&f, 1003, MO_PROC_FORKED, "three");
	put_exit(&f, MO_EXIT_CODE, 0);
	put_frame(w, 3, &f);
	cr_assert_eq(mo_tw_close(w), 0);
}

/* Process 2001 (./app solo), exit 3, one live block, no scan. */
static void write_nodata_trace(const char *path)
{
	mo_tw_t *w;
	mo_cf_t f;

	cr_assert_eq(mo_tw_open(&w, path), 0);
	mo_cf_init(&f);
	put_start(&f, 2001, 0, "solo");
	cr_assert_eq(mo_cf_alloc(&f, MO_FN_MALLOC, 64, 0), 0);
	put_exit(&f, MO_EXIT_CODE, 3);
	put_frame(w, 1, &f);
	cr_assert_eq(mo_tw_close(w), 0);
}

static void setup(void)
{
	static const char supp[] = "# noisy library\nleak:libleaky.so\n";

	dir = mo_run_mkdtemp("gate");
	cr_assert_not_null(dir);
	t_leak = mo_run_join(dir, "leak.trace");
	t_nodata = mo_run_join(dir, "nodata.trace");
	supp_file = mo_run_join(dir, "leaky.supp");
	memopt = mo_run_build_path("cli/memopt");
	write_leak_trace(t_leak);
	write_nodata_trace(t_nodata);
	cr_assert_eq(mo_run_write_file(supp_file, supp, sizeof(supp) - 1), 0);
}

static void teardown(void)
{
	mo_run_rmtree(dir);
	free(dir);
	free(t_leak);
	free(t_nodata);
	free(supp_file);
	free(memopt);
}

TestSuite(gate, .init = setup, .fini = teardown);

/* --- the gate in process -------------------------------------------------- */

/* Runs the gate on a trace; returns its result and the output in *out. */
static int gate_on(const char *path, const mo_gate_t *g, const char *supp,
		   char **out)
{
	mo_tr_t *r;
	mo_sym_t *sym = mo_sym_new();
	mo_an_t *an = mo_an_new(sym);
	mo_supp_t *s = mo_supp_new();
	mo_event_t ev;
	size_t len;
	FILE *f = open_memstream(out, &len);
	int ret;

	cr_assert(sym && an && s && f);
	if (supp)
		cr_assert_eq(mo_supp_parse(s, supp, strlen(supp), "t", NULL, 0),
			     0);
	cr_assert_eq(mo_tr_open(&r, path), 0);
	while ((ret = mo_tr_next(r, &ev)) == 1)
		cr_assert_eq(mo_an_feed(an, &ev), 0);
	cr_assert_eq(ret, 0);
	mo_an_finish(an);
	ret = mo_gate_check(g, an, sym, s, f);
	fclose(f);
	mo_tr_close(r);
	mo_supp_free(s);
	mo_an_free(an);
	mo_sym_free(sym);
	return ret;
}

Test(gate, failing_leak_output)
{
	mo_gate_t g;
	char *out;

	mo_gate_init(&g);
	cr_assert_eq(gate_on(t_leak, &g, NULL, &out), 1);
	cr_assert_str_eq(out,
			 "memopt: check FAILED: 1 of 3 processes\n"
			 "\n"
			 "== process 1001: ./app one\n"
			 "   leaks (definite,possible): 100 bytes in 1 block, "
			 "limit --max-leak 0 (no leaked block allowed)\n"
			 "   biggest loss records:\n"
			 "  100 B in 1 block definitely lost\n"
			 "      ??  0x401000  (libleaky.so)\n");
	free(out);
}

Test(gate, passing_is_one_line)
{
	mo_gate_t g;
	char *out;

	mo_gate_init(&g);
	g.max_leak = 100;
	cr_assert_eq(gate_on(t_leak, &g, NULL, &out), 0);
	cr_assert_str_eq(out, "memopt: check passed: 3 processes, 1 with leak "
			      "data, 100 bytes leaked (definite,possible), "
			      "peak heap 3,350 bytes\n");
	free(out);

	mo_gate_init(&g); /* suppressed: nothing leaked */
	cr_assert_eq(gate_on(t_leak, &g, "leak:libleaky", &out), 0);
	cr_assert_str_eq(out, "memopt: check passed: 3 processes, 1 with leak "
			      "data, 0 bytes leaked (definite,possible), "
			      "peak heap 3,350 bytes\n");
	free(out);
}

Test(gate, kinds_limits_and_peak)
{
	mo_gate_t g;
	char *out;

	mo_gate_init(&g);
	g.kinds = MO_LEAK_BIT(MO_LEAK_INDIRECT) | MO_LEAK_BIT(MO_LEAK_DEFINITE);
	g.max_leak = 299; /* 300 leaked */
	g.top = 1;
	cr_assert_eq(gate_on(t_leak, &g, NULL, &out), 1);
	cr_assert_str_eq(out,
			 "memopt: check FAILED: 1 of 3 processes\n"
			 "\n"
			 "== process 1001: ./app one\n"
			 "   leaks (definite,indirect): 300 bytes in 2 blocks, "
			 "limit --max-leak 299 bytes\n"
			 "   biggest loss records:\n"
			 "  200 B in 1 block indirectly lost\n"
			 "      ??  0x401000  (libleaky.so)\n");
	free(out);

	mo_gate_init(&g);
	g.kinds = 0;
	g.has_max_peak = 1;
	g.max_peak = 3349;
	cr_assert_eq(gate_on(t_leak, &g, NULL, &out), 1);
	cr_assert_str_eq(out, "memopt: check FAILED: 1 of 3 processes\n"
			      "\n"
			      "== process 1001: ./app one\n"
			      "   peak heap: 3,350 bytes, limit --max-peak "
			      "3,349 bytes\n");
	free(out);
	g.max_peak = 3350;
	cr_assert_eq(gate_on(t_leak, &g, NULL, &out), 0);
	free(out);

	mo_gate_init(&g); /* reachable only: 3000 B */
	g.kinds = MO_LEAK_BIT(MO_LEAK_REACHABLE);
	g.max_leak = 3000;
	cr_assert_eq(gate_on(t_leak, &g, NULL, &out), 0);
	free(out);
	g.max_leak = 2999;
	cr_assert_eq(gate_on(t_leak, &g, NULL, &out), 1);
	free(out);
}

Test(gate, no_leak_data)
{
	mo_gate_t g;
	char *out;

	mo_gate_init(&g);
	cr_assert_eq(gate_on(t_nodata, &g, NULL, &out), 1);
	cr_assert_str_eq(out, "memopt: check FAILED: 1 of 1 process\n"
			      "\n"
			      "== process 2001: ./app solo\n"
			      "   no leak data: the process exited with status "
			      "3 but the trace holds no leak scan\n");
	free(out);
	g.kinds = 0; /* leaks not gated */
	cr_assert_eq(gate_on(t_nodata, &g, NULL, &out), 0);
	cr_assert_str_eq(out, "memopt: check passed: 1 process, 0 with leak "
			      "data, 0 bytes leaked (none), peak heap 64 "
			      "bytes\n");
	free(out);
}

/* --- memopt report --check ------------------------------------------------ */

static int run_memopt(const char *const *args, mo_run_result_t *res)
{
	const char *argv[24] = {memopt};
	size_t n = 1;

	for (; args[n - 1]; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	cr_assert_eq(mo_run(argv, &(mo_run_opts_t){.cwd = dir}, res), 0);
	return mo_run_exit_code(res->status);
}

/* Runs memopt with args; asserts the exit status and, if err is not
 * NULL, the exact stderr; empty stdout unless out_ok. */
static void expect(const char *const *args, int status, const char *err)
{
	mo_run_result_t res;
	int got = run_memopt(args, &res);

	cr_assert_eq(got, status, "status %d, expected %d; stderr:\n%s", got,
		     status, res.err);
	if (err)
		cr_assert_str_eq(res.err, err);
	cr_assert_eq(res.out_len, 0, "stdout: %s", res.out);
	mo_run_result_free(&res);
}

Test(gate, report_check_statuses)
{
	mo_run_result_t res;

	expect((const char *[]){"report", "--check", "-i", t_leak, NULL}, 23,
	       NULL);
	expect((const char *[]){"report", "--check", "-i", t_leak,
				"--error-exitcode", "7", NULL},
	       7, NULL);
	expect((const char *[]){"report", "--check", "-i", t_leak,
				"--error-exitcode", "0", NULL},
	       0, NULL);
	expect((const char *[]){"report", "--check", "-i", t_leak, "--max-leak",
				"100", NULL},
	       0,
	       "memopt: check passed: 3 processes, 1 with leak data, 100 "
	       "bytes leaked (definite,possible), peak heap 3,350 bytes\n");
	expect((const char *[]){"report", "--check", "-i", t_leak,
				"--suppressions", supp_file, NULL},
	       0, NULL);
	expect((const char *[]){"report", "--check", "-i", t_leak,
				"--leak-kinds", "definite,indirect",
				"--max-leak", "0.25K", NULL},
	       23, NULL);
	expect((const char *[]){"report", "--check", "-i", t_leak,
				"--leak-kinds", "none", "--max-peak", "3K",
				NULL},
	       23, NULL);
	expect((const char *[]){"report", "--check", "-i", t_leak,
				"--leak-kinds", "none", "--max-peak", "4K",
				NULL},
	       0, NULL);
	expect((const char *[]){"report", "--check", "-i", t_nodata, NULL}, 23,
	       NULL);
	/* a passing check exits with the recorded program's status (3) */
	expect((const char *[]){"report", "--check", "-i", t_nodata,
				"--leak-kinds", "none", NULL},
	       3, NULL);

	/* The failing verdict goes to stderr, with the stack. */
	cr_assert_eq(run_memopt((const char *[]){"report", "--check", "-i",
						 t_leak, NULL},
				&res),
		     23);
	cr_assert(strstr(res.err, "== process 1001: ./app one\n"));
	cr_assert(strstr(res.err, "      ??  0x401000  (libleaky.so)\n"));
	mo_run_result_free(&res);
}

Test(gate, usage_errors)
{
	char want[512];

	expect((const char *[]){"report", "--check", "-i", t_leak,
				"--suppressions", "/nonexistent.supp", NULL},
	       2,
	       "memopt: cannot read suppressions file /nonexistent.supp: No "
	       "such file or directory\n");
	mo_run_write_file(t_nodata, "leak:x\nbogus\n", 13);
	snprintf(want, sizeof(want),
		 "memopt: %s:2: not a suppression (expected leak:PATTERN)\n",
		 t_nodata);
	expect((const char *[]){"report", "-i", t_leak, "--suppressions",
				t_nodata, NULL},
	       2, want);
	expect((const char *[]){"report", "--check", "-i", t_leak,
				"--leak-kinds", "definitely", NULL},
	       2,
	       "memopt: report: --leak-kinds needs a list of definite, "
	       "indirect, possible, reachable, all, none; not "
	       "'definitely'\n");
	expect((const char *[]){"report", "--check", "-i", t_leak, "--max-leak",
				"lots", NULL},
	       2, NULL);
	expect((const char *[]){"report", "--check", "-i", t_leak,
				"--error-exitcode", "256", NULL},
	       2, NULL);
	expect((const char *[]){"report", "-i", t_leak, "--max-leak", "1",
				NULL},
	       2,
	       "memopt: report: --leak-kinds, --max-leak, --max-peak and "
	       "--error-exitcode need --check\n");
	expect((const char *[]){"check", NULL}, 2, NULL);
	expect((const char *[]){"check", "--suppressions", "/nonexistent.supp",
				"--", "/bin/true", NULL},
	       2,
	       "memopt: cannot read suppressions file /nonexistent.supp: No "
	       "such file or directory\n");
	cr_assert_lt(mo_run_file_size(mo_run_join(dir, "memopt.data")), 0,
		     "check must not run the program");
}

Test(gate, report_json_leaks)
{
	mo_run_result_t res;
	cJSON *doc;
	const cJSON *p, *leaks;

	cr_assert_eq(run_memopt((const char *[]){"report", "--json", "-i",
						 t_leak, NULL},
				&res),
		     0);
	doc = mo_run_json_parse(res.out, res.out_len);
	cr_assert_not_null(doc);
	p = mo_run_find_process(doc, 1001, "one", 0);
	cr_assert_not_null(p);
	cr_assert_eq(mo_run_json_int(p, "leak_summary.definitely_lost.bytes"),
		     100);
	cr_assert_eq(mo_run_json_int(p, "leak_summary.indirectly_lost.blocks"),
		     1);
	cr_assert_eq(mo_run_json_int(p, "leak_summary.still_reachable.bytes"),
		     3000);
	cr_assert_eq(mo_run_json_int(p, "leak_summary.suppressed.blocks"), 0);
	leaks = mo_run_json_get(p, "leaks");
	cr_assert_eq(cJSON_GetArraySize(leaks), 2);
	cr_assert_str_eq(mo_run_json_get(cJSON_GetArrayItem(leaks, 0), "kind")
				 ->valuestring,
			 "indirectly_lost");
	cr_assert_eq(mo_run_json_int(cJSON_GetArrayItem(leaks, 1), "bytes"),
		     100);
	p = mo_run_find_process(doc, 1002, "two", 0);
	cr_assert(cJSON_IsNull(mo_run_json_get(p, "leak_summary")));
	cJSON_Delete(doc);
	mo_run_result_free(&res);

	cr_assert_eq(
		run_memopt((const char *[]){"report", "--json", "-i", t_leak,
					    "--show-leak-kinds", "reachable",
					    "--suppressions", supp_file, NULL},
			   &res),
		0);
	doc = mo_run_json_parse(res.out, res.out_len);
	p = mo_run_find_process(doc, 1001, "one", 0);
	cr_assert_eq(mo_run_json_int(p, "leak_summary.suppressed.bytes"), 300);
	cr_assert_eq(mo_run_json_int(p, "leak_summary.definitely_lost.bytes"),
		     0);
	leaks = mo_run_json_get(p, "leaks");
	cr_assert_eq(cJSON_GetArraySize(leaks), 1);
	cr_assert_eq(mo_run_json_int(cJSON_GetArrayItem(leaks, 0), "bytes"),
		     3000);
	cJSON_Delete(doc);
	mo_run_result_free(&res);
}

/* --- memopt check --------------------------------------------------------- */

Test(gate, check_records_then_checks)
{
	char *prog = mo_run_build_path("tests/programs/tp_basic");
	mo_run_result_t res;
	const char *last;

	/* Leaks not gated: PROG's own status. */
	cr_assert_eq(
		run_memopt((const char *[]){"check", "--leak-kinds", "none",
					    "--", prog, "full", NULL},
			   &res),
		0, "%s", res.err);
	last = strrchr(res.err, '\n');
	cr_assert_not_null(last);
	cr_assert_eq(mo_run_count_lines(res.err), 1, "%s", res.err);
	cr_assert(strncmp(res.err, "memopt: check passed: 1 process, ", 33) ==
			  0,
		  "%s", res.err);
	mo_run_result_free(&res);
	cr_assert_gt(mo_run_file_size(mo_run_join(dir, "memopt.data")), 0);

	cr_assert_eq(
		run_memopt((const char *[]){"check", "--leak-kinds", "none",
					    "--", prog, "valgrind", "5", NULL},
			   &res),
		5, "%s", res.err);
	mo_run_result_free(&res);

	/* A failing gate wins over PROG's status. */
	cr_assert_eq(run_memopt((const char *[]){"check", "-o", "t.data",
						 "--leak-kinds", "none",
						 "--max-peak", "1",
						 "--error-exitcode", "42", "--",
						 prog, "valgrind", "5", NULL},
				&res),
		     42, "%s", res.err);
	cr_assert(strstr(res.err, "memopt: check FAILED: 1 of 1 process\n"));
	cr_assert(strstr(res.err, "   peak heap: "));
	mo_run_result_free(&res);
	cr_assert_gt(mo_run_file_size(mo_run_join(dir, "t.data")), 0);
	free(prog);
}
