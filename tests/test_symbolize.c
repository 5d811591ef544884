/*
 * Tests of the symbolizer (src/symbolize.c).
 *
 * tests/programs/inline_prog prints return addresses whose inline chains,
 * functions and lines are known by construction; the expected line numbers
 * come from CALL_SITE_* markers in its source.  The results are also
 * cross-checked against eu-addr2line when it is installed.
 */
#include "config.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "symbolize.h"

#define PROG MO_BUILDDIR "/tests/programs/inline_prog"
#define PROG_SRC MO_SRCDIR "/tests/programs/inline_prog.c"
#define MAX_FRAMES 16

typedef struct prog_addrs {
	uint64_t bias;
	uint64_t a; /* one_level() inlined into main() */
	uint64_t b; /* inner_two() < outer_two() < main() */
	uint64_t c; /* plain(), not inlined */
} prog_addrs_t;

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Line number of the source line of inline_prog.c holding marker. */
static unsigned marker_line(const char *marker)
{
	char comment[64];
	char buf[512];
	unsigned line = 0;
	FILE *f = fopen(PROG_SRC, "r");

	cr_assert_not_null(f, "cannot open %s", PROG_SRC);
	snprintf(comment, sizeof(comment), "/* %s */", marker);
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		if (strstr(buf, comment)) {
			fclose(f);
			return line;
		}
	}
	fclose(f);
	cr_assert_fail("marker %s not found in %s", marker, PROG_SRC);
	return 0;
}

static void run_prog(prog_addrs_t *pa)
{
	FILE *p = popen(PROG " print", "r");
	int got;

	cr_assert_not_null(p, "cannot run %s", PROG);
	got = fscanf(p, "bias %lx A %lx B %lx C %lx", &pa->bias, &pa->a, &pa->b,
		     &pa->c);
	cr_assert_eq(pclose(p), 0, "%s failed", PROG);
	cr_assert_eq(got, 4, "unexpected output from %s", PROG);
	cr_assert_gt(pa->a, pa->bias);
	cr_assert_gt(pa->b, pa->bias);
	cr_assert_gt(pa->c, pa->bias);
}

static int resolve_prog(mo_sym_t *sym, uint64_t address, uint64_t bias,
			mo_frame_t *out, int max)
{
	int mod = mo_sym_module(sym, PROG, strlen(PROG), NULL, 0);

	cr_assert_geq(mod, 0);
	return mo_sym_resolve(sym, mod, address - bias, address, out, max);
}

static void check_frame(const mo_frame_t *f, const char *function,
			unsigned line, int inlined, uint64_t address)
{
	cr_assert_not_null(f->function, "no function, expected %s", function);
	cr_assert_str_eq(f->function, function);
	cr_assert_not_null(f->file, "%s: no file", function);
	cr_assert_str_eq(basename_of(f->file), "inline_prog.c");
	cr_assert_eq(f->line, line, "%s: line %u, expected %u", function,
		     f->line, line);
	cr_assert_eq(f->inlined, inlined, "%s: inlined %d", function,
		     f->inlined);
	cr_assert_str_eq(f->module, PROG);
	cr_assert_eq(f->address, address);
}

Test(symbolize, inline_one_level)
{
	prog_addrs_t pa;
	mo_frame_t fr[MAX_FRAMES];
	mo_sym_t *sym = mo_sym_new();
	int n;

	cr_assert_not_null(sym);
	run_prog(&pa);
	n = resolve_prog(sym, pa.a, pa.bias, fr, MAX_FRAMES);
	cr_assert_eq(n, 2, "got %d frames", n);
	check_frame(&fr[0], "one_level", marker_line("CALL_SITE_A"), 1, pa.a);
	check_frame(&fr[1], "main", marker_line("CALL_SITE_A_MAIN"), 0, pa.a);
	mo_sym_free(sym);
}

Test(symbolize, inline_two_levels)
{
	prog_addrs_t pa;
	mo_frame_t fr[MAX_FRAMES];
	mo_sym_t *sym = mo_sym_new();
	int n;

	run_prog(&pa);
	n = resolve_prog(sym, pa.b, pa.bias, fr, MAX_FRAMES);
	cr_assert_eq(n, 3, "got %d frames", n);
	check_frame(&fr[0], "inner_two", marker_line("CALL_SITE_B_INNER"), 1,
		    pa.b);
	check_frame(&fr[1], "outer_two", marker_line("CALL_SITE_B_OUTER"), 1,
		    pa.b);
	check_frame(&fr[2], "main", marker_line("CALL_SITE_B_MAIN"), 0, pa.b);
	mo_sym_free(sym);
}

Test(symbolize, not_inlined)
{
	prog_addrs_t pa;
	mo_frame_t fr[MAX_FRAMES];
	mo_sym_t *sym = mo_sym_new();
	int n;

	run_prog(&pa);
	n = resolve_prog(sym, pa.c, pa.bias, fr, MAX_FRAMES);
	cr_assert_eq(n, 1, "got %d frames", n);
	check_frame(&fr[0], "plain", marker_line("CALL_SITE_C"), 0, pa.c);
	mo_sym_free(sym);
}

Test(symbolize, truncates_to_max)
{
	prog_addrs_t pa;
	mo_frame_t fr[2];
	mo_sym_t *sym = mo_sym_new();

	run_prog(&pa);
	cr_assert_eq(resolve_prog(sym, pa.b, pa.bias, fr, 0), 0);
	cr_assert_eq(resolve_prog(sym, pa.b, pa.bias, fr, 1), 1);
	check_frame(&fr[0], "inner_two", marker_line("CALL_SITE_B_INNER"), 1,
		    pa.b);
	cr_assert_eq(resolve_prog(sym, pa.b, pa.bias, fr, 2), 2);
	check_frame(&fr[1], "outer_two", marker_line("CALL_SITE_B_OUTER"), 1,
		    pa.b);
	mo_sym_free(sym);
}

/* Runs eu-addr2line -i -f on the call site of vaddr and compares function
 * names, file basenames and lines with our frames. */
static void cross_check(const mo_frame_t *fr, int n, uint64_t vaddr)
{
	char cmd[512];
	char name[256];
	char loc[512];
	FILE *p;
	int i = 0;

	snprintf(cmd, sizeof(cmd), "eu-addr2line -i -f -e %s %#lx", PROG,
		 (unsigned long)(vaddr - 1));
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(name, sizeof(name), p) && fgets(loc, sizeof(loc), p)) {
		char fn[256];
		char file[256];
		unsigned line = 0;

		cr_assert_lt(i, n, "eu-addr2line has more frames than %d", n);
		cr_assert_eq(sscanf(name, "%255s", fn), 1);
		cr_assert_eq(
			sscanf(basename_of(loc), "%255[^:]:%u", file, &line), 2,
			"bad eu-addr2line line: %s", loc);
		cr_assert_str_eq(fr[i].function, fn);
		cr_assert_str_eq(basename_of(fr[i].file), file);
		cr_assert_eq(fr[i].line, line);
		cr_assert_eq(fr[i].inlined, i < n - 1);
		i++;
	}
	cr_assert_eq(pclose(p), 0);
	cr_assert_eq(i, n, "eu-addr2line printed %d frames, we have %d", i, n);
}

Test(symbolize, matches_eu_addr2line)
{
	prog_addrs_t pa;
	mo_frame_t fr[MAX_FRAMES];
	mo_sym_t *sym = mo_sym_new();
	uint64_t addrs[3];

	if (system("eu-addr2line --version >/dev/null 2>&1") != 0)
		cr_skip_test("eu-addr2line not installed (package elfutils)");
	run_prog(&pa);
	addrs[0] = pa.a;
	addrs[1] = pa.b;
	addrs[2] = pa.c;
	for (int i = 0; i < 3; i++) {
		int n = resolve_prog(sym, addrs[i], pa.bias, fr, MAX_FRAMES);

		cross_check(fr, n, addrs[i] - pa.bias);
	}
	mo_sym_free(sym);
}

Test(symbolize, cache_returns_identical_pointers)
{
	prog_addrs_t pa;
	mo_frame_t first[MAX_FRAMES];
	mo_frame_t again[MAX_FRAMES];
	mo_frame_t other[MAX_FRAMES];
	mo_sym_t *sym = mo_sym_new();
	int n;

	run_prog(&pa);
	n = resolve_prog(sym, pa.b, pa.bias, first, MAX_FRAMES);
	cr_assert_eq(n, 3);
	/* Thousands of other addresses: tables grow, pointers must not move. */
	for (uint64_t v = 0x1000; v < 0x1000 + 3000; v++)
		cr_assert_geq(resolve_prog(sym, pa.bias + v, pa.bias, other,
					   MAX_FRAMES),
			      1);
	cr_assert_eq(resolve_prog(sym, pa.b, pa.bias, again, MAX_FRAMES), n);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(again[i].function, first[i].function);
		cr_assert_eq(again[i].file, first[i].file);
		cr_assert_eq(again[i].module, first[i].module);
		cr_assert_eq(again[i].line, first[i].line);
		cr_assert_eq(again[i].inlined, first[i].inlined);
	}
	/* Strings are shared between addresses: main() of A is main() of B. */
	cr_assert_eq(resolve_prog(sym, pa.a, pa.bias, other, MAX_FRAMES), 2);
	cr_assert_eq(other[1].function, first[2].function);
	cr_assert_eq(other[1].file, first[2].file);
	cr_assert_str_eq(other[1].function, "main");
	mo_sym_free(sym);
}

Test(symbolize, module_indices)
{
	static const uint8_t id1[] = {1, 2, 3, 4};
	static const uint8_t id2[] = {1, 2, 3, 5};
	mo_sym_t *sym = mo_sym_new();
	int a = mo_sym_module(sym, "/lib/a.so", 9, id1, sizeof(id1));
	int b = mo_sym_module(sym, "/lib/a.so", 9, id2, sizeof(id2));
	int c = mo_sym_module(sym, "/lib/b.so", 9, id1, sizeof(id1));
	int d = mo_sym_module(sym, "/lib/a.sox", 9, NULL, 0);

	cr_assert(a >= 0 && b >= 0 && c >= 0 && d >= 0);
	cr_assert_neq(a, b);
	cr_assert_neq(a, c);
	cr_assert_neq(b, c);
	cr_assert_neq(d, a);
	cr_assert_eq(mo_sym_module(sym, "/lib/a.so", 9, id1, sizeof(id1)), a);
	cr_assert_eq(mo_sym_module(sym, "/lib/a.so", 9, id2, sizeof(id2)), b);
	cr_assert_eq(mo_sym_module(sym, "/lib/a.so!", 9, NULL, 0), d);
	cr_assert_str_eq(mo_sym_module_path(sym, a), "/lib/a.so");
	cr_assert_str_eq(mo_sym_module_path(sym, c), "/lib/b.so");
	cr_assert_str_eq(mo_sym_module_path(sym, d), "/lib/a.so");
	cr_assert_str_eq(mo_sym_module_path(sym, -1), "?");
	cr_assert_str_eq(mo_sym_module_path(sym, 1000), "?");
	/* Many modules: the index table grows and keeps every mapping. */
	for (int i = 0; i < 500; i++) {
		char path[32];
		int len = snprintf(path, sizeof(path), "/m/%d.so", i);

		cr_assert_eq(mo_sym_module(sym, path, (size_t)len, NULL, 0),
			     4 + i);
	}
	cr_assert_eq(mo_sym_module(sym, "/m/7.so", 7, NULL, 0), 4 + 7);
	cr_assert_eq(mo_sym_module(sym, "/lib/b.so", 9, id1, sizeof(id1)), c);
	mo_sym_free(sym);
}

static void check_unknown(mo_sym_t *sym, int mod, const char *module)
{
	mo_frame_t fr[MAX_FRAMES];
	int n = mo_sym_resolve(sym, mod, 0x1234, 0x7f001234, fr, MAX_FRAMES);

	cr_assert_eq(n, 1);
	cr_assert_null(fr[0].function);
	cr_assert_null(fr[0].file);
	cr_assert_eq(fr[0].line, 0);
	cr_assert_eq(fr[0].inlined, 0);
	cr_assert_eq(fr[0].address, 0x7f001234);
	cr_assert_str_eq(fr[0].module, module);
}

Test(symbolize, missing_module)
{
	static const char path[] = "/nonexistent/memopt/libnothing.so";
	mo_sym_t *sym = mo_sym_new();
	int mod = mo_sym_module(sym, path, strlen(path), NULL, 0);

	cr_assert_geq(mod, 0);
	check_unknown(sym, mod, path);
	check_unknown(sym, mod, path); /* the failed open is remembered */
	cr_assert_eq(mo_sym_module_mismatch(sym, mod), 0);
	mo_sym_free(sym);
}

Test(symbolize, not_elf_module)
{
	mo_sym_t *sym = mo_sym_new();
	int src = mo_sym_module(sym, PROG_SRC, strlen(PROG_SRC), NULL, 0);
	int dir = mo_sym_module(sym, MO_SRCDIR, strlen(MO_SRCDIR), NULL, 0);
	int null = mo_sym_module(sym, "/dev/null", 9, NULL, 0);

	check_unknown(sym, src, PROG_SRC);
	check_unknown(sym, dir, MO_SRCDIR);
	check_unknown(sym, null, "/dev/null");
	mo_sym_free(sym);
}

Test(symbolize, no_module)
{
	mo_sym_t *sym = mo_sym_new();
	int empty = mo_sym_module(sym, "", 0, NULL, 0);

	check_unknown(sym, -1, "?");
	check_unknown(sym, 42, "?");
	check_unknown(sym, empty, "?");
	cr_assert_str_eq(mo_sym_module_path(sym, empty), "?");
	mo_sym_free(sym);
}

/* ----------------------------------------------------- libc and libstdc++ */

typedef struct object_note {
	uintptr_t base; /* load bias of the wanted object */
	uint8_t id[64]; /* its GNU build-id */
	size_t id_len;
} object_note_t;

static void find_build_id(const struct dl_phdr_info *info, object_note_t *on)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		const char *end = p + ph->p_memsz;

		if (ph->p_type != PT_NOTE)
			continue;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const char *name = p + sizeof(*nh);
			const char *desc = name + ((nh->n_namesz + 3) & ~3u);

			if (nh->n_type == NT_GNU_BUILD_ID &&
			    nh->n_namesz == 4 && !memcmp(name, "GNU", 4) &&
			    nh->n_descsz <= sizeof(on->id)) {
				memcpy(on->id, desc, nh->n_descsz);
				on->id_len = nh->n_descsz;
				return;
			}
			p = desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
}

static int note_of_base(struct dl_phdr_info *info, size_t size, void *data)
{
	object_note_t *on = data;

	(void)size;
	if (info->dlpi_addr != on->base)
		return 0;
	find_build_id(info, on);
	return 1;
}

typedef struct object_fn {
	const char *path;   /* the object file, from dladdr */
	uint64_t vaddr;	    /* ELF virtual address of the function */
	object_note_t note; /* its build-id */
} object_fn_t;

/* Locates function symbol in the loaded library lib. */
static void locate(const char *lib, const char *symbol, object_fn_t *of)
{
	void *h = dlopen(lib, RTLD_LAZY);
	void *fn;
	Dl_info info;
	struct link_map *lm = NULL;

	cr_assert_not_null(h, "dlopen %s: %s", lib, dlerror());
	fn = dlsym(h, symbol);
	cr_assert_not_null(fn, "dlsym %s", symbol);
	cr_assert(dladdr1(fn, &info, (void **)&lm, RTLD_DL_LINKMAP));
	cr_assert_not_null(info.dli_fname);
	cr_assert_not_null(lm);
	of->path = info.dli_fname;
	of->vaddr = (uintptr_t)fn - lm->l_addr;
	memset(&of->note, 0, sizeof(of->note));
	of->note.base = lm->l_addr;
	dl_iterate_phdr(note_of_base, &of->note);
	cr_assert_gt(of->note.id_len, 0, "no build-id in %s", of->path);
	/* The library stays loaded: it is a dependency of the test. */
	dlclose(h);
}

/* Nonzero if separate debug info for this build-id is installed. */
static int have_debuginfo(const object_note_t *on)
{
	char path[256];
	int len = snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%02x/",
			   on->id[0]);

	for (size_t i = 1; i < on->id_len; i++)
		len += snprintf(path + len, sizeof(path) - (size_t)len, "%02x",
				on->id[i]);
	snprintf(path + len, sizeof(path) - (size_t)len, ".debug");
	return access(path, R_OK) == 0;
}

/* Resolves the first byte of a function (so "return address" + 1). */
static int resolve_fn(mo_sym_t *sym, const object_fn_t *of, const uint8_t *id,
		      size_t id_len, mo_frame_t *fr, int *mod)
{
	*mod = mo_sym_module(sym, of->path, strlen(of->path), id, id_len);
	cr_assert_geq(*mod, 0);
	return mo_sym_resolve(sym, *mod, of->vaddr + 1, of->vaddr + 1, fr,
			      MAX_FRAMES);
}

Test(symbolize, libc_function)
{
	object_fn_t of;
	mo_frame_t fr[MAX_FRAMES];
	mo_sym_t *sym = mo_sym_new();
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	int mod;
	int n;

	locate("libc.so.6", "malloc", &of);
	n = resolve_fn(sym, &of, NULL, 0, fr, &mod);
	cr_assert_eq(n, 1, "the first byte of malloc is in no inlined code");
	cr_assert_not_null(fr[0].function);
	cr_assert_str_eq(fr[0].module, of.path);
	cr_assert_eq(fr[0].inlined, 0);
	/* malloc may carry an alias name; whichever, it must be malloc. */
	cr_assert_not_null(libc);
	cr_assert_eq(dlsym(libc, fr[0].function), dlsym(libc, "malloc"),
		     "%s is not malloc", fr[0].function);
	if (have_debuginfo(&of.note)) {
		cr_assert_not_null(fr[0].file, "debug info not used");
		cr_assert_str_eq(basename_of(fr[0].file), "malloc.c");
		cr_assert_gt(fr[0].line, 0);
	}
	dlclose(libc);
	mo_sym_free(sym);
}

Test(symbolize, build_id_mismatch)
{
	object_fn_t of;
	mo_frame_t fr[MAX_FRAMES];
	mo_frame_t good[MAX_FRAMES];
	uint8_t wrong[64];
	mo_sym_t *sym = mo_sym_new();
	int right_mod, wrong_mod, short_mod, none_mod;

	locate("libc.so.6", "malloc", &of);
	cr_assert_geq(resolve_fn(sym, &of, of.note.id, of.note.id_len, good,
				 &right_mod),
		      1);
	cr_assert_eq(mo_sym_module_mismatch(sym, right_mod), 0);

	memcpy(wrong, of.note.id, of.note.id_len);
	wrong[of.note.id_len - 1] ^= 0x5a;
	cr_assert_geq(
		resolve_fn(sym, &of, wrong, of.note.id_len, fr, &wrong_mod), 1);
	cr_assert_neq(wrong_mod, right_mod);
	cr_assert_neq(mo_sym_module_mismatch(sym, wrong_mod), 0);
	/* Still symbolized from the file on disk. */
	cr_assert_eq(fr[0].function, good[0].function);

	cr_assert_geq(resolve_fn(sym, &of, of.note.id, of.note.id_len - 1, fr,
				 &short_mod),
		      1);
	cr_assert_neq(mo_sym_module_mismatch(sym, short_mod), 0);

	cr_assert_geq(resolve_fn(sym, &of, NULL, 0, fr, &none_mod), 1);
	cr_assert_eq(mo_sym_module_mismatch(sym, none_mod), 0);
	mo_sym_free(sym);
}

Test(symbolize, cxx_name_from_library)
{
	object_fn_t of;
	mo_frame_t fr[MAX_FRAMES];
	mo_sym_t *sym = mo_sym_new();
	int mod;
	int n;

	locate("libstdc++.so.6", "_ZSt9terminatev", &of);
	n = resolve_fn(sym, &of, of.note.id, of.note.id_len, fr, &mod);
	cr_assert_geq(n, 1);
	cr_assert_not_null(fr[n - 1].function);
	cr_assert_str_eq(fr[n - 1].function, "std::terminate()");
	cr_assert_eq(mo_sym_module_mismatch(sym, mod), 0);
	mo_sym_free(sym);
}

static void check_demangle(const char *mangled, const char *expected)
{
	char *s = mo_sym_demangle(mangled);

	if (!expected) {
		cr_assert_null(s, "%s demangled to %s", mangled, s);
		return;
	}
	cr_assert_not_null(s, "%s not demangled", mangled);
	cr_assert_str_eq(s, expected);
	free(s);
}

Test(symbolize, demangle)
{
	check_demangle("_ZNSt6vectorIiSaIiEE9push_backERKi",
		       "std::vector<int, std::allocator<int> >::"
		       "push_back(int const&)");
	check_demangle("_Z3fooi", "foo(int)");
	check_demangle("_ZN2ns3BarC2Ev", "ns::Bar::Bar()");
	check_demangle("main", NULL);
	check_demangle("i", NULL); /* a type, not a symbol name */
	check_demangle("_Z", NULL);
	check_demangle("_Z!!garbage", NULL);
	check_demangle("", NULL);
	check_demangle(NULL, NULL);
}
