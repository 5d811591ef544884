/*
 * Tests for the trace codec, writer and reader, the error strings and the
 * formatting helpers (suite "trace").
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <zlib.h>

#include "errors.h"
#include "ev_eq.h"
#include "trace_codec.h"
#include "trace_reader.h"
#include "trace_writer.h"
#include "util.h"

/* --- temporary files --- */

static char tmp_dir[64];
static char tmp_files[16][128];
static int tmp_nfiles;

static void setup(void)
{
	strcpy(tmp_dir, "/tmp/memopt-test-trace-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp_dir));
	tmp_nfiles = 0;
}

static void teardown(void)
{
	for (int i = 0; i < tmp_nfiles; i++)
		unlink(tmp_files[i]);
	rmdir(tmp_dir);
}

TestSuite(trace, .init = setup, .fini = teardown);

/* A path in the test's directory, removed by teardown(). */
static const char *tmp_path(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	for (int i = 0; i < tmp_nfiles; i++)
		if (strcmp(tmp_files[i], path) == 0)
			return tmp_files[i];
	cr_assert_lt(tmp_nfiles, 16);
	strcpy(tmp_files[tmp_nfiles], path);
	return tmp_files[tmp_nfiles++];
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void spit(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* --- deterministic pseudo-random values --- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A value of random magnitude, so every varint length shows up. */
static uint64_t rnd_val(uint64_t *s)
{
	return rnd(s) >> (rnd(s) % 64);
}

/* --- event generation and comparison --- */

typedef struct gen {
	uint64_t rng;
	uint64_t heap; /* pointers mostly cluster around this */
	uint64_t ips[128];
	mo_module_rec_t mods[4];
	mo_str_t strs[4];
	char text[4][32];
	uint8_t ext[40];
} gen_t;

static void gen_init(gen_t *g, uint64_t seed)
{
	memset(g, 0, sizeof(*g));
	g->rng = seed;
	g->heap = 0x555555550000ull;
}

static uint64_t gen_ptr(gen_t *g)
{
	if (rnd(&g->rng) % 8 == 0)
		return rnd(&g->rng); /* anywhere: large deltas */
	return g->heap + (rnd(&g->rng) % (1u << 24)) * 16;
}

static mo_str_t gen_str(gen_t *g, int i)
{
	size_t len = rnd(&g->rng) % sizeof(g->text[i]);

	for (size_t k = 0; k < len; k++)
		g->text[i][k] = (char)(rnd(&g->rng) & 0xff);
	return (mo_str_t){g->text[i], len};
}

static void gen_rare(gen_t *g, mo_event_t *ev)
{
	uint32_t n;

	switch (rnd(&g->rng) % 8) {
	case 0:
		ev->type = MO_REC_MODMAP;
		n = (uint32_t)(rnd(&g->rng) % 3);
		for (uint32_t i = 0; i < n; i++) {
			g->mods[i].start = rnd_val(&g->rng);
			g->mods[i].end = rnd_val(&g->rng);
			g->mods[i].bias = rnd_val(&g->rng);
			g->mods[i].path = gen_str(g, (int)i);
			g->mods[i].build_id = gen_str(g, 3);
		}
		ev->u.modmap.n = n;
		ev->u.modmap.mods = g->mods;
		break;
	case 1:
		ev->type = MO_REC_PROC_START;
		ev->u.start.pid = (uint32_t)rnd(&g->rng);
		ev->u.start.ppid = (uint32_t)rnd(&g->rng);
		ev->u.start.flags = rnd_val(&g->rng);
		ev->u.start.realtime_ns = rnd_val(&g->rng);
		ev->u.start.mono_ns = rnd_val(&g->rng);
		ev->u.start.exe = gen_str(g, 3);
		n = (uint32_t)(rnd(&g->rng) % 4);
		for (uint32_t i = 0; i < n; i++)
			g->strs[i] = gen_str(g, (int)i);
		ev->u.start.argc = n;
		ev->u.start.argv = g->strs;
		break;
	case 2:
		ev->type = MO_REC_EXT_FIRST + (int)(rnd(&g->rng) % 64);
		ev->u.ext.len = (uint32_t)(rnd(&g->rng) % sizeof(g->ext));
		for (uint32_t i = 0; i < ev->u.ext.len; i++)
			g->ext[i] = (uint8_t)rnd(&g->rng);
		ev->u.ext.data = g->ext;
		break;
	case 3:
		ev->type = MO_REC_FORK;
		ev->u.fork.pid = (uint32_t)rnd(&g->rng);
		break;
	case 4:
		ev->type = MO_REC_EXIT;
		ev->u.exit.kind = (uint32_t)(rnd(&g->rng) % 4);
		ev->u.exit.value = rnd_val(&g->rng);
		break;
	case 5:
		ev->type = MO_REC_RSS;
		ev->u.rss.rss = rnd_val(&g->rng);
		ev->u.rss.hwm = rnd_val(&g->rng);
		break;
	case 6:
		ev->type = MO_REC_LOST;
		ev->u.lost.bytes = rnd_val(&g->rng);
		break;
	default:
		ev->type = MO_REC_END;
		break;
	}
}

/* Fills ev with a random record; its pointers point into g. */
static void gen_event(gen_t *g, mo_event_t *ev)
{
	unsigned k = (unsigned)(rnd(&g->rng) % 100);

	memset(ev, 0, sizeof(*ev));
	if (k < 40) {
		ev->type = MO_REC_ALLOC;
		ev->u.alloc.fn = 1 + (uint32_t)(rnd(&g->rng) % 9);
		ev->u.alloc.ptr = gen_ptr(g);
		ev->u.alloc.size = rnd_val(&g->rng);
		ev->u.alloc.stack = rnd(&g->rng) % 5000;
	} else if (k < 72) {
		ev->type = MO_REC_FREE;
		ev->u.free.ptr = gen_ptr(g);
	} else if (k < 76) {
		ev->type = MO_REC_REALLOC_PRE;
		ev->u.free.ptr = gen_ptr(g);
	} else if (k < 78) {
		ev->type = MO_REC_REALLOC_FAIL;
		ev->u.free.ptr = gen_ptr(g);
	} else if (k < 86) {
		ev->type = MO_REC_REALLOC;
		ev->u.realloc.fn = 1 + (uint32_t)(rnd(&g->rng) % 9);
		ev->u.realloc.old_ptr = gen_ptr(g);
		ev->u.realloc.new_ptr = k == 85 ? 0 : gen_ptr(g);
		ev->u.realloc.size = rnd_val(&g->rng);
		ev->u.realloc.stack = rnd(&g->rng) % 5000;
	} else if (k < 92) {
		ev->type = MO_REC_TICK;
		ev->u.tick.ns = rnd_val(&g->rng);
	} else if (k < 97) {
		uint32_t n = 1 + (uint32_t)(rnd(&g->rng) % 128);

		ev->type = MO_REC_STACK;
		ev->u.stack.id = rnd_val(&g->rng);
		for (uint32_t i = 0; i < n; i++)
			g->ips[i] = i % 5 == 4
					    ? rnd(&g->rng)
					    : 0x400000 + rnd(&g->rng) % 65536;
		ev->u.stack.n = n;
		ev->u.stack.ips = g->ips;
	} else {
		gen_rare(g, ev);
	}
}

/* --- util.c --- */

Test(trace, fmt_bytes)
{
	static const struct {
		uint64_t v;
		const char *s;
	} cases[] = {
		{0, "0 B"},
		{1, "1 B"},
		{512, "512 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{12897485, "12.3 MiB"},
		{1048575, "1.0 MiB"},
		{(uint64_t)3 << 30, "3.0 GiB"},
		{(uint64_t)5 << 40, "5.0 TiB"},
		{UINT64_MAX, "16.0 EiB"},
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_str_eq(mo_fmt_bytes(buf, sizeof(buf), cases[i].v),
				 cases[i].s, "bytes %lu",
				 (unsigned long)cases[i].v);
	cr_expect_str_eq(mo_fmt_bytes(buf, 4, 1536), "1.5");
}

Test(trace, fmt_count)
{
	char buf[32];

	cr_expect_str_eq(mo_fmt_count(buf, sizeof(buf), 0), "0");
	cr_expect_str_eq(mo_fmt_count(buf, sizeof(buf), 999), "999");
	cr_expect_str_eq(mo_fmt_count(buf, sizeof(buf), 1000), "1,000");
	cr_expect_str_eq(mo_fmt_count(buf, sizeof(buf), 123456), "123,456");
	cr_expect_str_eq(mo_fmt_count(buf, sizeof(buf), 1234567), "1,234,567");
	cr_expect_str_eq(mo_fmt_count(buf, sizeof(buf), UINT64_MAX),
			 "18,446,744,073,709,551,615");
}

Test(trace, fmt_duration)
{
	char buf[32];

	cr_expect_str_eq(mo_fmt_duration(buf, sizeof(buf), 0), "0 ns");
	cr_expect_str_eq(mo_fmt_duration(buf, sizeof(buf), 999), "999 ns");
	cr_expect_str_eq(mo_fmt_duration(buf, sizeof(buf), 850000), "850 us");
	cr_expect_str_eq(mo_fmt_duration(buf, sizeof(buf), 999999), "999 us");
	cr_expect_str_eq(mo_fmt_duration(buf, sizeof(buf), 123456789),
			 "123 ms");
	cr_expect_str_eq(mo_fmt_duration(buf, sizeof(buf), 4560000000ull),
			 "4.56 s");
	cr_expect_str_eq(mo_fmt_duration(buf, sizeof(buf), 59999999999ull),
			 "59.99 s");
	cr_expect_str_eq(mo_fmt_duration(buf, sizeof(buf), 123000000000ull),
			 "2 min 3 s");
	cr_expect_str_eq(mo_fmt_duration(buf, sizeof(buf), 3723000000000ull),
			 "1 h 2 min");
}

Test(trace, parse_size_valid)
{
	static const struct {
		const char *s;
		uint64_t v;
	} cases[] = {
		{"0", 0},
		{"100", 100},
		{"7B", 7},
		{"10K", 10240},
		{"10k", 10240},
		{"10KB", 10240},
		{"10KiB", 10240},
		{"10kib", 10240},
		{"1.5M", 1572864},
		{"2G", (uint64_t)2 << 30},
		{"1T", (uint64_t)1 << 40},
		{"0.5k", 512},
		{"16777215T", UINT64_MAX - ((uint64_t)1 << 40) + 1},
		{"18446744073709551615", UINT64_MAX},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 42;

		cr_expect_eq(mo_parse_size(cases[i].s, &v), 0, "%s",
			     cases[i].s);
		cr_expect_eq(v, cases[i].v, "%s", cases[i].s);
	}
}

Test(trace, parse_size_invalid)
{
	static const char *const bad[] = {
		"",    "K",  "B",   "10X",  "-1",   "+1",    " 1",  "1 ",
		"1.5", "1.", ".5K", "10Ki", "10iB", "10KBB", "1e3", "0x10",
	};
	uint64_t v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(mo_parse_size(bad[i], &v), -EINVAL, "'%s'",
			     bad[i]);
	cr_expect_eq(mo_parse_size("18446744073709551616", &v), -ERANGE);
	cr_expect_eq(mo_parse_size("16777216T", &v), -ERANGE);
	cr_expect_eq(mo_parse_size("99999999999999999999999K", &v), -ERANGE);
	cr_expect_eq(v, 42);
}

/* --- errors.c --- */

Test(trace, strerror)
{
	cr_expect_str_eq(mo_strerror(MO_ENOTTRACE), "not a memopt trace file");
	cr_expect_str_eq(mo_strerror(MO_EVERSION),
			 "unsupported trace format version");
	cr_expect_str_eq(mo_strerror(MO_ETRUNC), "trace file is truncated");
	cr_expect_str_eq(mo_strerror(MO_ECORRUPT), "trace data is corrupt");
	cr_expect_str_eq(mo_strerror(MO_EBADHDR),
			 "trace file header is corrupt (checksum mismatch)");
	cr_expect_str_eq(mo_strerror(-ENOENT), "No such file or directory");
	cr_expect_str_eq(mo_strerror(-ENOSPC), "No space left on device");
	cr_expect_str_eq(mo_strerror(-(MO_EBASE + 99)), "unknown error -10099");
}

/* --- varints and the codec --- */

static void expect_tick_roundtrip(uint64_t v, size_t len)
{
	uint8_t buf[16];
	uint8_t *e = mo_enc_u1(buf, MO_REC_TICK, v);
	mo_dec_t d;
	mo_event_t ev;

	cr_expect_eq((size_t)(e - buf), 1 + len, "uv %llu",
		     (unsigned long long)v);
	mo_dec_init(&d);
	mo_dec_block(&d, buf, (size_t)(e - buf));
	cr_expect_eq(mo_dec_next(&d, &ev), 1);
	cr_expect_eq(ev.type, MO_REC_TICK);
	cr_expect_eq(ev.u.tick.ns, v);
	cr_expect_eq(mo_dec_next(&d, &ev), 0);
	mo_dec_free(&d);
}

Test(trace, varint_edges)
{
	static const uint8_t max[] = {0xff, 0xff, 0xff, 0xff, 0xff,
				      0xff, 0xff, 0xff, 0xff, 0x01};
	uint8_t buf[16];

	expect_tick_roundtrip(0, 1);
	expect_tick_roundtrip(127, 1);
	expect_tick_roundtrip(128, 2);
	expect_tick_roundtrip(16383, 2);
	expect_tick_roundtrip(16384, 3);
	expect_tick_roundtrip((uint64_t)1 << 63, 10);
	expect_tick_roundtrip(UINT64_MAX, 10);
	cr_expect_eq(mo_put_uv(buf, 128) - buf, 2);
	cr_expect_eq(buf[0], 0x80);
	cr_expect_eq(buf[1], 0x01);
	cr_expect_eq(mo_put_uv(buf, UINT64_MAX) - buf, 10);
	cr_expect_arr_eq(buf, max, sizeof(max));
}

Test(trace, zigzag_edges)
{
	static const int64_t vals[] = {0,   -1, 1,	   -64,	     63,
				       -65, 64, INT64_MIN, INT64_MAX};

	cr_expect_eq(mo_zigzag(0), 0);
	cr_expect_eq(mo_zigzag(-1), 1);
	cr_expect_eq(mo_zigzag(1), 2);
	cr_expect_eq(mo_zigzag(INT64_MAX), UINT64_MAX - 1);
	cr_expect_eq(mo_zigzag(INT64_MIN), UINT64_MAX);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		cr_expect_eq(mo_unzigzag(mo_zigzag(vals[i])), vals[i]);
}

Test(trace, addr_deltas_wrap)
{
	static const uint64_t ptrs[] = {
		0,  UINT64_MAX, 0, (uint64_t)1 << 63, 1, 0x7fffffffffffffffull,
		16, 8};
	size_t n = sizeof(ptrs) / sizeof(ptrs[0]);
	uint8_t buf[128], *e = buf;
	uint64_t base = 0;
	mo_dec_t d;
	mo_event_t ev;

	for (size_t i = 0; i < n; i++)
		e = mo_enc_ptr(e, &base, MO_REC_FREE, ptrs[i]);
	mo_dec_init(&d);
	mo_dec_block(&d, buf, (size_t)(e - buf));
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(mo_dec_next(&d, &ev), 1);
		cr_expect_eq(ev.type, MO_REC_FREE);
		cr_expect_eq(ev.u.free.ptr, ptrs[i], "ptr %zu", i);
	}
	cr_expect_eq(mo_dec_next(&d, &ev), 0);
	/* base restarts with every block */
	mo_dec_block(&d, buf, (size_t)(e - buf));
	cr_assert_eq(mo_dec_next(&d, &ev), 1);
	cr_expect_eq(ev.u.free.ptr, 0);
	mo_dec_free(&d);
}

/* Encodes ev with mo_enc_event, checks the size prediction and NULL for
 * every too-small buffer, decodes it back, and checks that re-encoding the
 * decoded event gives the same bytes. */
static void expect_roundtrip(const mo_event_t *ev)
{
	static uint8_t buf[8192], buf2[8192];
	uint64_t base = 0x1000, base2 = 0x1000;
	size_t size = mo_enc_event_size(ev, base);
	uint8_t *e;
	mo_dec_t d;
	mo_event_t out;

	cr_assert_gt(size, 0, "type %#x", ev->type);
	for (size_t cut = 0; cut < size; cut++) {
		uint64_t b = base;

		cr_assert_null(mo_enc_event(buf, buf + cut, &b, ev));
		cr_assert_eq(b, base);
	}
	/* A prefix record moves the decoder's base to 0x1000 too. */
	buf[0] = MO_REC_FREE;
	e = mo_put_sv(buf + 1, 0x1000);
	e = mo_enc_event(e, e + size, &base, ev);
	cr_assert_not_null(e, "type %#x", ev->type);
	mo_dec_init(&d);
	mo_dec_block(&d, buf, (size_t)(e - buf));
	cr_assert_eq(mo_dec_next(&d, &out), 1);
	cr_assert_eq(out.u.free.ptr, 0x1000);
	cr_assert_eq(mo_dec_next(&d, &out), 1, "type %#x", ev->type);
	cr_expect(ev_eq(ev, &out), "type %#x differs", ev->type);
	cr_expect_eq(mo_dec_next(&d, &out), 0);
	cr_expect_eq(d.base, base);
	/* Re-encoding the decoded event reproduces the bytes. */
	memcpy(buf2, buf, (size_t)(e - buf) - size);
	cr_assert_not_null(mo_enc_event(buf2 + ((size_t)(e - buf) - size),
					buf2 + sizeof(buf2), &base2, &out));
	cr_expect_arr_eq(buf2, buf, (size_t)(e - buf));
	mo_dec_free(&d);
}

Test(trace, roundtrip_simple_records)
{
	mo_event_t ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_ALLOC;
	ev.u.alloc.fn = MO_FN_POSIX_MEMALIGN;
	ev.u.alloc.ptr = 0x7f0012345670;
	ev.u.alloc.size = 1u << 20;
	ev.u.alloc.stack = 77;
	expect_roundtrip(&ev);
	ev.u.alloc.ptr = 0; /* below the base */
	expect_roundtrip(&ev);

	memset(&ev, 0, sizeof(ev));
	for (int t = MO_REC_FREE; t <= MO_REC_REALLOC_FAIL; t += 1) {
		if (t == MO_REC_REALLOC)
			continue;
		ev.type = t;
		ev.u.free.ptr = UINT64_MAX - (uint64_t)t;
		expect_roundtrip(&ev);
	}

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_REALLOC;
	ev.u.realloc.fn = MO_FN_REALLOC;
	ev.u.realloc.old_ptr = 0x5555aaaa0000;
	ev.u.realloc.new_ptr = 0;
	ev.u.realloc.size = 0;
	ev.u.realloc.stack = UINT64_MAX;
	expect_roundtrip(&ev);

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_TICK;
	ev.u.tick.ns = 123456789012ull;
	expect_roundtrip(&ev);

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_FORK;
	ev.u.fork.pid = UINT32_MAX;
	expect_roundtrip(&ev);

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_EXIT;
	ev.u.exit.kind = MO_EXIT_SIGNAL;
	ev.u.exit.value = 11;
	expect_roundtrip(&ev);

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_RSS;
	ev.u.rss.rss = 1u << 30;
	ev.u.rss.hwm = (uint64_t)3 << 30;
	expect_roundtrip(&ev);

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_LOST;
	ev.u.lost.bytes = 4096;
	expect_roundtrip(&ev);

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_END;
	expect_roundtrip(&ev);
}

Test(trace, roundtrip_stack)
{
	uint64_t ips[128];
	mo_event_t ev;
	uint64_t s = 5;

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_STACK;
	ev.u.stack.id = 1;
	ips[0] = 0x401234;
	ev.u.stack.n = 1;
	ev.u.stack.ips = ips;
	expect_roundtrip(&ev);

	for (int i = 0; i < 128; i++)
		ips[i] = i % 3 ? 0x7f0000000000ull + rnd(&s) % 100000 : rnd(&s);
	ips[7] = 0;
	ips[8] = UINT64_MAX;
	ev.u.stack.id = UINT64_MAX;
	ev.u.stack.n = 128;
	expect_roundtrip(&ev);

	ev.u.stack.n = 0; /* empty stack is encodable too */
	expect_roundtrip(&ev);
}

Test(trace, roundtrip_modmap)
{
	mo_module_rec_t mods[3] = {
		{0x400000, 0x401000, 0, {"/usr/bin/prog", 13}, {"\x01\xab", 2}},
		{0x7f0000000000ull,
		 0x7f0000200000ull,
		 0x7f0000000000ull,
		 {"/lib/x86_64-linux-gnu/libc.so.6", 31},
		 {"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99", 10}},
		{0, UINT64_MAX, UINT64_MAX, {"", 0}, {"", 0}},
	};
	mo_event_t ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_MODMAP;
	ev.u.modmap.n = 3;
	ev.u.modmap.mods = mods;
	expect_roundtrip(&ev);
	ev.u.modmap.n = 0;
	expect_roundtrip(&ev);
}

Test(trace, roundtrip_proc_start)
{
	mo_str_t argv[3] = {{"prog", 4}, {"--flag", 6}, {"", 0}};
	mo_event_t ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_PROC_START;
	ev.u.start.pid = 4242;
	ev.u.start.ppid = 1;
	ev.u.start.flags = MO_PROC_FORKED;
	ev.u.start.realtime_ns = 1700000000123456789ull;
	ev.u.start.mono_ns = 987654321;
	ev.u.start.exe = (mo_str_t){"/usr/bin/prog", 13};
	ev.u.start.argc = 3;
	ev.u.start.argv = argv;
	expect_roundtrip(&ev);
	ev.u.start.argc = 0;
	expect_roundtrip(&ev);
}

Test(trace, roundtrip_extension)
{
	static const uint8_t blob[5] = {1, 2, 3, 0, 0xff};
	uint8_t buf[16] = {0x55, 3, 'a', 'b', 'c', MO_REC_END};
	mo_event_t ev;
	mo_dec_t d;

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_EXT_LAST;
	ev.u.ext.len = 5;
	ev.u.ext.data = blob;
	expect_roundtrip(&ev);
	ev.type = MO_REC_ACCESS_SAMPLE;
	ev.u.ext.len = 0;
	expect_roundtrip(&ev);

	/* An unknown extension kind is skipped by length. */
	mo_dec_init(&d);
	mo_dec_block(&d, buf, 6);
	cr_assert_eq(mo_dec_next(&d, &ev), 1);
	cr_expect_eq(ev.type, 0x55);
	cr_expect_eq(ev.u.ext.len, 3);
	cr_expect_eq(memcmp(ev.u.ext.data, "abc", 3), 0);
	cr_assert_eq(mo_dec_next(&d, &ev), 1);
	cr_expect_eq(ev.type, MO_REC_END);
	cr_expect_eq(mo_dec_next(&d, &ev), 0);
	mo_dec_free(&d);
}

Test(trace, enc_matches_inline_encoders)
{
	uint8_t a[64], b[64], *ea, *eb;
	uint64_t ba = 0, bb = 0;
	mo_event_t ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = MO_REC_ALLOC;
	ev.u.alloc.fn = MO_FN_MALLOC;
	ev.u.alloc.ptr = 0x5555000010;
	ev.u.alloc.size = 300;
	ev.u.alloc.stack = 9;
	ea = mo_enc_event(a, a + sizeof(a), &ba, &ev);
	eb = mo_enc_alloc(b, &bb, MO_FN_MALLOC, 0x5555000010, 300, 9);
	cr_assert_not_null(ea);
	cr_assert_eq(ea - a, eb - b);
	cr_expect_arr_eq(a, b, (size_t)(eb - b));
	cr_expect_eq(ba, bb);

	ev.type = 0x20; /* unknown fixed type: not encodable */
	cr_expect_eq(mo_enc_event_size(&ev, 0), 0);
	cr_expect_null(mo_enc_event(a, a + sizeof(a), &ba, &ev));
	ev.type = 0x80;
	cr_expect_null(mo_enc_event(a, a + sizeof(a), &ba, &ev));
}

Test(trace, random_records_roundtrip)
{
	static uint8_t block[1 << 20];
	gen_t g, g2;
	uint8_t *p = block;
	uint64_t base = 0;
	mo_event_t ev, exp;
	mo_dec_t d;
	int n = 0;

	gen_init(&g, 99);
	while (n < 20000) {
		gen_event(&g, &ev);
		p = mo_enc_event(p, block + sizeof(block), &base, &ev);
		cr_assert_not_null(p);
		n++;
	}
	gen_init(&g2, 99);
	mo_dec_init(&d);
	mo_dec_block(&d, block, (size_t)(p - block));
	for (int i = 0; i < n; i++) {
		gen_event(&g2, &exp);
		cr_assert_eq(mo_dec_next(&d, &ev), 1, "record %d", i);
		cr_assert(ev_eq(&exp, &ev), "record %d (type %#x) differs", i,
			  exp.type);
	}
	cr_expect_eq(mo_dec_next(&d, &ev), 0);
	mo_dec_free(&d);
}

/* --- malformed blocks --- */

static int dec_one(const void *buf, size_t len, mo_event_t *ev)
{
	mo_dec_t d;
	int ret;

	mo_dec_init(&d);
	mo_dec_block(&d, buf, len);
	ret = mo_dec_next(&d, ev);
	if (ret < 0) {
		/* the error sticks: the decoder stays at the bad record */
		cr_expect_eq(d.p, (const uint8_t *)buf);
		cr_expect_eq(mo_dec_next(&d, ev), ret);
	}
	mo_dec_free(&d);
	return ret;
}

Test(trace, malformed_varints)
{
	uint8_t buf[32];
	mo_event_t ev;

	/* 11-byte varint */
	buf[0] = MO_REC_TICK;
	memset(buf + 1, 0x80, 10);
	buf[11] = 0x01;
	cr_expect_eq(dec_one(buf, 12, &ev), MO_ECORRUPT);
	/* 10 bytes whose last byte overflows 64 bits */
	memset(buf + 1, 0xff, 9);
	buf[10] = 0x02;
	cr_expect_eq(dec_one(buf, 11, &ev), MO_ECORRUPT);
	/* ... and the largest legal one */
	buf[10] = 0x01;
	cr_expect_eq(dec_one(buf, 11, &ev), 1);
	cr_expect_eq(ev.u.tick.ns, UINT64_MAX);
	/* non-minimal but legal encoding of 0 */
	buf[1] = 0x80;
	buf[2] = 0x00;
	cr_expect_eq(dec_one(buf, 3, &ev), 1);
	cr_expect_eq(ev.u.tick.ns, 0);
	/* varint running into the end of the block */
	buf[1] = 0x80;
	buf[2] = 0x80;
	cr_expect_eq(dec_one(buf, 3, &ev), MO_ECORRUPT);
	cr_expect_eq(dec_one(buf, 1, &ev), MO_ECORRUPT);
}

Test(trace, malformed_types)
{
	static const int bad[] = {0x00, 0x20, 0x3f, 0x80, 0xc3, 0xff};
	uint8_t buf[4];
	mo_event_t ev;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf[0] = (uint8_t)bad[i];
		buf[1] = buf[2] = buf[3] = 0;
		cr_expect_eq(dec_one(buf, 4, &ev), MO_ECORRUPT, "type %#x",
			     bad[i]);
	}
}

/* Every strict prefix of a valid record is a truncated record. */
Test(trace, malformed_truncated_fields)
{
	gen_t g;
	mo_event_t ev, out;
	uint8_t buf[4096];

	gen_init(&g, 7);
	for (int i = 0; i < 3000; i++) {
		uint64_t base = 0;
		uint8_t *e;

		gen_event(&g, &ev);
		e = mo_enc_event(buf, buf + sizeof(buf), &base, &ev);
		cr_assert_not_null(e);
		for (size_t cut = 1; cut < (size_t)(e - buf); cut++)
			cr_assert_eq(dec_one(buf, cut, &out), MO_ECORRUPT,
				     "type %#x cut %zu", ev.type, cut);
	}
}

Test(trace, malformed_counts)
{
	uint8_t buf[64], *p;
	mo_event_t ev;

	/* STACK claiming 2^32-1 frames in a few bytes */
	p = buf;
	*p++ = MO_REC_STACK;
	p = mo_put_uv(p, 1);
	p = mo_put_uv(p, UINT32_MAX);
	memset(p, 0x01, 8);
	cr_expect_eq(dec_one(buf, (size_t)(p + 8 - buf), &ev), MO_ECORRUPT);
	/* STACK n above 32 bits */
	p = buf;
	*p++ = MO_REC_STACK;
	p = mo_put_uv(p, 1);
	p = mo_put_uv(p, (uint64_t)1 << 40);
	cr_expect_eq(dec_one(buf, (size_t)(p - buf), &ev), MO_ECORRUPT);
	/* STACK n exactly one more than the bytes left */
	p = buf;
	*p++ = MO_REC_STACK;
	p = mo_put_uv(p, 1);
	p = mo_put_uv(p, 4);
	memset(p, 0x01, 3);
	cr_expect_eq(dec_one(buf, (size_t)(p + 3 - buf), &ev), MO_ECORRUPT);
	cr_expect_eq(dec_one(buf, (size_t)(p + 4 - buf), &ev), MO_ECORRUPT);
	p[3] = 0x01;
	cr_expect_eq(dec_one(buf, (size_t)(p + 4 - buf), &ev), 1);
	cr_expect_eq(ev.u.stack.n, 4);
	{
		mo_dec_t d;

		mo_dec_init(&d);
		mo_dec_block(&d, buf, (size_t)(p + 4 - buf));
		cr_assert_eq(mo_dec_next(&d, &ev), 1);
		/* ip0 = 1, then deltas of -1 that wrap below zero */
		cr_expect_eq(ev.u.stack.ips[0], 1);
		cr_expect_eq(ev.u.stack.ips[1], 0);
		cr_expect_eq(ev.u.stack.ips[2], UINT64_MAX);
		cr_expect_eq(ev.u.stack.ips[3], UINT64_MAX - 1);
		mo_dec_free(&d);
	}
	/* MODMAP with a huge module count */
	p = buf;
	*p++ = MO_REC_MODMAP;
	p = mo_put_uv(p, 1u << 30);
	memset(p, 0, 20);
	cr_expect_eq(dec_one(buf, (size_t)(p + 20 - buf), &ev), MO_ECORRUPT);
	/* PROC_START with a huge argc */
	p = buf;
	*p++ = MO_REC_PROC_START;
	for (int i = 0; i < 5; i++)
		p = mo_put_uv(p, 1);
	p = mo_put_str(p, "x", 1);
	p = mo_put_uv(p, UINT32_MAX);
	memset(p, 0, 10);
	cr_expect_eq(dec_one(buf, (size_t)(p + 10 - buf), &ev), MO_ECORRUPT);
	/* string longer than the block */
	p = buf;
	*p++ = MO_REC_PROC_START;
	for (int i = 0; i < 5; i++)
		p = mo_put_uv(p, 1);
	p = mo_put_uv(p, UINT64_MAX);
	cr_expect_eq(dec_one(buf, (size_t)(p - buf), &ev), MO_ECORRUPT);
	/* extension length past the end */
	p = buf;
	*p++ = 0x60;
	p = mo_put_uv(p, 5);
	memset(p, 0, 4);
	cr_expect_eq(dec_one(buf, (size_t)(p + 4 - buf), &ev), MO_ECORRUPT);
	/* pid above 32 bits */
	p = mo_enc_u1(buf, MO_REC_FORK, (uint64_t)1 << 32);
	cr_expect_eq(dec_one(buf, (size_t)(p - buf), &ev), MO_ECORRUPT);
	/* fn above 32 bits */
	p = buf;
	*p++ = MO_REC_ALLOC;
	p = mo_put_uv(p, (uint64_t)1 << 33);
	p = mo_put_uv(p, 0);
	p = mo_put_uv(p, 0);
	p = mo_put_uv(p, 0);
	cr_expect_eq(dec_one(buf, (size_t)(p - buf), &ev), MO_ECORRUPT);
}

/* Records in the middle of a long block take the decoder's fast path;
 * every case it does not handle must still be decoded or rejected exactly
 * as at the end of a block. */
Test(trace, fast_path_fallbacks)
{
	uint8_t buf[96], *p;
	uint64_t base = 0;
	mo_event_t ev;

	/* fn above 32 bits: corrupt, with 40 bytes of valid records after */
	memset(buf, MO_REC_END, sizeof(buf));
	p = buf;
	*p++ = MO_REC_ALLOC;
	p = mo_put_uv(p, (uint64_t)1 << 33);
	p = mo_put_uv(p, 0);
	p = mo_put_uv(p, 0);
	p = mo_put_uv(p, 0);
	cr_expect_eq(dec_one(buf, (size_t)(p - buf) + 40, &ev), MO_ECORRUPT);
	/* 2-byte fn, 10-byte ptr, 9-byte size: valid, general path */
	p = buf;
	*p++ = MO_REC_ALLOC;
	p = mo_put_uv(p, 200);
	p = mo_put_addr(p, &base, 0x8000000000000000ull);
	p = mo_put_uv(p, (uint64_t)1 << 60);
	p = mo_put_uv(p, 5);
	memset(p, MO_REC_END, 40);
	cr_expect_eq(dec_one(buf, (size_t)(p - buf) + 40, &ev), 1);
	cr_expect_eq(ev.u.alloc.fn, 200);
	cr_expect_eq(ev.u.alloc.ptr, 0x8000000000000000ull);
	cr_expect_eq(ev.u.alloc.size, (uint64_t)1 << 60);
	cr_expect_eq(ev.u.alloc.stack, 5);
	/* a varint whose continuation runs past 16 bytes */
	buf[0] = MO_REC_FREE;
	memset(buf + 1, 0x80, 20);
	memset(buf + 21, MO_REC_END, 40);
	cr_expect_eq(dec_one(buf, 61, &ev), MO_ECORRUPT);
}

/* --- writer --- */

Test(trace, writer_layout)
{
	const char *path = tmp_path("layout.mot");
	uint8_t payload[100], *f;
	uint64_t s = 3, now, t;
	struct timespec ts;
	mo_tw_t *w;
	uLong crc;
	size_t len;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)rnd(&s); /* incompressible: stored raw */
	cr_assert_eq(mo_tw_open(&w, path), 0);
	cr_expect_eq(mo_tw_bytes(w), MO_FILE_HDR_SIZE);
	cr_assert_eq(mo_tw_frame(w, 7, payload, sizeof(payload)), 0);
	cr_expect_eq(mo_tw_bytes(w), 32 + 24 + 100);
	cr_assert_eq(mo_tw_close(w), 0);

	f = slurp(path, &len);
	cr_assert_eq(len, 32 + 24 + 100);
	cr_expect_eq(memcmp(f, MO_FILE_MAGIC, 8), 0);
	cr_expect_eq(f[8] | f[9] << 8, MO_FORMAT_MAJOR);
	cr_expect_eq(f[10] | f[11] << 8, MO_FORMAT_MINOR);
	cr_expect_eq(mo_get_le32(f + 12), 0);
	t = mo_get_le64(f + 16);
	cr_expect_geq(t, now);
	cr_expect_lt(t, now + 60 * 1000000000ull);
	cr_expect_eq(mo_get_le32(f + 24), 0);
	cr_expect_eq(mo_get_le32(f + 28), (uint32_t)crc32(0, f, 28));
	cr_expect_eq(mo_get_le32(f + 32), MO_FRAME_MAGIC);
	cr_expect_eq(memcmp(f + 32, "MOFR", 4), 0);
	cr_expect_eq(mo_get_le32(f + 36), 7);
	cr_expect_eq(mo_get_le32(f + 40), 100);
	cr_expect_eq(mo_get_le32(f + 44), 100);
	cr_expect_eq(mo_get_le32(f + 48), 0);
	crc = crc32(0, f + 32, 20);
	crc = crc32(crc, f + 56, 100);
	cr_expect_eq(mo_get_le32(f + 52), (uint32_t)crc);
	cr_expect_eq(memcmp(f + 56, payload, 100), 0);
	free(f);
}

Test(trace, writer_compresses)
{
	const char *path = tmp_path("zstd.mot");
	static uint8_t block[200000];
	uint8_t *p = block, *f;
	uint64_t base = 0;
	mo_tw_t *w;
	size_t len;

	while (p + MO_REC_MAX_SMALL < block + sizeof(block))
		p = mo_enc_ptr(p, &base, MO_REC_FREE, base + 32);
	cr_assert_eq(mo_tw_open(&w, path), 0);
	cr_assert_eq(mo_tw_frame(w, 1, block, (size_t)(p - block)), 0);
	cr_assert_eq(mo_tw_frame(w, 2, NULL, 0), 0);
	cr_assert_eq(mo_tw_frame(w, 3, block, MO_FRAME_MAX_RAW + 1), -EINVAL);
	cr_assert_eq(mo_tw_close(w), 0);

	f = slurp(path, &len);
	cr_expect_eq(mo_get_le32(f + 48), MO_FRAME_ZSTD);
	cr_expect_eq(mo_get_le32(f + 44), (uint32_t)(p - block));
	cr_expect_lt(mo_get_le32(f + 40), (uint32_t)(p - block) / 20);
	cr_expect_eq(len, 32 + 24 + mo_get_le32(f + 40) + 24);
	free(f);
}

Test(trace, writer_errors)
{
	static uint8_t block[1 << 20];
	mo_tw_t *w = (mo_tw_t *)1;
	uint64_t s = 1;

	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (uint8_t)rnd(&s); /* incompressible */
	cr_expect_eq(mo_tw_open(&w, "/nonexistent-dir/x.mot"), -ENOENT);
	cr_expect_null(w);
	/* /dev/full accepts the open and fails every write with ENOSPC */
	cr_assert_eq(mo_tw_open(&w, "/dev/full"), 0);
	cr_expect_eq(mo_tw_frame(w, 1, block, sizeof(block)), -ENOSPC);
	cr_expect_eq(mo_tw_frame(w, 1, block, 10), -ENOSPC);
	cr_expect_eq(mo_tw_close(w), -ENOSPC);
	/* small writes fail at the final flush */
	cr_assert_eq(mo_tw_open(&w, "/dev/full"), 0);
	cr_expect_eq(mo_tw_frame(w, 1, block, 10), 0);
	cr_expect_eq(mo_tw_close(w), -ENOSPC);
	cr_expect_eq(mo_tw_close(NULL), 0);
}

/* --- file round trip --- */

#define MANY_RECORDS 200000

/* Writes MANY_RECORDS random records (seed) in frames of random sizes and
 * streams; stores each record's stream in streams[]. */
static void write_random_trace(const char *path, uint64_t seed,
			       uint32_t *streams)
{
	static uint8_t block[300000];
	uint64_t frng = seed ^ 0xabcdef, base = 0;
	uint8_t *p = block;
	size_t limit = 1000;
	uint32_t stream = 1;
	int first = 0;
	mo_event_t ev;
	mo_tw_t *w;
	gen_t g;

	gen_init(&g, seed);
	cr_assert_eq(mo_tw_open(&w, path), 0);
	for (int i = 0; i <= MANY_RECORDS; i++) {
		uint8_t *e = NULL;

		if (i < MANY_RECORDS) {
			gen_event(&g, &ev);
			e = mo_enc_event(p, block + limit, &base, &ev);
		}
		if (e == NULL) {
			cr_assert_eq(mo_tw_frame(w, stream, block,
						 (size_t)(p - block)),
				     0);
			for (int k = first; k < i; k++)
				streams[k] = stream;
			first = i;
			p = block;
			base = 0;
			stream = 1 + (uint32_t)(rnd(&frng) % 5);
			limit = 64 + rnd(&frng) % (sizeof(block) - 64);
			if (i == MANY_RECORDS)
				break;
			e = mo_enc_event(p, block + sizeof(block), &base, &ev);
			cr_assert_not_null(e);
		}
		p = e;
	}
	cr_assert_eq(mo_tw_close(w), 0);
}

Test(trace, file_roundtrip_many_records)
{
	const char *path = tmp_path("many.mot");
	uint32_t *streams = malloc(MANY_RECORDS * sizeof(*streams));
	const mo_tr_damage_t *dmg;
	mo_event_t ev, exp;
	unsigned major, minor;
	struct stat st;
	mo_tr_t *r;
	gen_t g;

	cr_assert_not_null(streams);
	write_random_trace(path, 12345, streams);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(mo_tr_open(&r, path), 0);
	mo_tr_version(r, &major, &minor);
	cr_expect_eq(major, MO_FORMAT_MAJOR);
	cr_expect_eq(minor, MO_FORMAT_MINOR);
	cr_expect_eq(mo_tr_size(r), (uint64_t)st.st_size);
	cr_expect_eq(mo_tr_offset(r), MO_FILE_HDR_SIZE);
	gen_init(&g, 12345);
	for (int i = 0; i < MANY_RECORDS; i++) {
		gen_event(&g, &exp);
		cr_assert_eq(mo_tr_next(r, &ev), 1, "record %d", i);
		cr_assert(ev_eq(&exp, &ev), "record %d (type %#x) differs", i,
			  exp.type);
		cr_assert_eq(ev.stream, streams[i], "record %d stream", i);
	}
	cr_expect_eq(mo_tr_next(r, &ev), 0);
	cr_expect_eq(mo_tr_next(r, &ev), 0);
	cr_expect_eq(mo_tr_offset(r), (uint64_t)st.st_size);
	dmg = mo_tr_damage(r);
	cr_expect_eq(dmg->corrupt_frames, 0);
	cr_expect_eq(dmg->skipped_bytes, 0);
	cr_expect_eq(dmg->truncated, 0);
	cr_expect_eq(dmg->first_offset, 0);
	mo_tr_close(r);
	free(streams);
}

/* --- damage --- */

#define NFRAMES 9
#define PER_FRAME 500 /* FREE records in an even frame */
#define PER_ODD 40    /* extension records in an odd frame */
#define EXT_LEN 100

/* Record j of frame k, generated into ev (ext data in buf). */
static void framed_record(int k, int j, mo_event_t *ev, uint8_t *buf)
{
	memset(ev, 0, sizeof(*ev));
	if (k % 2 == 0) {
		ev->type = MO_REC_FREE;
		ev->u.free.ptr = (uint64_t)k * 1000000 + (uint64_t)j;
		return;
	}
	uint64_t s = (uint64_t)k * 1000 + (uint64_t)j;

	for (int i = 0; i < EXT_LEN; i++)
		buf[i] = (uint8_t)rnd(&s);
	ev->type = MO_REC_EXT_FIRST + k;
	ev->u.ext.len = EXT_LEN;
	ev->u.ext.data = buf;
}

static int framed_count(int k)
{
	return k % 2 ? PER_ODD : PER_FRAME;
}

/* A trace of NFRAMES frames, frame k of stream k + 1.  Even frames hold
 * compressible FREE records and are stored compressed; odd ones hold
 * random extension records and are stored raw.  off[k] is the offset of
 * frame k, off[NFRAMES] the file size. */
static void write_framed(const char *path, uint64_t off[NFRAMES + 1])
{
	static uint8_t block[PER_ODD * (EXT_LEN + 2) + PER_FRAME * 12];
	uint8_t ext[EXT_LEN];
	mo_event_t ev;
	mo_tw_t *w;

	cr_assert_eq(mo_tw_open(&w, path), 0);
	for (int k = 0; k < NFRAMES; k++) {
		uint8_t *p = block;
		uint64_t base = 0;

		for (int j = 0; j < framed_count(k); j++) {
			framed_record(k, j, &ev, ext);
			p = mo_enc_event(p, block + sizeof(block), &base, &ev);
			cr_assert_not_null(p);
		}
		off[k] = mo_tw_bytes(w);
		cr_assert_eq(mo_tw_frame(w, (uint32_t)k + 1, block,
					 (size_t)(p - block)),
			     0);
	}
	off[NFRAMES] = mo_tw_bytes(w);
	cr_assert_eq(mo_tw_close(w), 0);
}

/* Reads path and checks that exactly the frames in `want` (bit k = frame k)
 * come back, complete and in order. */
static const mo_tr_damage_t *read_framed(const char *path, unsigned want,
					 mo_tr_t **rp)
{
	uint8_t ext[EXT_LEN];
	mo_event_t ev, exp;
	mo_tr_t *r;

	cr_assert_eq(mo_tr_open(&r, path), 0);
	for (int k = 0; k < NFRAMES; k++) {
		if (!(want & (1u << k)))
			continue;
		for (int j = 0; j < framed_count(k); j++) {
			framed_record(k, j, &exp, ext);
			cr_assert_eq(mo_tr_next(r, &ev), 1, "frame %d rec %d",
				     k, j);
			cr_assert_eq(ev.stream, (uint32_t)k + 1,
				     "frame %d rec %d", k, j);
			cr_assert(ev_eq(&exp, &ev), "frame %d rec %d", k, j);
		}
	}
	cr_assert_eq(mo_tr_next(r, &ev), 0);
	*rp = r;
	return mo_tr_damage(r);
}

Test(trace, damage_none)
{
	const char *path = tmp_path("ok.mot");
	uint64_t off[NFRAMES + 1];
	const mo_tr_damage_t *d;
	uint8_t *f;
	size_t len;
	mo_tr_t *r;

	write_framed(path, off);
	f = slurp(path, &len);
	cr_expect_eq(mo_get_le32(f + off[1] + 16), 0, "odd frames raw");
	cr_expect_eq(mo_get_le32(f + off[2] + 16), MO_FRAME_ZSTD);
	free(f);
	d = read_framed(path, 0x1ff, &r);
	cr_expect_eq(d->corrupt_frames, 0);
	cr_expect_eq(d->truncated, 0);
	cr_expect_eq(mo_tr_offset(r), off[NFRAMES]);
	mo_tr_close(r);
}

Test(trace, damage_truncated)
{
	const char *src = tmp_path("full.mot"), *path = tmp_path("cut.mot");
	uint64_t off[NFRAMES + 1];
	uint8_t *f;
	size_t len;

	write_framed(src, off);
	f = slurp(src, &len);
	for (int k = 1; k < NFRAMES; k++) {
		uint64_t flen = off[k + 1] - off[k];
		uint64_t cuts[] = {off[k] + 2,
				   off[k] + 4,
				   off[k] + 10,
				   off[k] + 24,
				   off[k] + 24 + (flen - 24) / 2,
				   off[k + 1] - 1};

		for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
			const mo_tr_damage_t *d;
			mo_tr_t *r;

			spit(path, f, cuts[c]);
			d = read_framed(path, (1u << k) - 1, &r);
			cr_expect_eq(d->truncated, 1, "frame %d cut %zu", k, c);
			cr_expect_eq(d->corrupt_frames, 0);
			cr_expect_eq(d->skipped_bytes, 0);
			cr_expect_eq(d->first_offset, off[k]);
			cr_expect_eq(mo_tr_offset(r), cuts[c]);
			mo_tr_close(r);
		}
		/* a cut at a frame boundary is no damage */
		{
			const mo_tr_damage_t *d;
			mo_tr_t *r;

			spit(path, f, off[k]);
			d = read_framed(path, (1u << k) - 1, &r);
			cr_expect_eq(d->truncated, 0);
			cr_expect_eq(d->corrupt_frames, 0);
			mo_tr_close(r);
		}
	}
	free(f);
}

/* Flips one byte at off[k] + delta and checks that only frame k is lost. */
static void expect_one_bad_frame(int k, uint64_t delta)
{
	const char *src = tmp_path("src.mot"), *path = tmp_path("flip.mot");
	uint64_t off[NFRAMES + 1];
	const mo_tr_damage_t *d;
	uint8_t *f;
	size_t len;
	mo_tr_t *r;

	write_framed(src, off);
	f = slurp(src, &len);
	f[off[k] + delta] ^= 0x10;
	spit(path, f, len);
	d = read_framed(path, 0x1ffu & ~(1u << k), &r);
	cr_expect_eq(d->corrupt_frames, 1, "frame %d delta %lu", k,
		     (unsigned long)delta);
	cr_expect_eq(d->skipped_bytes, off[k + 1] - off[k]);
	cr_expect_eq(d->first_offset, off[k]);
	cr_expect_eq(d->truncated, 0);
	mo_tr_close(r);
	free(f);
}

Test(trace, damage_flipped_byte)
{
	expect_one_bad_frame(4, 24 + 6);       /* compressed payload */
	expect_one_bad_frame(3, 24 + 100);     /* raw payload */
	expect_one_bad_frame(4, 1);	       /* magic */
	expect_one_bad_frame(5, 4);	       /* stream id */
	expect_one_bad_frame(5, 11);	       /* payload length: huge */
	expect_one_bad_frame(6, 20);	       /* the CRC itself */
	expect_one_bad_frame(0, 30);	       /* first frame */
	expect_one_bad_frame(NFRAMES - 1, 40); /* last frame */
}

Test(trace, damage_garbage)
{
	const char *src = tmp_path("src.mot"), *path = tmp_path("junk.mot");
	uint64_t off[NFRAMES + 1], s = 11;
	const mo_tr_damage_t *d;
	uint8_t *f, *g;
	size_t len;
	mo_tr_t *r;

	write_framed(src, off);
	f = slurp(src, &len);
	g = malloc(len + 1000);
	cr_assert_not_null(g);

	/* garbage appended, longer and shorter than a frame header */
	for (size_t n = 1; n <= 1000; n += 333) {
		memcpy(g, f, len);
		for (size_t i = 0; i < n; i++)
			g[len + i] = (uint8_t)rnd(&s);
		g[len] = 0; /* not the start of a frame magic */
		spit(path, g, len + n);
		d = read_framed(path, 0x1ff, &r);
		cr_expect_eq(d->corrupt_frames, 1, "%zu bytes", n);
		cr_expect_eq(d->skipped_bytes, n);
		cr_expect_eq(d->first_offset, len);
		cr_expect_eq(d->truncated, 0);
		mo_tr_close(r);
	}

	/* garbage between frames 2 and 3, holding a false frame magic */
	memcpy(g, f, off[3]);
	memset(g + off[3], 0xee, 300);
	memcpy(g + off[3] + 100, "MOFR", 4);
	memcpy(g + off[3] + 300, f + off[3], len - off[3]);
	spit(path, g, len + 300);
	d = read_framed(path, 0x1ff, &r);
	cr_expect_eq(d->corrupt_frames, 1);
	cr_expect_eq(d->skipped_bytes, 300);
	cr_expect_eq(d->first_offset, off[3]);
	mo_tr_close(r);
	free(g);
	free(f);
}

/* A frame whose CRC checks but whose content is bad: the records before the
 * bad one are returned, the rest of the frame is dropped. */
Test(trace, damage_bad_record_in_good_frame)
{
	const char *path = tmp_path("badrec.mot");
	uint8_t block[64], *p = block;
	uint64_t base = 0;
	size_t two;
	const mo_tr_damage_t *d;
	mo_event_t ev;
	mo_tr_t *r;
	mo_tw_t *w;

	p = mo_enc_ptr(p, &base, MO_REC_FREE, 100);
	p = mo_enc_ptr(p, &base, MO_REC_FREE, 200);
	two = (size_t)(p - block);
	*p++ = 0x30; /* unknown fixed type */
	p = mo_enc_ptr(p, &base, MO_REC_FREE, 300);
	cr_assert_eq(mo_tw_open(&w, path), 0);
	cr_assert_eq(mo_tw_frame(w, 1, block, (size_t)(p - block)), 0);
	cr_assert_eq(mo_tw_frame(w, 2, block, two), 0);
	cr_assert_eq(mo_tw_close(w), 0);

	cr_assert_eq(mo_tr_open(&r, path), 0);
	cr_assert_eq(mo_tr_next(r, &ev), 1);
	cr_expect_eq(ev.u.free.ptr, 100);
	cr_assert_eq(mo_tr_next(r, &ev), 1);
	cr_expect_eq(ev.u.free.ptr, 200);
	cr_assert_eq(mo_tr_next(r, &ev), 1);
	cr_expect_eq(ev.stream, 2);
	cr_expect_eq(ev.u.free.ptr, 100);
	cr_assert_eq(mo_tr_next(r, &ev), 1);
	cr_expect_eq(ev.u.free.ptr, 200);
	cr_assert_eq(mo_tr_next(r, &ev), 0);
	d = mo_tr_damage(r);
	cr_expect_eq(d->corrupt_frames, 1);
	cr_expect_eq(d->skipped_bytes, 0);
	cr_expect_eq(d->first_offset, MO_FILE_HDR_SIZE);
	cr_expect_eq(d->truncated, 0);
	mo_tr_close(r);
}

/* A zstd frame whose CRC checks but whose payload does not decompress to
 * raw_len bytes. */
Test(trace, damage_bad_zstd_payload)
{
	const char *path = tmp_path("badz.mot");
	uint8_t *f, *g;
	uint64_t off[NFRAMES + 1];
	const mo_tr_damage_t *d;
	size_t len;
	mo_tr_t *r;
	uLong crc;

	write_framed(path, off);
	f = slurp(path, &len);
	g = f + off[2];
	cr_assert_eq(mo_get_le32(g + 16), MO_FRAME_ZSTD);
	mo_put_le32(g + 12, mo_get_le32(g + 12) + 1); /* raw_len off by one */
	crc = crc32(0, g, 20);
	crc = crc32(crc, g + 24, mo_get_le32(g + 8));
	mo_put_le32(g + 20, (uint32_t)crc);
	spit(path, f, len);
	d = read_framed(path, 0x1ffu & ~(1u << 2), &r);
	cr_expect_eq(d->corrupt_frames, 1);
	cr_expect_eq(d->skipped_bytes, 0);
	cr_expect_eq(d->first_offset, off[2]);
	mo_tr_close(r);
	free(f);
}

static void write_header(const char *path, unsigned major, bool bad_crc,
			 size_t len)
{
	uint8_t h[MO_FILE_HDR_SIZE];

	memset(h, 0, sizeof(h));
	memcpy(h, MO_FILE_MAGIC, 8);
	h[8] = (uint8_t)major;
	mo_put_le32(h + 28, (uint32_t)crc32(0, h, 28) ^ (bad_crc ? 1 : 0));
	spit(path, h, len);
}

Test(trace, header_checks)
{
	const char *path = tmp_path("hdr.mot");
	const mo_tr_damage_t *d;
	mo_tr_t *r = (mo_tr_t *)1;
	mo_event_t ev;

	spit(path, "", 0);
	cr_expect_eq(mo_tr_open(&r, path), MO_ENOTTRACE);
	cr_expect_null(r);
	spit(path, "\x89MEMO", 5);
	cr_expect_eq(mo_tr_open(&r, path), MO_ENOTTRACE);
	spit(path, "hello, world: this is not a memopt trace file", 45);
	cr_expect_eq(mo_tr_open(&r, path), MO_ENOTTRACE);
	write_header(path, MO_FORMAT_MAJOR, false, 20);
	cr_expect_eq(mo_tr_open(&r, path), MO_ETRUNC);
	write_header(path, MO_FORMAT_MAJOR + 1, false, MO_FILE_HDR_SIZE);
	r = (mo_tr_t *)1;
	cr_expect_eq(mo_tr_open(&r, path), MO_EVERSION);
	cr_expect_null(r);
	/* format 1 (memopt 0.1 before block numbers) is refused too */
	write_header(path, 1, false, MO_FILE_HDR_SIZE);
	cr_expect_eq(mo_tr_open(&r, path), MO_EVERSION);
	write_header(path, 0, false, MO_FILE_HDR_SIZE);
	cr_expect_eq(mo_tr_open(&r, path), MO_EVERSION);
	write_header(path, MO_FORMAT_MAJOR, true, MO_FILE_HDR_SIZE);
	cr_expect_eq(mo_tr_open(&r, path), MO_EBADHDR);
	cr_expect_eq(mo_tr_open(&r, "/nonexistent/x.mot"), -ENOENT);

	/* header only: a valid, empty trace */
	write_header(path, MO_FORMAT_MAJOR, false, MO_FILE_HDR_SIZE);
	cr_assert_eq(mo_tr_open(&r, path), 0);
	cr_expect_eq(mo_tr_next(r, &ev), 0);
	d = mo_tr_damage(r);
	cr_expect_eq(d->corrupt_frames, 0);
	cr_expect_eq(d->skipped_bytes, 0);
	cr_expect_eq(d->truncated, 0);
	cr_expect_eq(mo_tr_offset(r), MO_FILE_HDR_SIZE);
	cr_expect_eq(mo_tr_size(r), MO_FILE_HDR_SIZE);
	mo_tr_close(r);
	mo_tr_close(NULL);
}

/* Many false frame magics with plausible headers whose payloads overlap:
 * resynchronisation must stay linear (checking each candidate on its own
 * would CRC ~100 GB here) and still find the first real frame behind them,
 * though earlier false candidates end after it. */
Test(trace, damage_resync_false_magics, .timeout = 10)
{
	const char *src = tmp_path("src.mot"), *path = tmp_path("magics.mot");
	uint64_t off[NFRAMES + 1];
	const size_t junk = 4 << 20;
	const mo_tr_damage_t *d;
	uint8_t *f, *g;
	size_t len;
	mo_tr_t *r;

	write_framed(src, off);
	f = slurp(src, &len);
	g = malloc(len + junk);
	cr_assert_not_null(g);
	memcpy(g, f, off[5]);
	for (size_t i = 0; i < junk; i += 24) {
		uint8_t *h = g + off[5] + i;
		uint32_t plen = (1u << 20) + (uint32_t)(i * 7919 % (1u << 20));

		mo_put_le32(h, MO_FRAME_MAGIC);
		mo_put_le32(h + 4, 1);
		mo_put_le32(h + 8, plen);
		mo_put_le32(h + 12, i % 48 ? plen : MO_FRAME_MAX_RAW);
		mo_put_le32(h + 16, i % 48 ? 0 : MO_FRAME_ZSTD);
		mo_put_le32(h + 20, (uint32_t)i);
	}
	memcpy(g + off[5] + junk, f + off[5], len - off[5]);
	spit(path, g, len + junk);
	d = read_framed(path, 0x1ff, &r);
	cr_expect_eq(d->corrupt_frames, 1);
	cr_expect_eq(d->skipped_bytes, junk);
	cr_expect_eq(d->first_offset, off[5]);
	cr_expect_eq(d->truncated, 0);
	mo_tr_close(r);
	free(g);
	free(f);
}
