/*
 * Leak suppressions; see suppress.h for the file format and the matching
 * rules.
 */
#include "suppress.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrmap.h"

#define MO__MAX_INLINE 32
#define MO__MAX_FILE (64u << 20)

struct mo_supp {
	char **entries; /* "leak:PATTERN" */
	size_t n, cap;
};

/* One-time allocations of the runtime that valgrind frees before its leak
 * check (__libc_freeres, __gnu_cxx::__freeres) or that live as long as
 * the process by design.  Matched on function names only: a module
 * pattern such as "libc.so" would also hide leaks through strdup(). */
static const char mo__defaults[] =
	/* ld.so: link maps, search paths, versions, dynamic TLS */
	"leak:_dl_map_object\n"
	"leak:_dl_new_object\n"
	"leak:_dl_check_map_versions\n"
	"leak:_dl_important_hwcaps\n"
	"leak:_dl_init_paths\n"
	"leak:_dl_allocate_tls\n"
	"leak:_dl_resize_dtv\n"
	"leak:_dl_update_slotinfo\n"
	"leak:_dl_add_to_slotinfo\n"
	"leak:__tls_get_addr\n"
	/* glibc: locale data, message catalogs, charset conversion, NSS,
	 * time zone, stdio buffers of the standard streams */
	"leak:_nl_load_locale\n"
	"leak:_nl_intern_locale_data\n"
	"leak:_nl_find_domain\n"
	"leak:_nl_make_l10nflist\n"
	"leak:__gconv_read_conf\n"
	"leak:__gconv_load_cache\n"
	"leak:__nss_database_lookup\n"
	"leak:nss_load_library\n"
	"leak:__tzfile_read\n"
	"leak:_IO_file_doallocate\n"
	/* libstdc++: the emergency exception-handling pool */
	"leak:(anonymous namespace)::pool::pool\n"
	"leak:__gnu_cxx::__freeres\n";

mo_supp_t *mo_supp_new(void)
{
	return calloc(1, sizeof(mo_supp_t));
}

void mo_supp_free(mo_supp_t *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->entries[i]);
	free(s->entries);
	free(s);
}

static int mo__add(mo_supp_t *s, const char *pattern, size_t len)
{
	char *e;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 32;
		char **p = realloc(s->entries, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->entries = p;
		s->cap = cap;
	}
	e = malloc(len + 6);
	if (!e)
		return -ENOMEM;
	memcpy(e, "leak:", 5);
	memcpy(e + 5, pattern, len);
	e[len + 5] = '\0';
	s->entries[s->n++] = e;
	return 0;
}

static int mo__space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

int mo_supp_parse(mo_supp_t *s, const char *text, size_t len,
		  const char *origin, char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	unsigned line = 0;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *a = p, *b = eol ? eol : end, *colon;
		int r;

		p = eol ? eol + 1 : end;
		line++;
		while (a < b && mo__space(*a))
			a++;
		while (b > a && mo__space(b[-1]))
			b--;
		if (a == b || *a == '#')
			continue;
		colon = memchr(a, ':', (size_t)(b - a));
		if (!colon || colon == a) {
			if (errlen)
				snprintf(err, errlen,
					 "%s:%u: not a suppression (expected "
					 "leak:PATTERN)",
					 origin, line);
			return -EINVAL;
		}
		if (colon + 1 == b || memchr(a, '\0', (size_t)(b - a))) {
			if (errlen)
				snprintf(err, errlen, "%s:%u: %s", origin, line,
					 colon + 1 == b ? "empty pattern"
							: "NUL byte in line");
			return -EINVAL;
		}
		if (colon - a != 4 || memcmp(a, "leak", 4) != 0)
			continue; /* another sanitizer's entry */
		r = mo__add(s, colon + 1, (size_t)(b - colon - 1));
		if (r < 0)
			return r;
	}
	return 0;
}

int mo_supp_add_defaults(mo_supp_t *s)
{
	return mo_supp_parse(s, mo__defaults, sizeof(mo__defaults) - 1,
			     "built-in", NULL, 0);
}

int mo_supp_load(mo_supp_t *s, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int r = 0;

	if (!f) {
		r = -errno;
		goto fail;
	}
	for (;;) {
		size_t got;

		if (cap - len < 4096) {
			char *b;
			if (cap >= MO__MAX_FILE) {
				r = -EFBIG;
				goto fail;
			}
			cap = cap ? 2 * cap : 8192;
			b = realloc(buf, cap);
			if (!b) {
				r = -ENOMEM;
				goto fail;
			}
			buf = b;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			if (ferror(f)) {
				r = errno ? -errno : -EIO;
				goto fail;
			}
			break;
		}
	}
	fclose(f);
	r = mo_supp_parse(s, buf ? buf : "", len, path, err, errlen);
	free(buf);
	return r;
fail:
	if (errlen)
		snprintf(err, errlen, "cannot read suppressions file %s: %s",
			 path, strerror(-r));
	if (f)
		fclose(f);
	free(buf);
	return r;
}

size_t mo_supp_count(const mo_supp_t *s)
{
	return s ? s->n : 0;
}

const char *mo_supp_entry(const mo_supp_t *s, size_t i)
{
	return s && i < s->n ? s->entries[i] : NULL;
}

int mo_supp_match_string(const char *pattern, const char *str)
{
	size_t len = strlen(pattern);
	int start = 0, end = 0, wild, r;
	char *glob;

	if (!str)
		return 0;
	if (len && pattern[0] == '^') {
		start = 1;
		pattern++;
		len--;
	}
	if (len && pattern[len - 1] == '$') {
		end = 1;
		len--;
	}
	wild = strpbrk(pattern, "*?[") != NULL;
	if (!wild && !start && !end)
		return len <= strlen(str) && (len == 0 || strstr(str, pattern));
	glob = malloc(len + 3);
	if (!glob)
		return 0;
	snprintf(glob, len + 3, "%s%.*s%s", start ? "" : "*", (int)len, pattern,
		 end ? "" : "*");
	r = fnmatch(glob, str, 0) == 0;
	free(glob);
	return r;
}

int mo_supp_match(const mo_supp_t *s, const mo_frame_t *frames, size_t n)
{
	if (!s)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		const char *pat = s->entries[i] + 5;
		for (size_t k = 0; k < n; k++)
			if (mo_supp_match_string(pat, frames[k].function) ||
			    mo_supp_match_string(pat, frames[k].file) ||
			    mo_supp_match_string(pat, frames[k].module))
				return (int)i;
	}
	return -1;
}

int mo_supp_resolve(mo_sym_t *sym, const mo_rawframe_t *rf, mo_frame_t *out,
		    int max)
{
	int n = 0;

	if (sym)
		n = mo_sym_resolve(sym, rf->module, rf->vaddr, rf->address, out,
				   max);
	if (n < 1) {
		memset(out, 0, sizeof(*out));
		out->address = rf->address;
		out->module = sym && rf->module >= 0
				      ? mo_sym_module_path(sym, rf->module)
				      : NULL;
		n = 1;
	}
	return n;
}

/* The entry that suppresses the stack, or -1. */
static int mo__match_stack(const mo_supp_t *s, const mo_an_t *an, mo_sym_t *sym,
			   uint32_t stack)
{
	mo_frame_t frames[MO__MAX_INLINE];
	uint32_t n;
	const mo_rawframe_t *rf = mo_an_stack(an, stack, &n);
	int best = -1;

	if (!s || s->n == 0)
		return -1;
	/* The first entry (in file order) that matches any frame wins. */
	for (uint32_t i = 0; i < n; i++) {
		int nf = mo_supp_resolve(sym, &rf[i], frames, MO__MAX_INLINE);
		int m = mo_supp_match(s, frames, (size_t)nf);
		if (m >= 0 && (best < 0 || m < best))
			best = m;
		if (best == 0)
			break;
	}
	return best;
}

int mo_supp_leaks(const mo_supp_t *s, const mo_an_t *an, mo_sym_t *sym,
		  size_t proc, mo_leaks_t *out)
{
	const mo_proc_t *p = mo_an_proc(an, proc);
	size_t n;
	const mo_loss_t *l = mo_an_losses(an, proc, &n);
	mo_addrmap_t seen; /* stack -> entry + 1 (0: none) */
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!p || !p->has_leaks)
		return 0;
	out->present = 1;
	out->recs = calloc(n ? n : 1, sizeof(*out->recs));
	if (!out->recs)
		return -ENOMEM;
	out->n = n;
	mo_addrmap_init(&seen);
	for (size_t i = 0; i < n; i++) {
		mo_leak_rec_t *r = &out->recs[i];
		const mo_addrmap_entry_t *e;
		mo_leak_total_t *t;

		r->loss = l[i];
		/* A stack appears in up to four records: match it once. */
		e = mo_addrmap_get(&seen, l[i].stack);
		if (e) {
			r->supp = (int)e->aux - 1;
		} else {
			r->supp = mo__match_stack(s, an, sym, l[i].stack);
			if (mo_addrmap_put(&seen, l[i].stack, 0,
					   (uint32_t)(r->supp + 1), NULL) < 0) {
				ret = -ENOMEM;
				break;
			}
		}
		t = r->supp >= 0 ? &out->suppressed : &out->kind[l[i].kind & 3];
		t->bytes += l[i].bytes;
		t->blocks += l[i].blocks;
	}
	mo_addrmap_free(&seen);
	if (ret < 0)
		mo_supp_leaks_free(out);
	return ret;
}

void mo_supp_leaks_free(mo_leaks_t *l)
{
	free(l->recs);
	memset(l, 0, sizeof(*l));
}

/* Indexed by enum mo_leak_kind. */
static const char *const mo__kind_names[4] = {"reachable", "possible",
					      "indirect", "definite"};
static const char *const mo__kind_keys[4] = {"still_reachable", "possibly_lost",
					     "indirectly_lost",
					     "definitely_lost"};
static const char *const mo__kind_texts[4] = {
	"still reachable", "possibly lost", "indirectly lost",
	"definitely lost"};

int mo_supp_parse_kinds(const char *list, unsigned *out)
{
	unsigned set = 0;
	const char *p = list;

	if (!*p)
		return -EINVAL;
	for (;;) {
		size_t len = strcspn(p, ",");
		int found = 0;

		if (len == 3 && memcmp(p, "all", 3) == 0) {
			set |= MO_LEAK_ALL;
			found = 1;
		} else if (len == 4 && memcmp(p, "none", 4) == 0) {
			found = 1;
		}
		for (int k = 0; k < 4 && !found; k++)
			if (strlen(mo__kind_names[k]) == len &&
			    memcmp(p, mo__kind_names[k], len) == 0) {
				set |= MO_LEAK_BIT(k);
				found = 1;
			}
		if (!found)
			return -EINVAL;
		if (!p[len])
			break;
		p += len + 1;
	}
	*out = set;
	return 0;
}

char *mo_supp_kinds_str(char *buf, size_t len, unsigned kinds)
{
	static const int order[4] = {MO_LEAK_DEFINITE, MO_LEAK_INDIRECT,
				     MO_LEAK_POSSIBLE, MO_LEAK_REACHABLE};
	size_t pos = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	if ((kinds & MO_LEAK_ALL) == MO_LEAK_ALL) {
		snprintf(buf, len, "all");
		return buf;
	}
	if (!(kinds & MO_LEAK_ALL)) {
		snprintf(buf, len, "none");
		return buf;
	}
	for (int i = 0; i < 4; i++) {
		if (!(kinds & MO_LEAK_BIT(order[i])) || pos >= len)
			continue;
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%s",
					pos ? "," : "",
					mo__kind_names[order[i]]);
	}
	return buf;
}

const char *mo_supp_kind_key(int kind)
{
	return kind >= 0 && kind < 4 ? mo__kind_keys[kind] : NULL;
}

const char *mo_supp_kind_text(int kind)
{
	return kind >= 0 && kind < 4 ? mo__kind_texts[kind] : NULL;
}
