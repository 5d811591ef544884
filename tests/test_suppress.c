/*
 * Tests of leak suppressions (src/suppress.c): the file format, pattern
 * matching, kind lists, and leak results with suppressions applied.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"
#include "suppress.h"
#include "symbolize.h"

static int parse(mo_supp_t *s, const char *text, char *err, size_t errlen)
{
	return mo_supp_parse(s, text, strlen(text), "f.supp", err, errlen);
}

Test(suppress, file_format)
{
	mo_supp_t *s = mo_supp_new();
	char err[128] = "";

	cr_assert_eq(parse(s,
			   "# comment\n"
			   "\n"
			   "   leak:foo  \r\n"
			   "\t# indented comment\n"
			   "race:ignored_by_memopt\n"
			   "called_from_lib:libbar.so\n"
			   "leak:*baz*::qux\n"
			   "leak:no newline at end",
			   err, sizeof(err)),
		     0);
	cr_assert_eq(mo_supp_count(s), 3);
	cr_assert_str_eq(mo_supp_entry(s, 0), "leak:foo");
	cr_assert_str_eq(mo_supp_entry(s, 1), "leak:*baz*::qux");
	cr_assert_str_eq(mo_supp_entry(s, 2), "leak:no newline at end");
	cr_assert_null(mo_supp_entry(s, 3));
	cr_assert_str_eq(err, "");
	mo_supp_free(s);
}

Test(suppress, syntax_errors_name_the_line)
{
	mo_supp_t *s = mo_supp_new();
	char err[128];

	cr_assert_eq(parse(s, "leak:a\n\nfoo\nleak:b\n", err, sizeof(err)),
		     -EINVAL);
	cr_assert_str_eq(err, "f.supp:3: not a suppression (expected "
			      "leak:PATTERN)");
	cr_assert_eq(mo_supp_count(s), 1); /* those before the error */
	cr_assert_eq(parse(s, "leak:   \n", err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "f.supp:1: empty pattern");
	cr_assert_eq(parse(s, ":x\n", err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "f.supp:1: not a suppression (expected "
			      "leak:PATTERN)");
	mo_supp_free(s);
}

Test(suppress, load_files)
{
	mo_supp_t *s = mo_supp_new();
	char path[] = "/tmp/memopt-supp-XXXXXX", err[256];
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "leak:one\nleak:two\n", 18), 18);
	close(fd);
	cr_assert_eq(mo_supp_load(s, path, err, sizeof(err)), 0);
	cr_assert_eq(mo_supp_count(s), 2);
	unlink(path);
	cr_assert_eq(mo_supp_load(s, path, err, sizeof(err)), -ENOENT);
	char want[300];
	snprintf(want, sizeof(want),
		 "cannot read suppressions file %s: No such file or directory",
		 path);
	cr_assert_str_eq(err, want);
	cr_assert_eq(mo_supp_load(s, "/", err, sizeof(err)), -EISDIR);
	cr_assert_eq(mo_supp_count(s), 2);
	mo_supp_free(s);
}

Test(suppress, defaults_parse)
{
	mo_supp_t *s = mo_supp_new();

	cr_assert_eq(mo_supp_add_defaults(s), 0);
	cr_assert_gt(mo_supp_count(s), 10);
	cr_assert_str_eq(mo_supp_entry(s, 0), "leak:_dl_map_object");
	mo_supp_free(s);
}

Test(suppress, pattern_matching)
{
	/* No wildcard: substring. */
	cr_assert(mo_supp_match_string("foo", "my_foo_bar"));
	cr_assert(mo_supp_match_string("foo", "foo"));
	cr_assert_not(mo_supp_match_string("foo", "fo"));
	cr_assert_not(mo_supp_match_string("foo", NULL));
	/* Wildcards: unanchored unless ^ or $. */
	cr_assert(mo_supp_match_string("a*c", "xxabbbcxx"));
	cr_assert(mo_supp_match_string("*LeakFunc*", "ns::LeakFunc(int)"));
	cr_assert(mo_supp_match_string("lib?oo.so", "/usr/lib/libfoo.so.1"));
	cr_assert(mo_supp_match_string("[bc]ar", "car"));
	cr_assert_not(mo_supp_match_string("[bc]ar", "far"));
	cr_assert(mo_supp_match_string("^foo", "foobar"));
	cr_assert_not(mo_supp_match_string("^foo", "xfoo"));
	cr_assert(mo_supp_match_string("bar$", "foobar"));
	cr_assert_not(mo_supp_match_string("bar$", "barx"));
	cr_assert(mo_supp_match_string("^foo$", "foo"));
	cr_assert_not(mo_supp_match_string("^foo$", "foo2"));
	cr_assert(mo_supp_match_string("/src/*.c", "/home/u/src/x/y.c"));
}

Test(suppress, any_frame_and_any_name)
{
	mo_supp_t *s = mo_supp_new();
	mo_frame_t f[2] = {
		{.function = "xmalloc",
		 .file = "/src/util.c",
		 .module = "/usr/bin/app"},
		{.function = "std::vector<int>::grow()",
		 .file = NULL,
		 .module = "/usr/lib/libstdc++.so.6"},
	};

	cr_assert_eq(parse(s,
			   "leak:nomatch\n"
			   "leak:std::vector<*>::grow\n"
			   "leak:util.c\n",
			   NULL, 0),
		     0);
	cr_assert_eq(mo_supp_match(s, f, 2), 1); /* first entry that matches */
	cr_assert_eq(mo_supp_match(s, f, 1), 2); /* by file */
	f[0].file = NULL;
	cr_assert_eq(mo_supp_match(s, f, 1), -1);
	cr_assert_eq(parse(s, "leak:^/usr/bin/app$\n", NULL, 0), 0);
	cr_assert_eq(mo_supp_match(s, f, 1), 3); /* by module */
	cr_assert_eq(mo_supp_match(NULL, f, 2), -1);
	mo_supp_free(s);
}

Test(suppress, kind_lists)
{
	unsigned k;
	char buf[64];

	cr_assert_eq(mo_supp_parse_kinds("definite,possible", &k), 0);
	cr_assert_eq(k, MO_LEAK_GATE_DEFAULT);
	cr_assert_str_eq(mo_supp_kinds_str(buf, sizeof(buf), k),
			 "definite,possible");
	cr_assert_eq(mo_supp_parse_kinds("reachable,indirect", &k), 0);
	cr_assert_eq(k, MO_LEAK_BIT(MO_LEAK_REACHABLE) |
				MO_LEAK_BIT(MO_LEAK_INDIRECT));
	cr_assert_str_eq(mo_supp_kinds_str(buf, sizeof(buf), k),
			 "indirect,reachable");
	cr_assert_eq(mo_supp_parse_kinds("all", &k), 0);
	cr_assert_eq(k, MO_LEAK_ALL);
	cr_assert_str_eq(mo_supp_kinds_str(buf, sizeof(buf), k), "all");
	cr_assert_eq(mo_supp_parse_kinds("none", &k), 0);
	cr_assert_eq(k, 0);
	cr_assert_str_eq(mo_supp_kinds_str(buf, sizeof(buf), k), "none");
	k = 77;
	cr_assert_eq(mo_supp_parse_kinds("", &k), -EINVAL);
	cr_assert_eq(mo_supp_parse_kinds("definite,", &k), -EINVAL);
	cr_assert_eq(mo_supp_parse_kinds("definitely", &k), -EINVAL);
	cr_assert_eq(mo_supp_parse_kinds("Definite", &k), -EINVAL);
	cr_assert_eq(k, 77);
	cr_assert_str_eq(mo_supp_kind_key(MO_LEAK_DEFINITE), "definitely_lost");
	cr_assert_str_eq(mo_supp_kind_key(MO_LEAK_REACHABLE),
			 "still_reachable");
	cr_assert_str_eq(mo_supp_kind_text(MO_LEAK_POSSIBLE), "possibly lost");
	cr_assert_null(mo_supp_kind_key(4));
}

/* Leak results: two modules, blocks from a stack in each; the module
 * files do not exist, so frames carry only their module path. */
Test(suppress, leak_results_by_module)
{
	mo_sym_t *sym = mo_sym_new();
	mo_an_t *an = mo_an_new(sym);
	mo_supp_t *s = mo_supp_new();
	mo_module_rec_t mods[2] = {
		{0x400000, 0x500000, 0, {"/nowhere/app", 12}, {NULL, 0}},
		{0x7f0000000000,
		 0x7f0000100000,
		 0x7f0000000000,
		 {"/nowhere/libnoisy.so", 20},
		 {NULL, 0}}};
	uint64_t ip1 = 0x401000, ip2[2] = {0x7f0000001000, 0x401100};
	uint8_t payload[32], *q = payload;
	mo_event_t ev;
	mo_leaks_t l;

	cr_assert(sym && an && s);
	ev = (mo_event_t){.type = MO_REC_MODMAP, .stream = 1};
	ev.u.modmap.n = 2;
	ev.u.modmap.mods = mods;
	cr_assert_eq(mo_an_feed(an, &ev), 0);
	ev = (mo_event_t){.type = MO_REC_STACK, .stream = 1};
	ev.u.stack.id = 1;
	ev.u.stack.n = 1;
	ev.u.stack.ips = &ip1;
	cr_assert_eq(mo_an_feed(an, &ev), 0);
	ev.u.stack.id = 2;
	ev.u.stack.n = 2;
	ev.u.stack.ips = ip2;
	cr_assert_eq(mo_an_feed(an, &ev), 0);
	for (uint64_t b = 1; b <= 4; b++) {
		ev = (mo_event_t){.type = MO_REC_ALLOC, .stream = 1};
		ev.u.alloc.ptr = b;
		ev.u.alloc.size = 10 * b;
		ev.u.alloc.stack = b <= 2 ? 1 : 2;
		cr_assert_eq(mo_an_feed(an, &ev), 0);
	}
	/* blocks 1 and 3 definite, 4 indirect, 2 reachable */
	q = mo_put_uv(q, 1);
	q = mo_put_uv(q, 1);
	q = mo_put_uv(q, 4);
	q = mo_put_uv(q, 3);
	q = mo_put_uv(q, 1);
	q = mo_put_uv(q, MO_LEAK_DEFINITE);
	q = mo_put_uv(q, 2);
	q = mo_put_uv(q, MO_LEAK_DEFINITE);
	q = mo_put_uv(q, 1);
	q = mo_put_uv(q, MO_LEAK_INDIRECT);
	ev = (mo_event_t){.type = MO_REC_LEAKS, .stream = 1};
	ev.u.ext.len = (uint32_t)(q - payload);
	ev.u.ext.data = payload;
	cr_assert_eq(mo_an_feed(an, &ev), 0);
	mo_an_finish(an);

	cr_assert_eq(mo_supp_leaks(NULL, an, sym, 0, &l), 0);
	cr_assert_eq(l.present, 1);
	cr_assert_eq(l.n, 4);
	cr_assert_eq(l.kind[MO_LEAK_DEFINITE].bytes, 40);
	cr_assert_eq(l.kind[MO_LEAK_DEFINITE].blocks, 2);
	cr_assert_eq(l.kind[MO_LEAK_INDIRECT].bytes, 40);
	cr_assert_eq(l.kind[MO_LEAK_REACHABLE].bytes, 20);
	cr_assert_eq(l.kind[MO_LEAK_POSSIBLE].blocks, 0);
	cr_assert_eq(l.suppressed.blocks, 0);
	mo_supp_leaks_free(&l);

	cr_assert_eq(parse(s, "leak:libnoisy.so\n", NULL, 0), 0);
	cr_assert_eq(mo_supp_leaks(s, an, sym, 0, &l), 0);
	cr_assert_eq(l.kind[MO_LEAK_DEFINITE].bytes, 10);
	cr_assert_eq(l.kind[MO_LEAK_DEFINITE].blocks, 1);
	cr_assert_eq(l.kind[MO_LEAK_INDIRECT].blocks, 0);
	cr_assert_eq(l.kind[MO_LEAK_REACHABLE].bytes, 20);
	cr_assert_eq(l.suppressed.bytes, 70);
	cr_assert_eq(l.suppressed.blocks, 2);
	for (size_t i = 0; i < l.n; i++)
		cr_assert_eq(l.recs[i].supp,
			     l.recs[i].loss.bytes == 30 ||
					     l.recs[i].loss.bytes == 40
				     ? 0
				     : -1);
	mo_supp_leaks_free(&l);

	/* A process without leak data. */
	ev = (mo_event_t){.type = MO_REC_END, .stream = 2};
	cr_assert_eq(mo_an_feed(an, &ev), 0);
	mo_an_finish(an);
	cr_assert_eq(mo_supp_leaks(s, an, sym, 1, &l), 0);
	cr_assert_eq(l.present, 0);
	cr_assert_eq(l.n, 0);
	mo_supp_leaks_free(&l);
	mo_supp_free(s);
	mo_an_free(an);
	mo_sym_free(sym);
}
