/*
 * Tests of the text and JSON reports (src/report_text.c, report_json.c),
 * from a synthetic analysis.  The stacks point into
 * tests/programs/inline_prog at the addresses it reports for itself, so
 * frames include inlined functions; expected frames come from the
 * symbolizer itself.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "analysis.h"
#include "report.h"
#include "symbolize.h"
#include "util.h"

#define PROG MO_BUILDDIR "/tests/programs/inline_prog"
#define BIG 9007199254740993ull /* 2^53 + 1: not a double */
#define MO_SCAN_AT_EXIT_FLAG 1u /* MO_SCAN_AT_EXIT of mo_ring.h */

static mo_sym_t *sym;
static mo_an_t *an;
static uint64_t bias, ret_b, ret_c;
static uint32_t stack_b, stack_nomod, stack_c; /* global stack indices */

/* --- synthetic trace ------------------------------------------------------ */

static void feed(mo_event_t *ev, uint32_t stream)
{
	ev->stream = stream;
	cr_assert_eq(mo_an_feed(an, ev), 0);
}

static void start(uint32_t stream, uint32_t pid, uint64_t flags, uint32_t argc,
		  const char *const *argv)
{
	mo_event_t ev = {.type = MO_REC_PROC_START};
	mo_str_t args[8];

	for (uint32_t i = 0; i < argc; i++)
		args[i] = (mo_str_t){argv[i], strlen(argv[i])};
	ev.u.start.pid = pid;
	ev.u.start.ppid = 1;
	ev.u.start.flags = flags;
	ev.u.start.exe = (mo_str_t){"/usr/bin/app", 12};
	ev.u.start.argc = argc;
	ev.u.start.argv = args;
	feed(&ev, stream);
}

static void u_event(uint32_t stream, int type, uint64_t a, uint64_t b)
{
	mo_event_t ev = {.type = type};

	switch (type) {
	case MO_REC_TICK:
		ev.u.tick.ns = a;
		break;
	case MO_REC_FREE:
		ev.u.free.ptr = a;
		break;
	case MO_REC_EXIT:
		ev.u.exit.kind = (uint32_t)a;
		ev.u.exit.value = b;
		break;
	case MO_REC_RSS:
		ev.u.rss.rss = a;
		ev.u.rss.hwm = b;
		break;
	case MO_REC_LOST:
		ev.u.lost.bytes = a;
		break;
	default:
		break;
	}
	feed(&ev, stream);
}

static void alloc(uint32_t stream, uint64_t ptr, uint64_t size, uint64_t id)
{
	mo_event_t ev = {.type = MO_REC_ALLOC};

	ev.u.alloc.fn = MO_FN_MALLOC;
	ev.u.alloc.ptr = ptr;
	ev.u.alloc.size = size;
	ev.u.alloc.stack = id;
	feed(&ev, stream);
}

static void stack(uint32_t stream, uint64_t id, uint32_t n, const uint64_t *ips)
{
	mo_event_t ev = {.type = MO_REC_STACK};

	ev.u.stack.id = id;
	ev.u.stack.n = n;
	ev.u.stack.ips = ips;
	feed(&ev, stream);
}

/* A MO_REC_LEAKS naming one block (its key here is its address). */
static void leaks(uint32_t stream, uint64_t block, int kind)
{
	uint8_t payload[64], *q = payload;
	mo_event_t ev = {.type = MO_REC_LEAKS};

	q = mo_put_uv(q, MO_SCAN_AT_EXIT_FLAG);
	q = mo_put_uv(q, 2);	 /* threads */
	q = mo_put_uv(q, 2);	 /* scanned */
	q = mo_put_uv(q, 1);	 /* n */
	q = mo_put_uv(q, block); /* first block: 0 + dblock */
	q = mo_put_uv(q, (uint64_t)kind);
	ev.u.ext.len = (uint32_t)(q - payload);
	ev.u.ext.data = payload;
	feed(&ev, stream);
}

/* Runs inline_prog to learn its load bias and return addresses. */
static void read_prog_addresses(void)
{
	FILE *p = popen(PROG " x", "r");
	char line[128];
	unsigned long v;

	cr_assert_not_null(p, "cannot run %s", PROG);
	while (fgets(line, sizeof(line), p)) {
		if (sscanf(line, "bias %lx", &v) == 1)
			bias = v;
		else if (sscanf(line, "B %lx", &v) == 1)
			ret_b = v;
		else if (sscanf(line, "C %lx", &v) == 1)
			ret_c = v;
	}
	cr_assert_eq(pclose(p), 0);
	cr_assert(ret_b > bias && ret_c > bias, "no addresses from %s", PROG);
}

/* Global index of the stack whose first frame has runtime address ip. */
static uint32_t gstack(uint64_t ip)
{
	for (uint32_t s = 0; s < 100; s++) {
		uint32_t n;
		const mo_rawframe_t *f = mo_an_stack(an, s, &n);
		if (n && f[0].address == ip)
			return s;
	}
	cr_assert_fail("no stack for %#" PRIx64, ip);
	return 0;
}

/*
 * Process 4242: peak 7596 B at 520 ms, 5 allocations, 3 frees, 2
 * temporary, 2500 B in 2 blocks at exit:
 *   site S1 (stack [B]):          1000 + 2000, one freed; live 2000/1
 *   site S2 (stack [no module]):  500 live, 100 temporary
 *   site S3 (stack [C, no mod]):  4096 temporary, makes the peak
 * Process 4243: killed by SIGKILL.  4244: exec'd.  4245: no exit record,
 * forked, one allocation of 2^53 + 1 bytes, diagnostics.
 */
static void setup(void)
{
	static const char *const argv1[] = {"./app", "--flag"};
	static const char *const argv2[] = {"worker"};
	const uint64_t ips_nomod[1] = {0x7f0000001000};
	uint64_t ips[2];
	mo_module_rec_t mod = {0};

	read_prog_addresses();
	sym = mo_sym_new();
	an = mo_an_new(sym);
	cr_assert(sym && an);

	start(1, 4242, 0, 2, argv1);
	mod.start = bias;
	mod.end = bias + 0x100000;
	mod.bias = bias;
	mod.path = (mo_str_t){PROG, strlen(PROG)};
	{
		mo_event_t ev = {.type = MO_REC_MODMAP};
		ev.u.modmap.n = 1;
		ev.u.modmap.mods = &mod;
		feed(&ev, 1);
	}
	stack(1, 1, 1, &ret_b);
	stack(1, 2, 1, ips_nomod);
	ips[0] = ret_c;
	ips[1] = 0x7f0000002000;
	stack(1, 3, 2, ips);
	u_event(1, MO_REC_TICK, 1000000, 0);
	alloc(1, 0x1000, 1000, 1);
	alloc(1, 0x2000, 2000, 1);
	alloc(1, 0x3000, 500, 2);
	u_event(1, MO_REC_TICK, 520000000, 0);
	alloc(1, 0x4000, 4096, 3);
	u_event(1, MO_REC_FREE, 0x4000, 0); /* temporary */
	u_event(1, MO_REC_TICK, 600000000, 0);
	u_event(1, MO_REC_FREE, 0x1000, 0);
	alloc(1, 0x5000, 100, 2);
	u_event(1, MO_REC_FREE, 0x5000, 0); /* temporary */
	u_event(1, MO_REC_RSS, 8192, 16384);
	u_event(1, MO_REC_TICK, 1234000000, 0);
	leaks(1, 0x2000, MO_LEAK_DEFINITE); /* 0x3000 still reachable */
	u_event(1, MO_REC_EXIT, MO_EXIT_CODE, 0);
	u_event(1, MO_REC_END, 0, 0);

	start(2, 4243, 0, 1, argv2);
	u_event(2, MO_REC_EXIT, MO_EXIT_SIGNAL, 9);
	u_event(2, MO_REC_END, 0, 0);

	start(3, 4244, 0, 1, argv2);
	u_event(3, MO_REC_TICK, 2500, 0);
	u_event(3, MO_REC_EXIT, MO_EXIT_EXEC, 0);
	u_event(3, MO_REC_END, 0, 0);

	start(4, 4245, MO_PROC_FORKED, 1, argv2);
	stack(4, 1, 1, ips_nomod);
	alloc(4, 0x1000, BIG, 1);
	alloc(4, 0x2000, 1, 77); /* unknown stack */
	u_event(4, MO_REC_FREE, 0x9999, 0);
	u_event(4, MO_REC_LOST, 77, 0);

	mo_an_finish(an);
	stack_b = gstack(ret_b);
	stack_nomod = gstack(0x7f0000001000);
	stack_c = gstack(ret_c);
}

static void teardown(void)
{
	mo_an_free(an);
	mo_sym_free(sym);
}

TestSuite(report, .init = setup, .fini = teardown);

/* --- helpers -----------------------------------------------------------------
 */

static char *render(int json, const mo_report_opts_t *opts)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	if (json)
		cr_assert_eq(mo_report_json(f, an, sym, opts), 0);
	else
		cr_assert_eq(mo_report_text(f, an, sym, opts), 0);
	fclose(f);
	return buf;
}

static cJSON *render_json(const mo_report_opts_t *opts, char **text)
{
	char *s = render(1, opts);
	cJSON *doc = cJSON_Parse(s);

	cr_assert_not_null(doc, "JSON does not parse:\n%s", s);
	if (text)
		*text = s;
	else
		free(s);
	return doc;
}

static cJSON *item(const cJSON *o, const char *name)
{
	cJSON *i = cJSON_GetObjectItemCaseSensitive(o, name);

	cr_assert_not_null(i, "missing key %s", name);
	return i;
}

static uint64_t num(const cJSON *o, const char *name)
{
	cJSON *i = item(o, name);

	cr_assert(cJSON_IsNumber(i), "%s is not a number", name);
	return (uint64_t)i->valuedouble;
}

static cJSON *proc(cJSON *doc, int i)
{
	cJSON *p = cJSON_GetArrayItem(item(doc, "processes"), i);

	cr_assert_not_null(p);
	return p;
}

static void check_site(const cJSON *site, uint32_t stack, uint64_t bytes,
		       uint64_t blocks, uint64_t allocations,
		       uint64_t bytes_allocated, uint64_t temporary)
{
	mo_frame_t want[32];
	const cJSON *frames = item(site, "stack");
	uint32_t n;
	const mo_rawframe_t *rf = mo_an_stack(an, stack, &n);
	int k = 0;

	cr_assert_eq(num(site, "bytes"), bytes);
	cr_assert_eq(num(site, "blocks"), blocks);
	cr_assert_eq(num(site, "allocations"), allocations);
	cr_assert_eq(num(site, "bytes_allocated"), bytes_allocated);
	cr_assert_eq(num(site, "temporary"), temporary);
	cr_assert(cJSON_IsArray(frames));
	/* Every frame the symbolizer gives, in order. */
	for (uint32_t i = 0; i < n; i++) {
		int nf = mo_sym_resolve(sym, rf[i].module, rf[i].vaddr,
					rf[i].address, want, 32);
		for (int w = 0; w < nf; w++, k++) {
			const cJSON *f = cJSON_GetArrayItem(frames, k);
			const cJSON *fn, *file, *line;
			char addr[32];

			cr_assert_not_null(f, "frame %d missing", k);
			snprintf(addr, sizeof(addr), "0x%" PRIx64,
				 rf[i].address);
			cr_assert_str_eq(item(f, "address")->valuestring, addr);
			fn = item(f, "function");
			if (want[w].function)
				cr_assert_str_eq(fn->valuestring,
						 want[w].function);
			else
				cr_assert(cJSON_IsNull(fn));
			file = item(f, "file");
			if (want[w].file)
				cr_assert_str_eq(file->valuestring,
						 want[w].file);
			else
				cr_assert(cJSON_IsNull(file));
			line = item(f, "line");
			if (want[w].line)
				cr_assert_eq(num(f, "line"), want[w].line);
			else
				cr_assert(cJSON_IsNull(line));
			cr_assert_str_eq(item(f, "module")->valuestring,
					 want[w].module);
			cr_assert(cJSON_IsBool(item(f, "inlined")));
			cr_assert_eq(cJSON_IsTrue(item(f, "inlined")),
				     want[w].inlined != 0);
		}
	}
	cr_assert_eq(cJSON_GetArraySize(frames), k);
}

/* --- JSON ----------------------------------------------------------------- */

Test(report, json_document)
{
	mo_tr_damage_t damage = {
		.corrupt_frames = 1, .skipped_bytes = 4096, .truncated = 1};
	mo_report_opts_t opts = {.top = 2,
				 .trace_path = "memopt.data",
				 .damage = &damage,
				 .format_major = 1,
				 .format_minor = 0};
	cJSON *doc = render_json(&opts, NULL), *p, *s, *d, *list;

	cr_assert_str_eq(item(doc, "memopt_version")->valuestring,
			 PACKAGE_VERSION);
	cr_assert_eq(num(item(doc, "format"), "major"), 1);
	cr_assert_eq(num(item(doc, "format"), "minor"), 0);
	cr_assert_str_eq(item(doc, "trace")->valuestring, "memopt.data");
	d = item(doc, "damage");
	cr_assert_eq(num(d, "corrupt_frames"), 1);
	cr_assert_eq(num(d, "skipped_bytes"), 4096);
	cr_assert(cJSON_IsTrue(item(d, "truncated")));
	cr_assert_eq(cJSON_GetArraySize(item(doc, "processes")), 4);

	p = proc(doc, 0);
	cr_assert_eq(num(p, "pid"), 4242);
	cr_assert_eq(num(p, "ppid"), 1);
	cr_assert(cJSON_IsFalse(item(p, "forked")));
	cr_assert_eq(cJSON_GetArraySize(item(p, "command")), 2);
	cr_assert_str_eq(cJSON_GetArrayItem(item(p, "command"), 0)->valuestring,
			 "./app");
	cr_assert_str_eq(cJSON_GetArrayItem(item(p, "command"), 1)->valuestring,
			 "--flag");
	cr_assert_str_eq(item(p, "exe")->valuestring, "/usr/bin/app");
	cr_assert_eq(cJSON_GetArraySize(item(p, "exit")), 1);
	cr_assert_eq(num(item(p, "exit"), "code"), 0);

	s = item(p, "summary");
	cr_assert_eq(cJSON_GetArraySize(s), 9);
	cr_assert_eq(num(s, "allocations"), 5);
	cr_assert_eq(num(s, "frees"), 3);
	cr_assert_eq(num(s, "bytes_allocated"), 7696);
	cr_assert_eq(num(s, "peak_heap_bytes"), 7596);
	cr_assert_eq(num(s, "peak_rss_bytes"), 16384);
	cr_assert_eq(num(s, "leaked_bytes"), 2500);
	cr_assert_eq(num(s, "leaked_blocks"), 2);
	cr_assert_eq(num(s, "temporary_allocations"), 2);
	cr_assert_eq(num(s, "runtime_ms"), 1234);

	cr_assert_eq(num(item(p, "peak"), "time_ms"), 520);
	list = item(item(p, "peak"), "sites");
	cr_assert_eq(cJSON_GetArraySize(list), 2); /* of 3 */
	check_site(cJSON_GetArrayItem(list, 0), stack_c, 4096, 1, 1, 4096, 1);
	check_site(cJSON_GetArrayItem(list, 1), stack_b, 3000, 2, 2, 3000, 0);

	list = item(p, "live_at_exit");
	cr_assert_eq(cJSON_GetArraySize(list), 2);
	check_site(cJSON_GetArrayItem(list, 0), stack_b, 2000, 1, 2, 3000, 0);
	check_site(cJSON_GetArrayItem(list, 1), stack_nomod, 500, 1, 2, 600, 1);

	list = item(p, "top_allocations"); /* 2, 2, 1: ties by stack index */
	cr_assert_eq(cJSON_GetArraySize(list), 2);
	check_site(cJSON_GetArrayItem(list, 0),
		   stack_b < stack_nomod ? stack_b : stack_nomod,
		   stack_b < stack_nomod ? 2000 : 500, 1, 2,
		   stack_b < stack_nomod ? 3000 : 600,
		   stack_b < stack_nomod ? 0 : 1);

	list = item(p, "top_bytes");
	cr_assert_eq(cJSON_GetArraySize(list), 2);
	check_site(cJSON_GetArrayItem(list, 0), stack_c, 0, 0, 1, 4096, 1);
	check_site(cJSON_GetArrayItem(list, 1), stack_b, 2000, 1, 2, 3000, 0);

	list = item(p, "top_temporary");
	cr_assert_eq(cJSON_GetArraySize(list), 2);
	cr_assert_eq(num(cJSON_GetArrayItem(list, 0), "temporary"), 1);
	cr_assert_eq(num(cJSON_GetArrayItem(list, 1), "temporary"), 1);

	d = item(p, "diagnostics");
	cr_assert_eq(num(d, "unmatched_frees"), 0);
	cr_assert_eq(num(d, "lost_bytes"), 0);
	cr_assert_eq(num(d, "double_allocs"), 0);
	cr_assert_eq(num(d, "unknown_stacks"), 0);
	cJSON_Delete(doc);
}

Test(report, json_frames_of_an_inlined_call)
{
	mo_report_opts_t opts = {.top = 10};
	cJSON *doc = render_json(&opts, NULL);
	cJSON *site = cJSON_GetArrayItem(item(proc(doc, 0), "live_at_exit"), 0);
	cJSON *frames = item(site, "stack"), *f;
	int n = cJSON_GetArraySize(frames);

	/* [B] resolves to its inline chain: the last frame is a real one,
	 * every frame before it is inlined. */
	cr_assert_geq(n, 1);
	for (int k = 0; k < n; k++) {
		f = cJSON_GetArrayItem(frames, k);
		cr_assert_eq(cJSON_IsTrue(item(f, "inlined")), k < n - 1);
		cr_assert_str_eq(item(f, "module")->valuestring, PROG);
	}
	/* The frame of no module. */
	site = cJSON_GetArrayItem(item(proc(doc, 0), "live_at_exit"), 1);
	frames = item(site, "stack");
	cr_assert_eq(cJSON_GetArraySize(frames), 1);
	f = cJSON_GetArrayItem(frames, 0);
	cr_assert_str_eq(item(f, "address")->valuestring, "0x7f0000001000");
	cr_assert(cJSON_IsNull(item(f, "function")));
	cr_assert(cJSON_IsNull(item(f, "file")));
	cr_assert(cJSON_IsNull(item(f, "line")));
	cr_assert(cJSON_IsFalse(item(f, "inlined")));
	cJSON_Delete(doc);
}

Test(report, json_exit_forms_and_diagnostics)
{
	mo_report_opts_t opts = {.top = 3};
	cJSON *doc = render_json(&opts, NULL), *p, *d;

	cr_assert(cJSON_IsNull(item(doc, "damage")));
	cr_assert(cJSON_IsNull(item(doc, "trace")));
	cr_assert_null(cJSON_GetObjectItem(doc, "format"));

	p = proc(doc, 1);
	cr_assert_eq(num(p, "pid"), 4243);
	cr_assert_eq(cJSON_GetArraySize(item(p, "exit")), 1);
	cr_assert_eq(num(item(p, "exit"), "signal"), 9);
	cr_assert_eq(cJSON_GetArraySize(item(item(p, "peak"), "sites")), 0);
	cr_assert_eq(cJSON_GetArraySize(item(p, "live_at_exit")), 0);
	cr_assert_eq(cJSON_GetArraySize(item(p, "top_allocations")), 0);
	cr_assert_eq(num(item(p, "summary"), "allocations"), 0);

	p = proc(doc, 2);
	cr_assert_eq(cJSON_GetArraySize(item(p, "exit")), 1);
	cr_assert(cJSON_IsTrue(item(item(p, "exit"), "exec")));
	cr_assert_eq(num(item(p, "summary"), "runtime_ms"), 0);

	p = proc(doc, 3);
	cr_assert(cJSON_IsNull(item(p, "exit")));
	cr_assert(cJSON_IsTrue(item(p, "forked")));
	d = item(p, "diagnostics");
	cr_assert_eq(num(d, "unmatched_frees"), 1);
	cr_assert_eq(num(d, "lost_bytes"), 77);
	cr_assert_eq(num(d, "unknown_stacks"), 1);
	cr_assert(cJSON_IsFalse(item(d, "ended")));
	cr_assert(
		cJSON_IsTrue(item(item(proc(doc, 0), "diagnostics"), "ended")));
	cJSON_Delete(doc);
}

Test(report, json_integers_are_exact)
{
	mo_report_opts_t opts = {.top = 1};
	char *text, *p;
	cJSON *doc = render_json(&opts, &text);

	/* 2^53 + 1 printed as such; a double would print ...992 or 9.0e15. */
	p = strstr(text, "\"bytes_allocated\":\t9007199254740994");
	cr_assert_not_null(p); /* BIG + 1 byte, process 4245 */
	p = strstr(text, "\"peak_heap_bytes\":\t9007199254740994");
	cr_assert_not_null(p);
	p = strstr(text, "\"bytes\":\t9007199254740993");
	cr_assert_not_null(p);
	cr_assert_null(strstr(text, "e+"));
	cr_assert_null(strstr(text, "9007199254740992"));
	free(text);
	cJSON_Delete(doc);
}

Test(report, json_top_zero_and_damage_zero)
{
	mo_tr_damage_t damage = {0};
	mo_report_opts_t opts = {.top = 0, .damage = &damage};
	cJSON *doc = render_json(&opts, NULL), *p = proc(doc, 0);

	cr_assert(cJSON_IsNull(item(doc, "damage")));
	cr_assert_eq(cJSON_GetArraySize(item(item(p, "peak"), "sites")), 0);
	cr_assert_eq(cJSON_GetArraySize(item(p, "live_at_exit")), 0);
	cr_assert_eq(cJSON_GetArraySize(item(p, "top_bytes")), 0);
	cr_assert_eq(num(item(p, "summary"), "peak_heap_bytes"), 7596);
	cJSON_Delete(doc);
}

/* --- text ------------------------------------------------------------------
 */

/* Splits text into lines (in place); returns their number. */
static size_t split_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;

	for (char *s = text; *s && n < max;) {
		char *nl = strchr(s, '\n');
		lines[n++] = s;
		if (!nl)
			break;
		*nl = '\0';
		s = nl + 1;
	}
	return n;
}

static int find_line(char **lines, size_t n, const char *want)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(lines[i], want) == 0)
			return (int)i;
	return -1;
}

#define assert_line(lines, n, want) \
	cr_assert_geq(find_line(lines, n, want), 0, "no line \"%s\"", want)

static void row(char *out, size_t len, const char *a, const char *b,
		const char *c)
{
	if (b)
		snprintf(out, len, "   %-26s%-26s%s", a, b, c);
	else
		snprintf(out, len, "   %-52s%s", a, c);
}

Test(report, text_summary_lines)
{
	mo_tr_damage_t damage = {
		.corrupt_frames = 1, .skipped_bytes = 4096, .truncated = 1};
	mo_report_opts_t opts = {
		.top = 2, .trace_path = "memopt.data", .damage = &damage};
	char *text = render(0, &opts), *lines[400];
	size_t n = split_lines(text, lines, 400);
	char want[256], a[64], b[64], c[64], v[32], w[32];
	int i;

	cr_assert_str_eq(lines[0], "memopt report: memopt.data, 4 processes");
	cr_assert_str_eq(lines[1], "warning: trace damaged: 1 corrupt frame, "
				   "4.0 KiB skipped, truncated");
	i = find_line(lines, n, "== process 4242: ./app --flag");
	cr_assert_geq(i, 0);
	cr_assert_str_eq(lines[i + 1], "   exit status 0, runtime 1.23 s");

	snprintf(a, sizeof(a), "allocations   %s", "5");
	snprintf(b, sizeof(b), "frees        %s", "3");
	snprintf(c, sizeof(c), "allocated   %s",
		 mo_fmt_bytes(v, sizeof(v), 7696));
	row(want, sizeof(want), a, b, c);
	cr_assert_str_eq(lines[i + 2], want);

	snprintf(a, sizeof(a), "peak heap     %s at 520 ms",
		 mo_fmt_bytes(v, sizeof(v), 7596));
	snprintf(c, sizeof(c), "peak RSS    %s",
		 mo_fmt_bytes(w, sizeof(w), 16384));
	row(want, sizeof(want), a, NULL, c);
	cr_assert_str_eq(lines[i + 3], want);

	snprintf(a, sizeof(a), "live at exit  %s in 2 blocks",
		 mo_fmt_bytes(v, sizeof(v), 2500));
	row(want, sizeof(want), a, NULL, "temporary   2 (40.0%)");
	cr_assert_str_eq(lines[i + 4], want);

	snprintf(want, sizeof(want), "PEAK HEAP: %s at 520 ms, top 2 sites",
		 mo_fmt_bytes(v, sizeof(v), 7596));
	assert_line(lines, n, want);
	snprintf(want, sizeof(want), "  %s (53.9%%) in 1 block",
		 mo_fmt_bytes(v, sizeof(v), 4096));
	assert_line(lines, n, want);
	snprintf(want, sizeof(want),
		 "LIVE AT EXIT (possible leaks): %s in 2 blocks, top 2 sites",
		 mo_fmt_bytes(v, sizeof(v), 2500));
	assert_line(lines, n, want);
	assert_line(lines, n, "MOST ALLOCATIONS: 5 in total, top 2 sites");
	assert_line(lines, n, "MOST TEMPORARY: 2 in total, top 2 sites");
	assert_line(lines, n, "  1 temporary of 2 allocations (50.0%)");
	assert_line(lines, n, "      ??  0x7f0000001000");

	/* The other processes. */
	i = find_line(lines, n, "== process 4243: worker");
	cr_assert_geq(i, 0);
	cr_assert_str_eq(lines[i + 1],
			 "   killed by signal 9 (SIGKILL), runtime 0 ns");
	assert_line(lines, n, "PEAK HEAP: none");
	assert_line(lines, n, "LIVE AT EXIT (possible leaks): none");
	i = find_line(lines, n, "== process 4244: worker");
	cr_assert_geq(i, 0);
	cr_assert_str_eq(lines[i + 1], "   replaced by exec, runtime 2 us");
	i = find_line(lines, n, "== process 4245: worker");
	cr_assert_geq(i, 0);
	cr_assert_str_eq(lines[i + 1],
			 "   exit status unknown, runtime 0 ns, forked from 1");
	assert_line(lines, n, "   note: 1 free of addresses not allocated");
	assert_line(lines, n, "   note: 1 allocation without a recorded stack");
	assert_line(lines, n, "   note: 77 B of trace data lost");
	assert_line(lines, n,
		    "   note: the trace of this process is incomplete");
	assert_line(lines, n, "      (no stack recorded)");
	free(text);
}

Test(report, text_frames_and_width)
{
	mo_report_opts_t opts = {.top = 10};
	char *text = render(0, &opts), *lines[600];
	size_t n = split_lines(text, lines, 600);
	mo_frame_t f[32];
	uint32_t nraw;
	const mo_rawframe_t *rf = mo_an_stack(an, stack_b, &nraw);
	int nf = mo_sym_resolve(sym, rf[0].module, rf[0].vaddr, rf[0].address,
				f, 32);
	int first = -1;

	cr_assert_gt(n, 40);
	for (size_t i = 0; i < n; i++)
		cr_assert_leq(strlen(lines[i]), 80, "line %zu too long: %s", i,
			      lines[i]);
	/* Stack [B]: one line per frame the symbolizer gives, in order,
	 * inlined ones marked. */
	for (int k = 0; k < nf; k++) {
		char want[512];
		const char *mod = strrchr(f[k].module, '/') + 1;
		const char *file = f[k].file ? strrchr(f[k].file, '/') : NULL;
		int at;

		file = file ? file + 1 : f[k].file;
		if (file)
			snprintf(want, sizeof(want), "      %s%s  %s:%u  (%s)",
				 f[k].inlined ? "[inlined] " : "",
				 f[k].function ? f[k].function : "??", file,
				 f[k].line, mod);
		else
			snprintf(want, sizeof(want), "      %s%s  (%s)",
				 f[k].inlined ? "[inlined] " : "",
				 f[k].function ? f[k].function : "??", mod);
		at = find_line(lines, n, want);
		cr_assert_geq(at, 0, "no frame line \"%s\"", want);
		if (k == 0)
			first = at;
		else
			cr_assert_eq(at, first + k);
	}
	free(text);
}

Test(report, text_long_command_fits)
{
	static char longarg[300];
	const char *argv[2] = {"pr\nog", longarg};
	mo_report_opts_t opts = {.top = 1};
	char *text, *lines[600];
	size_t n;
	int found = 0;

	memset(longarg, 'a', sizeof(longarg) - 1);
	start(9, 999, 0, 2, argv);
	mo_an_finish(an);
	text = render(0, &opts);
	n = split_lines(text, lines, 600);
	for (size_t i = 0; i < n; i++) {
		cr_assert_leq(strlen(lines[i]), 80);
		if (strncmp(lines[i], "== process 999: pr?og aaa", 25) == 0) {
			cr_assert_eq(strlen(lines[i]), 80);
			cr_assert_str_eq(lines[i] + 77, "...");
			found = 1;
		}
	}
	cr_assert(found);
	free(text);
}

/* --- leak sections ----------------------------------------------------- */

static void check_stack_json(const cJSON *frames, uint32_t stack)
{
	mo_frame_t want[32];
	uint32_t n;
	const mo_rawframe_t *rf = mo_an_stack(an, stack, &n);
	int k = 0;

	for (uint32_t i = 0; i < n; i++) {
		int nf = mo_sym_resolve(sym, rf[i].module, rf[i].vaddr,
					rf[i].address, want, 32);
		for (int w = 0; w < nf; w++, k++) {
			const cJSON *f = cJSON_GetArrayItem(frames, k);
			cr_assert_not_null(f);
			if (want[w].function)
				cr_assert_str_eq(
					item(f, "function")->valuestring,
					want[w].function);
			cr_assert_str_eq(item(f, "module")->valuestring,
					 want[w].module);
		}
	}
	cr_assert_eq(cJSON_GetArraySize(frames), k);
}

static void check_total(const cJSON *sum, const char *key, uint64_t bytes,
			uint64_t blocks)
{
	const cJSON *t = item(sum, key);

	cr_assert_eq(cJSON_GetArraySize(t), 2, "%s", key);
	cr_assert_eq(num(t, "bytes"), bytes, "%s bytes", key);
	cr_assert_eq(num(t, "blocks"), blocks, "%s blocks", key);
}

static void check_loss(const cJSON *rec, const char *kind, uint64_t bytes,
		       uint64_t blocks, int suppressed, uint32_t stack)
{
	cr_assert_eq(cJSON_GetArraySize(rec), 5);
	cr_assert_str_eq(item(rec, "kind")->valuestring, kind);
	cr_assert_eq(num(rec, "bytes"), bytes);
	cr_assert_eq(num(rec, "blocks"), blocks);
	cr_assert_eq(cJSON_IsTrue(item(rec, "suppressed")), suppressed);
	cr_assert(cJSON_IsBool(item(rec, "suppressed")));
	check_stack_json(item(rec, "stack"), stack);
}

Test(report, json_leak_summary_and_records)
{
	mo_report_opts_t opts = {.top = 2, .leak_kinds = MO_LEAK_SHOW_DEFAULT};
	cJSON *doc = render_json(&opts, NULL), *p, *sum, *list, *d;

	p = proc(doc, 0);
	sum = item(p, "leak_summary");
	cr_assert_eq(cJSON_GetArraySize(sum), 5);
	check_total(sum, "definitely_lost", 2000, 1);
	check_total(sum, "indirectly_lost", 0, 0);
	check_total(sum, "possibly_lost", 0, 0);
	check_total(sum, "still_reachable", 500, 1);
	check_total(sum, "suppressed", 0, 0);
	list = item(p, "leaks");
	cr_assert_eq(cJSON_GetArraySize(list), 1);
	check_loss(cJSON_GetArrayItem(list, 0), "definitely_lost", 2000, 1, 0,
		   stack_b);
	d = item(item(p, "diagnostics"), "leak_scan");
	cr_assert_eq(num(d, "threads"), 2);
	cr_assert_eq(num(d, "scanned_blocks"), 2);
	cr_assert(cJSON_IsTrue(item(d, "at_exit")));
	cr_assert(cJSON_IsFalse(item(d, "at_signal")));
	cr_assert(cJSON_IsFalse(item(d, "partial")));
	cr_assert_eq(num(item(p, "diagnostics"), "bad_leak_records"), 0);

	/* No leak scan: null and an empty list. */
	for (int i = 1; i < 4; i++) {
		p = proc(doc, i);
		cr_assert(cJSON_IsNull(item(p, "leak_summary")));
		cr_assert_eq(cJSON_GetArraySize(item(p, "leaks")), 0);
		cr_assert(cJSON_IsNull(
			item(item(p, "diagnostics"), "leak_scan")));
	}
	cJSON_Delete(doc);

	opts.leak_kinds = MO_LEAK_ALL; /* --show-leak-kinds all */
	doc = render_json(&opts, NULL);
	list = item(proc(doc, 0), "leaks");
	cr_assert_eq(cJSON_GetArraySize(list), 2);
	check_loss(cJSON_GetArrayItem(list, 0), "definitely_lost", 2000, 1, 0,
		   stack_b);
	check_loss(cJSON_GetArrayItem(list, 1), "still_reachable", 500, 1, 0,
		   stack_nomod);
	cJSON_Delete(doc);
}

Test(report, json_suppressed_leaks)
{
	mo_supp_t *supp = mo_supp_new();
	static const char text[] = "leak:inline_prog\n";
	mo_report_opts_t opts = {
		.top = 2, .leak_kinds = MO_LEAK_SHOW_DEFAULT, .supp = supp};
	cJSON *doc, *sum, *list;

	cr_assert_eq(mo_supp_parse(supp, text, sizeof(text) - 1, "t", NULL, 0),
		     0);
	doc = render_json(&opts, NULL);
	sum = item(proc(doc, 0), "leak_summary");
	check_total(sum, "definitely_lost", 0, 0);
	check_total(sum, "still_reachable", 500, 1);
	check_total(sum, "suppressed", 2000, 1);
	cr_assert_eq(cJSON_GetArraySize(item(proc(doc, 0), "leaks")), 0);
	cJSON_Delete(doc);

	opts.show_suppressed = 1;
	doc = render_json(&opts, NULL);
	list = item(proc(doc, 0), "leaks");
	cr_assert_eq(cJSON_GetArraySize(list), 1);
	check_loss(cJSON_GetArrayItem(list, 0), "definitely_lost", 2000, 1, 1,
		   stack_b);
	cJSON_Delete(doc);
	mo_supp_free(supp);
}

Test(report, text_leak_sections)
{
	mo_supp_t *supp = mo_supp_new();
	static const char text[] = "leak:inline_prog\n";
	mo_report_opts_t opts = {.top = 2, .leak_kinds = MO_LEAK_SHOW_DEFAULT};
	char *out = render(0, &opts), *lines[400];
	size_t n = split_lines(out, lines, 400);
	int i = find_line(lines, n, "LEAK SUMMARY:");

	cr_assert_geq(i, 0);
	cr_assert_str_eq(
		lines[i + 1],
		"   definitely lost: 2.0 KiB (2,000 bytes) in 1 block");
	cr_assert_str_eq(lines[i + 2], "   indirectly lost: 0 B in 0 blocks");
	cr_assert_str_eq(lines[i + 3], "     possibly lost: 0 B in 0 blocks");
	cr_assert_str_eq(lines[i + 4], "   still reachable: 500 B in 1 block");
	cr_assert_str_eq(lines[i + 5], "        suppressed: 0 B in 0 blocks");
	cr_assert_str_eq(lines[i + 6], "");
	cr_assert_str_eq(lines[i + 7], "LOSS RECORDS (definite,indirect,"
				       "possible): 1, largest first");
	cr_assert_str_eq(lines[i + 8], "  2.0 KiB (2,000 bytes) in 1 block "
				       "definitely lost");
	cr_assert(strncmp(lines[i + 9], "      ", 6) == 0 &&
		  lines[i + 9][6] != ' ');
	/* Processes without a scan (4244 was exec'd: nothing shown). */
	i = find_line(lines, n, "== process 4243: worker");
	cr_assert_geq(find_line(lines + i, n - (size_t)i,
				"LEAK SUMMARY: no leak data (no leak scan in "
				"the trace)"),
		      0);
	i = find_line(lines, n, "== process 4244: worker");
	cr_assert_str_eq(lines[i + 5], "");
	cr_assert_str_eq(lines[i + 6], "PEAK HEAP: none");
	free(out);

	cr_assert_eq(mo_supp_parse(supp, text, sizeof(text) - 1, "t", NULL, 0),
		     0);
	opts.supp = supp;
	opts.show_suppressed = 1;
	out = render(0, &opts);
	n = split_lines(out, lines, 400);
	assert_line(lines, n, "   definitely lost: 0 B in 0 blocks");
	assert_line(lines, n,
		    "        suppressed: 2.0 KiB (2,000 bytes) in 1 block");
	assert_line(lines, n,
		    "LOSS RECORDS (definite,indirect,possible, suppressed "
		    "too): 1, largest first");
	i = find_line(lines, n,
		      "  2.0 KiB (2,000 bytes) in 1 block definitely lost, "
		      "suppressed");
	cr_assert_geq(i, 0);
	cr_assert_str_eq(lines[i + 1], "    suppression: leak:inline_prog");
	free(out);

	opts.show_suppressed = 0;
	out = render(0, &opts);
	n = split_lines(out, lines, 400);
	assert_line(lines, n,
		    "LOSS RECORDS (definite,indirect,possible): none");
	free(out);
	mo_supp_free(supp);
}
