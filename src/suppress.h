/*
 * Leak suppressions, in LeakSanitizer's format, and the leak results of a
 * process with them applied.
 *
 * A suppressions file holds one entry per line: `leak:PATTERN`.  Blank
 * lines and lines starting with `#` are ignored, so are entries of other
 * sanitizers' types (`race:`, `called_from_lib:`, ...: any TYPE:PATTERN
 * whose TYPE is not `leak`), so one file can serve several tools.  Leading
 * and trailing white space is trimmed.  A line without a type, or with an
 * empty pattern, is an error.
 *
 * PATTERN is matched as LeakSanitizer does: against the function name
 * (demangled), the source file path and the module path of every frame of
 * a loss record's stack, inlined frames included; the record is suppressed
 * if any of them matches.  The match is unanchored (a substring match)
 * unless PATTERN starts with `^` or ends with `$`; `*`, `?` and `[...]`
 * are fnmatch(3) wildcards (`*` also matches `/`).
 *
 * Built-in suppressions (mo_supp_add_defaults) cover one-time allocations
 * of the dynamic loader, glibc and libstdc++ that valgrind frees before
 * its leak check (__libc_freeres, __gnu_cxx::__freeres).
 * Not thread-safe.
 */
#ifndef MO_SUPPRESS_H
#define MO_SUPPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "analysis.h"
#include "symbolize.h"

typedef struct mo_supp mo_supp_t;

/* Creates an empty set of suppressions, or NULL (out of memory). */
mo_supp_t *mo_supp_new(void);

/* Frees s.  Accepts NULL. */
void mo_supp_free(mo_supp_t *s);

/* Adds the built-in suppressions.  Returns 0 or -ENOMEM. */
int mo_supp_add_defaults(mo_supp_t *s);

/* Adds the entries of a suppressions text [text, text + len); origin
 * names it in messages.  Returns 0, -ENOMEM, or -EINVAL with the entries
 * before the bad line added and "origin:LINE: reason" written to err
 * (errlen bytes, may be 0). */
int mo_supp_parse(mo_supp_t *s, const char *text, size_t len,
		  const char *origin, char *err, size_t errlen);

/* Reads and parses the file path.  Returns 0, -EINVAL as mo_supp_parse(),
 * -ENOMEM, or -errno if it cannot be read (err then says
 * "cannot read suppressions file PATH: reason"). */
int mo_supp_load(mo_supp_t *s, const char *path, char *err, size_t errlen);

/* Number of entries, and entry i as written ("leak:PATTERN"); built-in
 * entries come first if they were added first. */
size_t mo_supp_count(const mo_supp_t *s);
const char *mo_supp_entry(const mo_supp_t *s, size_t i);

/* Nonzero if pattern (without "leak:") matches str by the rules above. */
int mo_supp_match_string(const char *pattern, const char *str);

/* Index of the first entry matching a frame of frames[0..n), or -1. */
int mo_supp_match(const mo_supp_t *s, const mo_frame_t *frames, size_t n);

/* Bytes and blocks. */
typedef struct mo_leak_total {
	uint64_t bytes, blocks;
} mo_leak_total_t;

/* A loss record and the suppression it matched. */
typedef struct mo_leak_rec {
	mo_loss_t loss;
	int supp; /* entry index (mo_supp_entry), or -1: not suppressed */
} mo_leak_rec_t;

/* A process's leak results with suppressions applied. */
typedef struct mo_leaks {
	int present;		    /* the process has leak data */
	mo_leak_total_t kind[4];    /* by enum mo_leak_kind, unsuppressed */
	mo_leak_total_t suppressed; /* every kind */
	mo_leak_rec_t *recs; /* all loss records, order of mo_an_losses */
	size_t n;
} mo_leaks_t;

/* Sets of leak kinds: bit MO_LEAK_BIT(enum mo_leak_kind). */
#define MO_LEAK_BIT(kind) (1u << (kind))
#define MO_LEAK_ALL 0xfu
/* memcheck's defaults: --errors-for-leak-kinds (gated) and the loss
 * records memopt lists (memcheck's --show-leak-kinds plus indirect). */
#define MO_LEAK_GATE_DEFAULT \
	(MO_LEAK_BIT(MO_LEAK_DEFINITE) | MO_LEAK_BIT(MO_LEAK_POSSIBLE))
#define MO_LEAK_SHOW_DEFAULT \
	(MO_LEAK_GATE_DEFAULT | MO_LEAK_BIT(MO_LEAK_INDIRECT))

/* Parses a comma list of memcheck's kind names: definite, indirect,
 * possible, reachable, all, none.  Returns 0 and the set in *out, or
 * -EINVAL. */
int mo_supp_parse_kinds(const char *list, unsigned *out);

/* Writes the set as memcheck names ("definite,possible", "all", "none")
 * into buf and returns buf. */
char *mo_supp_kinds_str(char *buf, size_t len, unsigned kinds);

/* JSON key of a kind ("definitely_lost", ...) and its text ("definitely
 * lost", ...); NULL for an invalid kind. */
const char *mo_supp_kind_key(int kind);
const char *mo_supp_kind_text(int kind);

/* Computes the leak results of process proc, matching each loss record's
 * stack (symbolized with sym, which may be NULL: then only module paths
 * are known) against s (NULL: nothing suppressed).  Returns 0 or -ENOMEM;
 * free the result with mo_supp_leaks_free(). */
int mo_supp_leaks(const mo_supp_t *s, const mo_an_t *an, mo_sym_t *sym,
		  size_t proc, mo_leaks_t *out);

/* Frees what mo_supp_leaks() allocated and empties l. */
void mo_supp_leaks_free(mo_leaks_t *l);

/* Resolves one recorded frame into out[0..max) like the reports do:
 * never fewer than one frame (an unknown one has function NULL and the
 * module path if known).  sym may be NULL.  Returns the number written. */
int mo_supp_resolve(mo_sym_t *sym, const mo_rawframe_t *rf, mo_frame_t *out,
		    int max);

#endif
