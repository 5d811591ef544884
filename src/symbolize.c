/*
 * Symbolizer: (module, ELF virtual address) -> functions, files, lines and
 * inline frames, with elfutils.
 *
 * Each module gets its own offline Dwfl, opened on the first resolve that
 * needs it, with the file reported at bias 0 so that ELF virtual addresses
 * are looked up as they are.  Separate debug info is found by build-id under
 * /usr/lib/debug (dwfl_standard_find_debuginfo).
 *
 * Results are cached in an open-addressing hash table keyed by (module,
 * vaddr); the frames of all entries live in one growing array and every
 * string is interned in an arena, so a repeated lookup is one probe and the
 * returned pointers stay valid and shared until mo_sym_free().  Memory grows
 * with the number of distinct addresses resolved, nothing else.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include "symbolize.h"

/* From libstdc++ (DEMANGLE_LIBS); <cxxabi.h> is C++ only. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len,
			    int *status);

#define MO__MAX_FRAMES 64      /* frames kept per address (inline depth) */
#define MO__CHUNK_SIZE 65536   /* string arena chunk */
#define MO__MAX_DEMANGLE 65536 /* longer names are left mangled */
#define MO__UNKNOWN_MODULE "?"

/* ---------------------------------------------------------------- types */

typedef struct mo__chunk {
	struct mo__chunk *next;
	size_t used;
	size_t size;
	char data[];
} mo__chunk_t;

typedef struct mo__str {
	const char *str; /* NULL: empty slot */
	size_t len;
	uint64_t hash;
} mo__str_t;

/* A cached frame: mo_frame_t without what the caller supplies. */
typedef struct mo__cframe {
	const char *function;
	const char *file;
	uint32_t line;
	uint32_t inlined;
} mo__cframe_t;

typedef struct mo__entry {
	uint64_t vaddr;
	int32_t module;
	uint32_t nframes; /* 0: empty slot */
	size_t first;	  /* index into sym->frames */
} mo__entry_t;

enum { MO__MOD_NEW, MO__MOD_OPEN, MO__MOD_FAILED };

typedef struct mo__module {
	const char *path; /* interned */
	uint8_t *build_id;
	size_t build_id_len;
	uint64_t hash;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	int state;
	int mismatch;
} mo__module_t;

struct mo_sym {
	mo__chunk_t *chunks;
	mo__str_t *strs; /* interned strings, open addressing */
	size_t nstrs;
	size_t strs_cap;
	mo__module_t *mods;
	size_t nmods;
	size_t mods_cap;
	int32_t *mod_slots; /* module indices by hash, -1: empty */
	size_t mod_slots_cap;
	mo__entry_t *cache;
	size_t ncache;
	size_t cache_cap;
	mo__cframe_t *frames;
	size_t nframes;
	size_t frames_cap;
};

/* ------------------------------------------------------------- hashing */

static uint64_t mo__mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t mo__hash_bytes(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return mo__mix64(h);
}

static uint64_t mo__hash_addr(int module, uint64_t vaddr)
{
	return mo__mix64(vaddr ^ ((uint64_t)(uint32_t)module << 40) ^
			 ((uint64_t)(uint32_t)module * 0x9e3779b97f4a7c15ULL));
}

/* Doubles *cap (at least to min) for a table of elem-sized slots, zeroed. */
static void *mo__table_alloc(size_t *cap, size_t min, size_t elem)
{
	size_t n = *cap ? *cap * 2 : min;
	void *t;

	if (n > SIZE_MAX / elem)
		return NULL;
	t = calloc(n, elem);
	if (t)
		*cap = n;
	return t;
}

/* ------------------------------------------------------ string interning */

static char *mo__arena_dup(mo_sym_t *sym, const char *s, size_t len)
{
	mo__chunk_t *c = sym->chunks;
	char *p;

	if (!c || c->size - c->used < len + 1) {
		size_t size =
			len + 1 > MO__CHUNK_SIZE ? len + 1 : MO__CHUNK_SIZE;

		if (len >= SIZE_MAX - sizeof(*c) - 1)
			return NULL;
		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->used = 0;
		/* A big string gets its own chunk, behind the current one. */
		if (sym->chunks && size > MO__CHUNK_SIZE) {
			c->next = sym->chunks->next;
			sym->chunks->next = c;
		} else {
			c->next = sym->chunks;
			sym->chunks = c;
		}
	}
	p = c->data + c->used;
	memcpy(p, s, len);
	p[len] = '\0';
	c->used += len + 1;
	return p;
}

static int mo__strs_grow(mo_sym_t *sym)
{
	size_t old_cap = sym->strs_cap;
	mo__str_t *old = sym->strs;
	mo__str_t *t = mo__table_alloc(&sym->strs_cap, 256, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < old_cap; i++) {
		size_t mask = sym->strs_cap - 1;
		size_t j;

		if (!old[i].str)
			continue;
		for (j = old[i].hash & mask; t[j].str; j = (j + 1) & mask)
			;
		t[j] = old[i];
	}
	free(old);
	sym->strs = t;
	return 0;
}

/* Returns the unique copy of s[0..len), or NULL when memory runs out. */
static const char *mo__intern_len(mo_sym_t *sym, const char *s, size_t len)
{
	uint64_t h = mo__hash_bytes(s, len, 0);
	size_t mask;
	size_t i;

	if ((sym->nstrs + 1) * 2 > sym->strs_cap && mo__strs_grow(sym) < 0)
		return NULL;
	mask = sym->strs_cap - 1;
	for (i = h & mask; sym->strs[i].str; i = (i + 1) & mask) {
		const mo__str_t *e = &sym->strs[i];

		if (e->hash == h && e->len == len && !memcmp(e->str, s, len))
			return e->str;
	}
	sym->strs[i].str = mo__arena_dup(sym, s, len);
	if (!sym->strs[i].str)
		return NULL;
	sym->strs[i].len = len;
	sym->strs[i].hash = h;
	sym->nstrs++;
	return sym->strs[i].str;
}

static const char *mo__intern(mo_sym_t *sym, const char *s)
{
	return s ? mo__intern_len(sym, s, strlen(s)) : NULL;
}

/* Interns the demangled form of name if it is a C++ name, else name. */
static const char *mo__intern_symbol(mo_sym_t *sym, const char *name)
{
	char *demangled = mo_sym_demangle(name);
	const char *s;

	if (!demangled)
		return mo__intern(sym, name);
	s = mo__intern(sym, demangled);
	free(demangled);
	return s;
}

/* See symbolize.h.  Only "_Z" names are tried: __cxa_demangle would also
 * turn a bare "i" into the type "int". */
char *mo_sym_demangle(const char *name)
{
	int status = -1;
	char *out;

	if (!name || name[0] != '_' || name[1] != 'Z' ||
	    strnlen(name, MO__MAX_DEMANGLE) == MO__MAX_DEMANGLE)
		return NULL;
	out = __cxa_demangle(name, NULL, NULL, &status);
	if (status != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* ------------------------------------------------------------ lifetime */

/* Returns an empty symbolizer or NULL; nothing is opened yet. */
mo_sym_t *mo_sym_new(void)
{
	return calloc(1, sizeof(mo_sym_t));
}

/* Closes every Dwfl and frees all strings and frames handed out. */
void mo_sym_free(mo_sym_t *sym)
{
	mo__chunk_t *c;

	if (!sym)
		return;
	for (size_t i = 0; i < sym->nmods; i++) {
		if (sym->mods[i].dwfl)
			dwfl_end(sym->mods[i].dwfl);
		free(sym->mods[i].build_id);
	}
	while ((c = sym->chunks)) {
		sym->chunks = c->next;
		free(c);
	}
	free(sym->mods);
	free(sym->mod_slots);
	free(sym->strs);
	free(sym->cache);
	free(sym->frames);
	free(sym);
}

/* -------------------------------------------------------------- modules */

static bool mo__module_is(const mo__module_t *m, const char *path,
			  const uint8_t *build_id, size_t build_id_len)
{
	return m->path == path && m->build_id_len == build_id_len &&
	       (build_id_len == 0 ||
		!memcmp(m->build_id, build_id, build_id_len));
}

static int mo__mod_slots_grow(mo_sym_t *sym)
{
	size_t cap = sym->mod_slots_cap ? sym->mod_slots_cap * 2 : 64;
	int32_t *t;

	if (cap > SIZE_MAX / sizeof(*t))
		return -ENOMEM;
	t = malloc(cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t, 0xff, cap * sizeof(*t)); /* all -1 */
	for (size_t i = 0; i < sym->nmods; i++) {
		size_t j = sym->mods[i].hash & (cap - 1);

		while (t[j] >= 0)
			j = (j + 1) & (cap - 1);
		t[j] = (int32_t)i;
	}
	free(sym->mod_slots);
	sym->mod_slots = t;
	sym->mod_slots_cap = cap;
	return 0;
}

static int mo__mods_reserve(mo_sym_t *sym)
{
	size_t cap;
	mo__module_t *m;

	if (sym->nmods >= INT32_MAX)
		return -ENOMEM;
	if ((sym->nmods + 1) * 2 > sym->mod_slots_cap &&
	    mo__mod_slots_grow(sym) < 0)
		return -ENOMEM;
	if (sym->nmods < sym->mods_cap)
		return 0;
	cap = sym->mods_cap ? sym->mods_cap * 2 : 16;
	m = realloc(sym->mods, cap * sizeof(*m));
	if (!m)
		return -ENOMEM;
	sym->mods = m;
	sym->mods_cap = cap;
	return 0;
}

/* Returns the index of (path, build_id), adding it if new; -ENOMEM, or
 * -EINVAL for a NULL sym or path.  The file is not touched here. */
int mo_sym_module(mo_sym_t *sym, const char *path, size_t path_len,
		  const uint8_t *build_id, size_t build_id_len)
{
	const char *ipath;
	mo__module_t *m;
	uint64_t h;
	size_t mask;
	size_t i;

	if (!sym || (!path && path_len))
		return -EINVAL;
	if (!build_id)
		build_id_len = 0;
	ipath = mo__intern_len(sym, path ? path : "", path_len);
	if (!ipath || mo__mods_reserve(sym) < 0)
		return -ENOMEM;
	h = mo__hash_bytes(build_id, build_id_len,
			   mo__hash_bytes(ipath, path_len, 0));
	mask = sym->mod_slots_cap - 1;
	for (i = h & mask; sym->mod_slots[i] >= 0; i = (i + 1) & mask) {
		int32_t idx = sym->mod_slots[i];

		if (sym->mods[idx].hash == h &&
		    mo__module_is(&sym->mods[idx], ipath, build_id,
				  build_id_len))
			return idx;
	}
	m = &sym->mods[sym->nmods];
	memset(m, 0, sizeof(*m));
	if (build_id_len) {
		m->build_id = malloc(build_id_len);
		if (!m->build_id)
			return -ENOMEM;
		memcpy(m->build_id, build_id, build_id_len);
	}
	m->path = ipath;
	m->build_id_len = build_id_len;
	m->hash = h;
	m->state = MO__MOD_NEW;
	sym->mod_slots[i] = (int32_t)sym->nmods;
	return (int)sym->nmods++;
}

static const mo__module_t *mo__module_get(const mo_sym_t *sym, int module)
{
	if (!sym || module < 0 || (size_t)module >= sym->nmods)
		return NULL;
	return &sym->mods[module];
}

/* Returns the interned path, or "?" for an unknown index or empty path. */
const char *mo_sym_module_path(const mo_sym_t *sym, int module)
{
	const mo__module_t *m = mo__module_get(sym, module);

	return m && m->path[0] ? m->path : MO__UNKNOWN_MODULE;
}

/* Returns 1 if the opened file has another (or no) build-id than the one
 * recorded; 0 if they match, none was recorded, or the file is missing. */
int mo_sym_module_mismatch(const mo_sym_t *sym, int module)
{
	const mo__module_t *m = mo__module_get(sym, module);

	return m ? m->mismatch : 0;
}

int mo_sym_nmodules(const mo_sym_t *sym)
{
	return sym ? (int)sym->nmods : 0;
}

static const Dwfl_Callbacks mo__dwfl_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* Nonzero if the opened file's build-id differs from the recorded one. */
static int mo__build_id_differs(const mo__module_t *m)
{
	const unsigned char *bits = NULL;
	GElf_Addr where;
	int len;

	if (m->build_id_len == 0)
		return 0;
	len = dwfl_module_build_id(m->mod, &bits, &where);
	if (len <= 0 || !bits)
		return 1;
	return (size_t)len != m->build_id_len ||
	       memcmp(bits, m->build_id, m->build_id_len) != 0;
}

/* Only regular files are opened: a FIFO or device would block or lie. */
static bool mo__is_regular_file(const char *path)
{
	struct stat st;

	return path[0] != '\0' && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Opens the module file once; afterwards state is OPEN or FAILED. */
static void mo__module_open(mo__module_t *m)
{
	Dwfl *dwfl;
	Dwfl_Module *mod;

	m->state = MO__MOD_FAILED;
	if (!mo__is_regular_file(m->path))
		return;
	dwfl = dwfl_begin(&mo__dwfl_callbacks);
	if (!dwfl)
		return;
	dwfl_report_begin(dwfl);
	/* base 0 with add_p_vaddr: bias 0 for ET_DYN and ET_EXEC alike. */
	mod = dwfl_report_elf(dwfl, m->path, m->path, -1, 0, true);
	if (dwfl_report_end(dwfl, NULL, NULL) != 0 || !mod) {
		dwfl_end(dwfl);
		return;
	}
	m->dwfl = dwfl;
	m->mod = mod;
	m->state = MO__MOD_OPEN;
	m->mismatch = mo__build_id_differs(m);
}

/* ------------------------------------------------------------ lookups */

/* Location of the code being described while walking inline scopes. */
typedef struct mo__loc {
	const char *file;
	uint32_t line;
} mo__loc_t;

static const char *mo__die_string(Dwarf_Die *die, unsigned int name)
{
	Dwarf_Attribute attr;

	return dwarf_formstring(dwarf_attr_integrate(die, name, &attr));
}

static const char *mo__die_linkage_name(Dwarf_Die *die)
{
	const char *s = mo__die_string(die, DW_AT_linkage_name);

	return s ? s : mo__die_string(die, DW_AT_MIPS_linkage_name);
}

static bool mo__is_mangled(const char *name)
{
	return name && name[0] == '_' && name[1] == 'Z';
}

/* Source-level name of a subprogram or inlined subroutine, or NULL: a C++
 * linkage name demangled, else DW_AT_name.  A C linkage name only reflects
 * an asm label ("__GI___libc_malloc" for __libc_malloc), so it comes last. */
static const char *mo__die_name(mo_sym_t *sym, Dwarf_Die *die)
{
	const char *linkage = mo__die_linkage_name(die);
	const char *name;

	if (mo__is_mangled(linkage))
		return mo__intern_symbol(sym, linkage);
	name = mo__die_string(die, DW_AT_name);
	return mo__intern(sym, name ? name : linkage);
}

static int mo__die_udata(Dwarf_Die *die, unsigned int name, Dwarf_Word *out)
{
	Dwarf_Attribute attr;

	return dwarf_formudata(dwarf_attr(die, name, &attr), out);
}

/* File name of entry idx in the line table of die's unit, or NULL. */
static const char *mo__unit_file(Dwarf_Die *die, Dwarf_Die *cudie,
				 Dwarf_Word idx)
{
	Dwarf_Die unit;
	Dwarf_Files *files;
	size_t nfiles = 0;

	if (!dwarf_diecu(die, &unit, NULL, NULL))
		unit = *cudie;
	if (dwarf_getsrcfiles(&unit, &files, &nfiles) != 0 &&
	    dwarf_getsrcfiles(cudie, &files, &nfiles) != 0)
		return NULL;
	if (idx >= nfiles)
		return NULL;
	return dwarf_filesrc(files, idx, NULL, NULL);
}

/* The place an inlined subroutine was called from. */
static mo__loc_t mo__call_site(mo_sym_t *sym, Dwarf_Die *inl, Dwarf_Die *cudie)
{
	mo__loc_t loc = {NULL, 0};
	Dwarf_Word v;

	if (mo__die_udata(inl, DW_AT_call_file, &v) == 0)
		loc.file = mo__intern(sym, mo__unit_file(inl, cudie, v));
	if (mo__die_udata(inl, DW_AT_call_line, &v) == 0 && v <= UINT32_MAX)
		loc.line = (uint32_t)v;
	return loc;
}

/* Line-table location of pc. */
static mo__loc_t mo__line_at(mo_sym_t *sym, Dwfl_Module *mod, GElf_Addr pc)
{
	mo__loc_t loc = {NULL, 0};
	Dwfl_Line *line = dwfl_module_getsrc(mod, pc);
	int lineno = 0;

	if (!line)
		return loc;
	loc.file = mo__intern(
		sym, dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL));
	if (lineno > 0)
		loc.line = (uint32_t)lineno;
	return loc;
}

static void mo__set_frame(mo__cframe_t *f, const char *function, mo__loc_t loc,
			  int inlined)
{
	f->function = function;
	f->file = loc.file;
	f->line = loc.line;
	f->inlined = (uint32_t)inlined;
}

/* The DIE of the innermost scope containing pc and its physical parents
 * (dwarf_getscopes_die), innermost first; the caller frees *chain.
 * Returns the chain length, <= 0 without DWARF for pc. */
static int mo__scope_chain(Dwfl_Module *mod, GElf_Addr pc, Dwarf_Die **cudie,
			   Dwarf_Die **chain)
{
	Dwarf_Addr bias = 0;
	Dwarf_Die *scopes = NULL;
	Dwarf_Die inner;
	Dwarf *dw;
	int n;

	*chain = NULL;
	*cudie = dwfl_module_addrdie(mod, pc, &bias);
	if (!*cudie || pc < bias)
		return 0;
	/* dwarf_getscopes() continues in the abstract definition of an
	 * inlined subroutine; the physical nesting of inlined instances
	 * comes from the parents of the innermost scope instead. */
	n = dwarf_getscopes(*cudie, pc - bias, &scopes);
	if (n <= 0) {
		free(scopes);
		return 0;
	}
	dw = dwfl_module_getdwarf(mod, &bias);
	if (!dw || !dwarf_offdie(dw, dwarf_dieoffset(&scopes[0]), &inner))
		inner = scopes[0];
	free(scopes);
	n = dwarf_getscopes_die(&inner, chain);
	if (n <= 0) {
		free(*chain);
		*chain = NULL;
		return 0;
	}
	return n;
}

/* The real function around pc, as found in DWARF. */
typedef struct mo__outer {
	Dwarf_Die die;
	bool found; /* die is the subprogram */
	bool cxx;   /* its unit is C++ */
} mo__outer_t;

static bool mo__is_cxx_unit(Dwarf_Die *cudie)
{
	switch (dwarf_srclang(cudie)) {
	case DW_LANG_C_plus_plus:
	case DW_LANG_C_plus_plus_03:
	case DW_LANG_C_plus_plus_11:
	case DW_LANG_C_plus_plus_14:
		return true;
	default:
		return false;
	}
}

/* Walks the scopes at pc, innermost first: one frame per inlined
 * subroutine, then the real function (named later, from *outer).  Returns
 * the number of frames, 0 when there is no DWARF for pc. */
static int mo__inline_frames(mo_sym_t *sym, Dwfl_Module *mod, GElf_Addr pc,
			     mo__loc_t loc, mo__cframe_t *fr, int max,
			     mo__outer_t *outer)
{
	Dwarf_Die *cudie;
	Dwarf_Die *chain;
	int nchain = mo__scope_chain(mod, pc, &cudie, &chain);
	int n = 0;

	outer->found = false;
	outer->cxx = nchain > 0 && mo__is_cxx_unit(cudie);
	for (int i = 0; i < nchain && n < max - 1; i++) {
		int tag = dwarf_tag(&chain[i]);

		if (tag == DW_TAG_subprogram) {
			outer->die = chain[i];
			outer->found = true;
			break;
		}
		if (tag != DW_TAG_inlined_subroutine)
			continue;
		mo__set_frame(&fr[n++], mo__die_name(sym, &chain[i]), loc, 1);
		loc = mo__call_site(sym, &chain[i], cudie);
	}
	free(chain);
	if (n == 0 && !outer->found)
		return 0;
	mo__set_frame(&fr[n++], NULL, loc, 0);
	return n;
}

/* Name of the real (not inlined) function at pc, demangled where possible:
 * the C++ name from DWARF, else a mangled (C++) ELF symbol, else the DWARF
 * name (source-level: "foo" rather than the clone "foo.part.0" or a
 * library's internal alias "__GI_foo"), else the ELF symbol.  The symbol
 * table is searched only when DWARF does not settle it: libdwfl scans it
 * linearly. */
static const char *mo__outer_name(mo_sym_t *sym, Dwfl_Module *mod, GElf_Addr pc,
				  mo__outer_t *outer)
{
	const char *dwarf_name = NULL;
	const char *elf_name;
	GElf_Off offset;
	GElf_Sym esym;

	if (outer->found) {
		if (mo__is_mangled(mo__die_linkage_name(&outer->die)))
			return mo__die_name(sym, &outer->die);
		dwarf_name = mo__die_name(sym, &outer->die);
		if (dwarf_name && !outer->cxx)
			return dwarf_name;
	}
	elf_name =
		dwfl_module_addrinfo(mod, pc, &offset, &esym, NULL, NULL, NULL);
	if (mo__is_mangled(elf_name))
		return mo__intern_symbol(sym, elf_name);
	if (dwarf_name)
		return dwarf_name;
	return mo__intern(sym, elf_name);
}

/* Resolves pc in an open module into fr (room for MO__MAX_FRAMES). */
static int mo__resolve_open(mo_sym_t *sym, Dwfl_Module *mod, GElf_Addr pc,
			    mo__cframe_t *fr)
{
	mo__loc_t loc = mo__line_at(sym, mod, pc);
	mo__outer_t outer;
	int n;

	n = mo__inline_frames(sym, mod, pc, loc, fr, MO__MAX_FRAMES, &outer);
	if (n == 0)
		mo__set_frame(&fr[n++], NULL, loc, 0);
	fr[n - 1].function = mo__outer_name(sym, mod, pc, &outer);
	return n;
}

/* ---------------------------------------------------------------- cache */

static mo__entry_t *mo__cache_find(const mo_sym_t *sym, int module,
				   uint64_t vaddr)
{
	size_t mask = sym->cache_cap - 1;

	if (!sym->cache_cap)
		return NULL;
	for (size_t i = mo__hash_addr(module, vaddr) & mask;
	     sym->cache[i].nframes; i = (i + 1) & mask) {
		mo__entry_t *e = &sym->cache[i];

		if (e->vaddr == vaddr && e->module == module)
			return e;
	}
	return NULL;
}

static int mo__cache_grow(mo_sym_t *sym)
{
	size_t old_cap = sym->cache_cap;
	mo__entry_t *old = sym->cache;
	mo__entry_t *t = mo__table_alloc(&sym->cache_cap, 1024, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < old_cap; i++) {
		size_t mask = sym->cache_cap - 1;
		size_t j;

		if (!old[i].nframes)
			continue;
		j = mo__hash_addr(old[i].module, old[i].vaddr) & mask;
		while (t[j].nframes)
			j = (j + 1) & mask;
		t[j] = old[i];
	}
	free(old);
	sym->cache = t;
	return 0;
}

static int mo__frames_reserve(mo_sym_t *sym, size_t n)
{
	size_t cap = sym->frames_cap ? sym->frames_cap : 1024;
	mo__cframe_t *f;

	if (sym->nframes + n <= sym->frames_cap)
		return 0;
	while (cap < sym->nframes + n)
		cap *= 2;
	if (cap > SIZE_MAX / sizeof(*f))
		return -ENOMEM;
	f = realloc(sym->frames, cap * sizeof(*f));
	if (!f)
		return -ENOMEM;
	sym->frames = f;
	sym->frames_cap = cap;
	return 0;
}

/* Stores n frames for (module, vaddr), not yet cached; returns the entry
 * or NULL when memory runs out (the result is then simply not cached). */
static mo__entry_t *mo__cache_add(mo_sym_t *sym, int module, uint64_t vaddr,
				  const mo__cframe_t *fr, int n)
{
	mo__entry_t *e;
	size_t mask;
	size_t i;

	if ((sym->ncache + 1) * 2 > sym->cache_cap && mo__cache_grow(sym) < 0)
		return NULL;
	if (mo__frames_reserve(sym, (size_t)n) < 0)
		return NULL;
	mask = sym->cache_cap - 1;
	for (i = mo__hash_addr(module, vaddr) & mask; sym->cache[i].nframes;
	     i = (i + 1) & mask)
		;
	e = &sym->cache[i];
	e->vaddr = vaddr;
	e->module = module;
	e->nframes = (uint32_t)n;
	e->first = sym->nframes;
	memcpy(&sym->frames[sym->nframes], fr, (size_t)n * sizeof(*fr));
	sym->nframes += (size_t)n;
	sym->ncache++;
	return e;
}

/* ------------------------------------------------------------- resolve */

static int mo__copy_frames(const mo__cframe_t *fr, int n, const char *module,
			   uint64_t address, mo_frame_t *out, int max)
{
	int k = n < max ? n : max;

	for (int i = 0; i < k; i++) {
		out[i].function = fr[i].function;
		out[i].file = fr[i].file;
		out[i].line = fr[i].line;
		out[i].module = module;
		out[i].address = address;
		out[i].inlined = (int)fr[i].inlined;
	}
	return k;
}

/* Returns the number of frames written to out (<= max, >= 1 when max >= 1):
 * cached frames, or a fresh lookup that is then cached.  Unknown modules,
 * missing or non-ELF files and vaddr 0 give one frame with function NULL. */
int mo_sym_resolve(mo_sym_t *sym, int module, uint64_t vaddr, uint64_t address,
		   mo_frame_t *out, int max)
{
	static const mo__cframe_t unknown = {NULL, NULL, 0, 0};
	mo__cframe_t fr[MO__MAX_FRAMES];
	mo__module_t *m;
	const mo__entry_t *e;
	const char *path;
	int n;

	if (!out || max <= 0)
		return 0;
	m = (mo__module_t *)mo__module_get(sym, module);
	if (!m)
		return mo__copy_frames(&unknown, 1, MO__UNKNOWN_MODULE, address,
				       out, max);
	path = m->path[0] ? m->path : MO__UNKNOWN_MODULE;
	e = mo__cache_find(sym, module, vaddr);
	if (e)
		return mo__copy_frames(&sym->frames[e->first], (int)e->nframes,
				       path, address, out, max);
	if (m->state == MO__MOD_NEW)
		mo__module_open(m);
	if (m->state != MO__MOD_OPEN || vaddr == 0)
		return mo__copy_frames(&unknown, 1, path, address, out, max);
	/* A return address follows its call: look up the call itself. */
	n = mo__resolve_open(sym, m->mod, vaddr - 1, fr);
	mo__cache_add(sym, module, vaddr, fr, n);
	return mo__copy_frames(fr, n, path, address, out, max);
}
