/*
 * Tests of the tracker's leak scan (lib/tracker_leak.c): the pure part
 * (the /proc/self/maps parser, the choice of root ranges, a thread's stack
 * range) on canned input, then the whole scan in tracked processes run
 * under `memopt record` (tests/programs/tp_leaks.c), read back from the
 * trace's MO_REC_LEAKS records.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memopt/trace_format.h"
#include "run_util.h"
#include "trace_reader.h"
#include "tracker_leak.h"

TestSuite(tracker_leak, .timeout = 60);

/* --- the maps parser ----------------------------------------------------- */

static const char g_maps[] =
	"555555554000-555555556000 r--p 00000000 08:01 1234        "
	"/usr/bin/prog\n"
	"555555558000-55555555a000 rw-p 00003000 08:01 1234        "
	"/usr/bin/prog\n"
	"55555555a000-55555557b000 rw-p 00000000 00:00 0           [heap]\n"
	"7ffff0000000-7ffff0021000 rw-p 00000000 00:00 0 \n"
	"7ffff0021000-7ffff4000000 ---p 00000000 00:00 0 \n"
	"7ffff7000000-7ffff7100000 rw-p 00000000 00:00 0 \n"
	"7ffff7100000-7ffff7101000 ---p 00000000 00:00 0 \n"
	"7ffff7101000-7ffff7901000 rw-p 00000000 00:00 0 \n"
	"7ffff7a00000-7ffff7a10000 rw-s 00000000 00:1a 99          "
	"/dev/shm/memopt.x/1-2.ring\n"
	"7ffff7b00000-7ffff7b01000 rw-s 00000000 00:05 7           "
	"/dev/dri/card0\n"
	"7ffff7c00000-7ffff7c01000 rw-s 00000000 00:01 8           "
	"/dev/zero (deleted)\n"
	"7ffff7d00000-7ffff7d02000 rw-p 00000000 00:00 0           "
	"[anon:scratch]\n"
	"7ffff7fc1000-7ffff7fc5000 r--p 00000000 00:00 0           [vvar]\n"
	"7ffff7fc5000-7ffff7fc7000 r-xp 00000000 00:00 0           [vdso]\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0           [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0   "
	"[vsyscall]\n"
	"garbage line\n"
	"7ffff7e00000-7ffff7e01000 rw-p 00000000 00:00 0";

#define NMAPS 17

static size_t parse(mo_lk_map_t *maps)
{
	return mo_lk_parse_maps(g_maps, sizeof(g_maps) - 1, maps, 32);
}

Test(tracker_leak, parse_maps_fields)
{
	mo_lk_map_t m[32];
	cr_assert_eq(parse(m), NMAPS);
	cr_assert_eq(m[0].lo, 0x555555554000ull);
	cr_assert_eq(m[0].hi, 0x555555556000ull);
	cr_assert_eq(m[0].prot, MO_LK_R);
	cr_assert_eq(m[0].kind, MO_LK_FILE);
	cr_assert_eq(m[1].prot, MO_LK_R | MO_LK_W);
	cr_assert_eq(m[2].kind, MO_LK_HEAP);
	cr_assert_eq(m[3].kind, MO_LK_ANON);
	cr_assert_eq(m[4].prot, 0);
	cr_assert_eq(m[8].prot, MO_LK_R | MO_LK_W | MO_LK_SHARED);
	cr_assert_eq(m[8].kind, MO_LK_FILE);
	cr_assert_eq(m[9].kind, MO_LK_DEVICE);
	cr_assert_eq(m[10].kind, MO_LK_FILE);
	cr_assert_eq(m[11].kind, MO_LK_ANON);
	cr_assert_eq(m[12].kind, MO_LK_SPECIAL);
	cr_assert_eq(m[13].prot, MO_LK_R | MO_LK_X);
	cr_assert_eq(m[14].kind, MO_LK_STACK);
	cr_assert_eq(m[15].lo, 0xffffffffff600000ull);
	cr_assert_eq(m[15].prot, MO_LK_X);
	/* the last line has no newline and no name */
	cr_assert_eq(m[16].lo, 0x7ffff7e00000ull);
	cr_assert_eq(m[16].kind, MO_LK_ANON);
}

Test(tracker_leak, parse_maps_cap_and_empty)
{
	mo_lk_map_t m[4];
	cr_assert_eq(mo_lk_parse_maps(g_maps, sizeof(g_maps) - 1, m, 4), 4);
	cr_assert_eq(m[3].lo, 0x7ffff0000000ull);
	cr_assert_eq(mo_lk_parse_maps("", 0, m, 4), 0);
	cr_assert_eq(mo_lk_parse_maps("x-y rw-p\n", 9, m, 4), 0);
	/* inverted range */
	cr_assert_eq(mo_lk_parse_maps("2000-1000 rw-p 0 0:0 0\n", 23, m, 4), 0);
}

Test(tracker_leak, parse_own_maps)
{
	/* the parser accepts every line of a real maps file */
	size_t len = 0;
	char *text = mo_run_read_file("/proc/self/maps", &len);
	cr_assert_not_null(text);
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	mo_lk_map_t *m = calloc(lines + 1, sizeof(*m));
	cr_assert_eq(mo_lk_parse_maps(text, len, m, lines + 1), lines);
	int heap = 0, stack = 0;
	for (size_t i = 0; i < lines; i++) {
		cr_assert_lt(m[i].lo, m[i].hi);
		if (i)
			cr_assert_leq(m[i - 1].hi, m[i].lo);
		heap += m[i].kind == MO_LK_HEAP;
		stack += m[i].kind == MO_LK_STACK;
	}
	cr_assert_eq(stack, 1);
	cr_assert_leq(heap, 1);
	free(m);
	free(text);
}

/* --- root selection ------------------------------------------------------ */

typedef struct ranges {
	mo_lk_range_t r[64];
	size_t n;
} ranges_t;

static void collect(void *ctx, uint64_t lo, uint64_t hi)
{
	ranges_t *rs = ctx;
	cr_assert_lt(rs->n, 64);
	cr_assert_lt(lo, hi);
	rs->r[rs->n++] = (mo_lk_range_t){lo, hi};
}

static void expect(const ranges_t *rs, const mo_lk_range_t *want, size_t n)
{
	cr_assert_eq(rs->n, n, "%zu ranges, expected %zu", rs->n, n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(rs->r[i].lo, want[i].lo, "range %zu: lo %#lx", i,
			     (unsigned long)rs->r[i].lo);
		cr_assert_eq(rs->r[i].hi, want[i].hi, "range %zu: hi %#lx", i,
			     (unsigned long)rs->r[i].hi);
	}
}

Test(tracker_leak, roots_without_blocks)
{
	mo_lk_map_t m[32];
	size_t n = parse(m);
	ranges_t rs = {.n = 0};
	mo_lk_roots(m, n, NULL, 0, NULL, 0, collect, &rs);
	/* not: r--p, [heap], the arena heap at 7ffff0000000 (its reserve
	 * follows and ends 64 MiB after it), the device, [vvar], [vdso],
	 * [vsyscall], ---p */
	const mo_lk_range_t want[] = {
		{0x555555558000, 0x55555555a000}, /* .data/.bss */
		{0x7ffff7000000, 0x7ffff7100000}, /* anonymous */
		{0x7ffff7101000, 0x7ffff7901000}, /* a thread stack */
		{0x7ffff7a00000, 0x7ffff7a10000}, /* /dev/shm */
		{0x7ffff7c00000, 0x7ffff7c01000}, /* /dev/zero shared */
		{0x7ffff7d00000, 0x7ffff7d02000}, /* [anon:scratch] */
		{0x7ffffffde000, 0x7ffffffff000}, /* [stack] */
		{0x7ffff7e00000, 0x7ffff7e01000},
	};
	expect(&rs, want, sizeof(want) / sizeof(want[0]));
}

Test(tracker_leak, roots_gaps_and_skips)
{
	mo_lk_map_t m[32];
	size_t n = parse(m);
	/* blocks: one in the heap, two mmapped chunks in the anonymous
	 * mapping (one of size 0), one in the arena heap */
	const mo_scan_block_t blocks[] = {
		{0x55555555a010, 32},
		{0x7ffff0000100, 64},
		{0x7ffff7010010, 0x1000},
		{0x7ffff7050000, 0},
	};
	mo_lk_range_t skip[] = {
		{0x7ffffffde000, 0x7fffffff0000}, /* dead part of the stack */
		{0x7ffff7a00000, 0x7ffff7a10000}, /* the ring */
		{0x7ffff7101000, 0x7ffff7102000}, /* part of a stack */
	};
	mo_lk_sort_ranges(skip, 3);
	cr_assert_eq(skip[0].lo, 0x7ffff7101000ull);
	cr_assert_eq(skip[2].lo, 0x7ffffffde000ull);
	ranges_t rs = {.n = 0};
	mo_lk_roots(m, n, blocks, 4, skip, 3, collect, &rs);
	const mo_lk_range_t want[] = {
		{0x555555558000, 0x55555555a000},
		{0x7ffff7000000, 0x7ffff7010010},
		{0x7ffff7011010, 0x7ffff7050000},
		{0x7ffff7050000, 0x7ffff7100000},
		{0x7ffff7102000, 0x7ffff7901000},
		{0x7ffff7c00000, 0x7ffff7c01000},
		{0x7ffff7d00000, 0x7ffff7d02000},
		{0x7fffffff0000, 0x7ffffffff000},
		{0x7ffff7e00000, 0x7ffff7e01000},
	};
	expect(&rs, want, sizeof(want) / sizeof(want[0]));
}

Test(tracker_leak, roots_arena_heap_shapes)
{
	/* a full-size arena heap (no reserve after it), an arena heap merged
	 * with the anonymous mapping below it, and a 64 MiB-aligned mapping
	 * whose inaccessible neighbour does not end 64 MiB after it */
	static const char text[] =
		"7f0000000000-7f0004000000 rw-p 00000000 00:00 0\n"
		"7f0007f00000-7f0008100000 rw-p 00000000 00:00 0\n"
		"7f0008100000-7f000c000000 ---p 00000000 00:00 0\n"
		"7f0010000000-7f0010100000 rw-p 00000000 00:00 0\n"
		"7f0010100000-7f0010200000 ---p 00000000 00:00 0\n";
	mo_lk_map_t m[8];
	size_t n = mo_lk_parse_maps(text, sizeof(text) - 1, m, 8);
	cr_assert_eq(n, 5);
	ranges_t rs = {.n = 0};
	mo_lk_roots(m, n, NULL, 0, NULL, 0, collect, &rs);
	const mo_lk_range_t want[] = {
		{0x7f0007f00000, 0x7f0008000000},
		{0x7f0010000000, 0x7f0010100000},
	};
	expect(&rs, want, sizeof(want) / sizeof(want[0]));
}

Test(tracker_leak, stack_range)
{
	mo_lk_map_t m[32];
	size_t n = parse(m);
	mo_lk_range_t scan, skip;
	/* the main stack: from sp - 128 to its end, the whole mapping below
	 * left out of the roots */
	cr_assert_eq(
		mo_lk_stack_range(m, n, NULL, 0, 0x7fffffffe000, &scan, &skip),
		0);
	cr_assert_eq(scan.lo, 0x7fffffffe000ull - 128);
	cr_assert_eq(scan.hi, 0x7ffffffff000ull);
	cr_assert_eq(skip.lo, 0x7ffffffde000ull);
	cr_assert_eq(skip.hi, 0x7ffffffff000ull);
	/* red zone cut at the mapping's start */
	cr_assert_eq(
		mo_lk_stack_range(m, n, NULL, 0, 0x7ffff7101010, &scan, &skip),
		0);
	cr_assert_eq(scan.lo, 0x7ffff7101000ull);
	cr_assert_eq(scan.hi, 0x7ffff7901000ull);
	/* not in a readable, writable mapping */
	cr_assert_eq(
		mo_lk_stack_range(m, n, NULL, 0, 0x7ffff7100800, &scan, &skip),
		-ENOENT);
	cr_assert_eq(mo_lk_stack_range(m, n, NULL, 0, 0x1000, &scan, &skip),
		     -ENOENT);
	/* a stack inside a heap block, and one ended by the next block */
	const mo_scan_block_t blocks[] = {
		{0x7ffff7010000, 0x10000},
		{0x7ffff7080000, 0x100},
	};
	cr_assert_eq(mo_lk_stack_range(m, n, blocks, 2, 0x7ffff7010040, &scan,
				       &skip),
		     0);
	cr_assert_eq(scan.lo, 0x7ffff7010000ull);
	cr_assert_eq(scan.hi, 0x7ffff7020000ull);
	cr_assert_eq(skip.lo, skip.hi);
	cr_assert_eq(mo_lk_stack_range(m, n, blocks, 2, 0x7ffff7040000, &scan,
				       &skip),
		     0);
	cr_assert_eq(scan.lo, 0x7ffff7040000ull - 128);
	cr_assert_eq(scan.hi, 0x7ffff7080000ull);
	cr_assert_eq(skip.lo, 0x7ffff7000000ull);
	cr_assert_eq(skip.hi, 0x7ffff7080000ull);
	/* the red zone does not reach into the block below */
	cr_assert_eq(mo_lk_stack_range(m, n, blocks, 2, 0x7ffff7020010, &scan,
				       &skip),
		     0);
	cr_assert_eq(scan.lo, 0x7ffff7020000ull);
}

/* --- the scan in tracked processes --------------------------------------- */

typedef struct leak_result {
	int scans;	/* MO_REC_LEAKS records, continuations excepted */
	uint64_t flags; /* of the last scan */
	uint64_t threads;
	uint64_t scanned;
	uint64_t sizes[2048]; /* block number -> size of the block, if small */
	uint8_t kinds[2048];  /* block number -> kind */
} leak_result_t;

static uint64_t get_uv(const uint8_t **p, const uint8_t *end)
{
	uint64_t v = 0;
	for (int s = 0; *p < end && s < 64; s += 7) {
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << s;
		if (!(b & 0x80))
			break;
	}
	return v;
}

static void note_leaks(leak_result_t *res, const mo_event_t *ev)
{
	const uint8_t *p = ev->u.ext.data, *end = p + ev->u.ext.len;
	uint64_t flags = get_uv(&p, end);
	uint64_t threads = get_uv(&p, end);
	uint64_t scanned = get_uv(&p, end);
	uint64_t n = get_uv(&p, end);
	if (!(flags & MO_LEAKS_CONTINUED)) {
		res->scans++;
		res->flags = flags;
		res->threads = threads;
		res->scanned = scanned;
	}
	uint64_t block = 0;
	for (uint64_t i = 0; i < n && p < end; i++) {
		block += get_uv(&p, end);
		uint64_t kind = get_uv(&p, end);
		if (block < 2048)
			res->kinds[block] = (uint8_t)kind;
	}
}

/* Reads the streams of trace path: res[0] for the process with pid, res[1]
 * for any other. */
static void read_trace(const char *path, int64_t pid, leak_result_t *res)
{
	mo_tr_t *tr;
	cr_assert_eq(mo_tr_open(&tr, path), 0, "cannot read %s", path);
	mo_event_t ev;
	uint32_t main_stream = UINT32_MAX;
	uint64_t nalloc[2] = {0, 0};
	while (mo_tr_next(tr, &ev) == 1) {
		if (ev.type == MO_REC_PROC_START && ev.u.start.pid == pid)
			main_stream = ev.stream;
		int w = ev.stream == main_stream ? 0 : 1;
		if (ev.type == MO_REC_ALLOC) {
			nalloc[w]++;
			if (ev.u.alloc.ptr < 2048)
				res[w].sizes[ev.u.alloc.ptr] = ev.u.alloc.size;
		} else if (ev.type == MO_REC_LEAKS) {
			note_leaks(&res[w], &ev);
		}
	}
	mo_tr_close(tr);
}

/* Kind of the block of the given size; -1 if there is none. */
static int kind_of(const leak_result_t *res, uint64_t size)
{
	for (int b = 1; b < 2048; b++)
		if (res->sizes[b] == size)
			return res->kinds[b];
	return -1;
}

typedef struct run {
	char *dir, *trace;
	int status;
	int64_t pid;
	leak_result_t res[2];
} run_t;

/* Runs tp_leaks MODE under memopt record (with extra options). */
static run_t *record(const char *mode, const char *opt)
{
	run_t *r = calloc(1, sizeof(*r));
	r->dir = mo_run_mkdtemp("leak");
	cr_assert_not_null(r->dir);
	r->trace = mo_run_join(r->dir, "t.data");
	char *memopt = mo_run_build_path("cli/memopt");
	char *prog = mo_run_build_path("tests/programs/tp_leaks");
	const char *argv[8];
	int i = 0;
	argv[i++] = memopt;
	argv[i++] = "record";
	argv[i++] = "-q";
	if (opt)
		argv[i++] = opt;
	argv[i++] = "-o";
	argv[i++] = r->trace;
	argv[i++] = prog;
	argv[i++] = mode;
	argv[i] = NULL;
	mo_run_result_t out;
	mo_run_opts_t o;
	memset(&o, 0, sizeof(o));
	cr_assert_eq(mo_run(argv, &o, &out), 0);
	r->status = mo_run_exit_code(out.status);
	mo_run_result_free(&out);
	/* the first process's pid: the first PROC_START's */
	mo_tr_t *tr;
	mo_event_t ev;
	cr_assert_eq(mo_tr_open(&tr, r->trace), 0);
	r->pid = -1;
	while (r->pid < 0 && mo_tr_next(tr, &ev) == 1)
		if (ev.type == MO_REC_PROC_START)
			r->pid = ev.u.start.pid;
	mo_tr_close(tr);
	read_trace(r->trace, r->pid, r->res);
	free(memopt);
	free(prog);
	return r;
}

static void run_free(run_t *r)
{
	mo_run_rmtree(r->dir);
	free(r->dir);
	free(r->trace);
	free(r);
}

static void expect_program_kinds(const leak_result_t *res, int thread_kind)
{
	cr_assert_eq(kind_of(res, 1001), MO_LEAK_REACHABLE);
	cr_assert_eq(kind_of(res, 1002), MO_LEAK_DEFINITE);
	cr_assert_eq(kind_of(res, 1003), MO_LEAK_DEFINITE);
	cr_assert_eq(kind_of(res, 1004), MO_LEAK_INDIRECT);
	cr_assert_eq(kind_of(res, 1005), MO_LEAK_POSSIBLE);
	cr_assert_eq(kind_of(res, 1006), thread_kind);
}

Test(tracker_leak, scan_at_exit)
{
	run_t *r = record("exit", NULL);
	cr_assert_eq(r->status, 3);
	cr_assert_eq(r->res[0].scans, 1);
	cr_assert_eq(r->res[0].flags, MO_SCAN_AT_EXIT);
	cr_assert_eq(r->res[0].threads, 1);
	cr_assert_geq(r->res[0].scanned, 5);
	expect_program_kinds(&r->res[0], -1);
	/* the scan came after the atexit handlers and the destructors */
	cr_assert_eq(kind_of(&r->res[0], 1008), MO_LEAK_DEFINITE);
	cr_assert_eq(kind_of(&r->res[0], 1009), MO_LEAK_DEFINITE);
	run_free(r);
}

Test(tracker_leak, disabled)
{
	run_t *r = record("exit", "--no-leak-check");
	cr_assert_eq(r->status, 3);
	cr_assert_eq(r->res[0].scans, 0);
	run_free(r);
}

Test(tracker_leak, roots_on_another_thread)
{
	run_t *r = record("thread", NULL);
	cr_assert_eq(r->status, 3);
	cr_assert_eq(r->res[0].scans, 1);
	cr_assert_eq(r->res[0].flags, MO_SCAN_AT_EXIT);
	cr_assert_eq(r->res[0].threads, 2);
	expect_program_kinds(&r->res[0], MO_LEAK_REACHABLE);
	run_free(r);
}

Test(tracker_leak, roots_in_tls)
{
	run_t *r = record("tls", NULL);
	cr_assert_eq(r->status, 3);
	cr_assert_eq(r->res[0].threads, 2);
	expect_program_kinds(&r->res[0], MO_LEAK_REACHABLE);
	run_free(r);
}

/* The process dies of the signal as it would without memopt. */
static void expect_signal_death(const char *mode, int sig)
{
	char *prog = mo_run_build_path("tests/programs/tp_leaks");
	pid_t pid = fork();
	if (pid == 0) {
		/* no core file from the test */
		struct rlimit rl = {0, 0};
		setrlimit(RLIMIT_CORE, &rl);
		execl(prog, prog, mode, (char *)NULL);
		_exit(127);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st));
	cr_assert_eq(WTERMSIG(st), sig);
	free(prog);

	run_t *r = record(mode, NULL);
	cr_assert_eq(r->status, 128 + sig);
	cr_assert_eq(r->res[0].scans, 1);
	cr_assert_eq(r->res[0].flags, MO_SCAN_AT_SIGNAL);
	expect_program_kinds(&r->res[0], -1);
	run_free(r);
}

Test(tracker_leak, scan_at_abort)
{
	expect_signal_death("abort", SIGABRT);
}

Test(tracker_leak, scan_at_segv)
{
	expect_signal_death("segv", SIGSEGV);
}

Test(tracker_leak, program_handler_wins)
{
	run_t *r = record("handler", NULL);
	/* its handler ran (and called _exit(), which scans) */
	cr_assert_eq(r->status, 4);
	cr_assert_eq(r->res[0].scans, 1);
	cr_assert_eq(r->res[0].flags, MO_SCAN_AT_EXIT);
	run_free(r);
}

Test(tracker_leak, handlers_hidden)
{
	run_t *r = record("sigaction", NULL);
	cr_assert_eq(r->status, 3);
	cr_assert_eq(r->res[0].scans, 1);
	run_free(r);
}

Test(tracker_leak, forked_child_scans_its_heap)
{
	run_t *r = record("fork", NULL);
	cr_assert_eq(r->status, 3);
	cr_assert_eq(r->res[0].scans, 1);
	cr_assert_eq(r->res[1].scans, 1);
	cr_assert_eq(r->res[1].flags, MO_SCAN_AT_EXIT);
	/* the child's stream numbers its own allocations after the
	 * parent's: 1007 is the only one it makes */
	cr_assert_eq(kind_of(&r->res[1], 1007), MO_LEAK_DEFINITE);
	cr_assert_eq(kind_of(&r->res[0], 1007), -1);
	run_free(r);
}

/* --- finding malloc's main arena ----------------------------------------- */

typedef struct fake_mem {
	uint64_t data_lo, heap_lo;
	uint64_t data[512]; /* "libc's data" at data_lo */
	uint64_t heap[64];  /* "[heap]" at heap_lo */
} fake_mem_t;

static int fake_word(void *ctx, uint64_t addr, uint64_t *v)
{
	fake_mem_t *m = ctx;
	if (addr >= m->data_lo && addr + 8 <= m->data_lo + sizeof(m->data)) {
		*v = m->data[(addr - m->data_lo) / 8];
		return 0;
	}
	if (addr >= m->heap_lo && addr + 8 <= m->heap_lo + sizeof(m->heap)) {
		*v = m->heap[(addr - m->heap_lo) / 8];
		return 0;
	}
	return -EFAULT;
}

Test(tracker_leak, main_arena)
{
	static fake_mem_t m;
	memset(&m, 0, sizeof(m));
	m.data_lo = 0x7f0000001000;
	m.heap_lo = 0x555500000000;
	uint64_t heap_hi = m.heap_lo + sizeof(m.heap);
	uint64_t base = m.data_lo + 0x100;
	/* top: the chunk at heap offset 0x100, to the heap's end */
	uint64_t top = m.heap_lo + 0x100;
	m.heap[0x100 / 8 + 1] = (heap_hi - top) | 1;
	uint64_t top_at = base + MO_LK_ARENA_TOP;
	/* a decoy before it: points into the heap, wrong size */
	m.data[(top_at - 0x40 - m.data_lo) / 8] = m.heap_lo + 0x40;
	m.data[(top_at - m.data_lo) / 8] = top;
	cr_assert_eq(mo_lk_main_arena(m.data_lo, m.data_lo + sizeof(m.data),
				      m.heap_lo, heap_hi, fake_word, &m),
		     0, "no empty bins: not an arena");
	for (int i = 0; i < 127; i++) {
		uint64_t at = base + MO_LK_ARENA_BINS + 16 * (uint64_t)i;
		m.data[(at - m.data_lo) / 8] = at - 16;
		m.data[(at + 8 - m.data_lo) / 8] = at - 16;
	}
	cr_assert_eq(mo_lk_main_arena(m.data_lo, m.data_lo + sizeof(m.data),
				      m.heap_lo, heap_hi, fake_word, &m),
		     base);
	/* the arena does not fit in the range */
	cr_assert_eq(mo_lk_main_arena(m.data_lo, base + MO_LK_ARENA_SIZE - 8,
				      m.heap_lo, heap_hi, fake_word, &m),
		     0);
	/* the heap ends elsewhere */
	cr_assert_eq(mo_lk_main_arena(m.data_lo, m.data_lo + sizeof(m.data),
				      m.heap_lo, heap_hi + 4096, fake_word, &m),
		     0);
}
