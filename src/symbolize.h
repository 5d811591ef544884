/*
 * Symbolizer: turns (module, address) pairs into functions, source files,
 * lines and inline frames, using elfutils (libdwfl/libdw) on the module
 * files as they are on disk now.  C++ names are demangled.  Results are
 * cached, so resolving the same address twice is cheap.
 * Not thread-safe: one symbolizer per thread.
 */
#ifndef MO_SYMBOLIZE_H
#define MO_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

typedef struct mo_sym mo_sym_t;

/* One source-level frame.  Strings are owned by the symbolizer and live as
 * long as it does; function and file are NULL when unknown. */
typedef struct mo_frame {
	const char *function; /* demangled */
	const char *file;     /* as recorded in DWARF (often absolute) */
	uint32_t line;	      /* 0 when unknown */
	const char *module;   /* module path, or "?" */
	uint64_t address;     /* the runtime return address given */
	int inlined;	      /* 1: inlined into the next frame of the list */
} mo_frame_t;

/* Creates an empty symbolizer, or NULL on allocation failure. */
mo_sym_t *mo_sym_new(void);

/* Frees sym and everything it returned.  Accepts NULL. */
void mo_sym_free(mo_sym_t *sym);

/* Registers a module (path and GNU build-id bytes, which may be empty) and
 * returns its index, >= 0; the same path and build-id give the same index.
 * The file is opened lazily on first resolve.  Returns -ENOMEM. */
int mo_sym_module(mo_sym_t *sym, const char *path, size_t path_len,
		  const uint8_t *build_id, size_t build_id_len);

/* Module path for an index from mo_sym_module(). */
const char *mo_sym_module_path(const mo_sym_t *sym, int module);

/* Resolves a return address: vaddr is its ELF virtual address inside the
 * module (runtime address - load bias), address the runtime address kept
 * for display.  The call site (vaddr - 1) is looked up.  Writes up to max
 * frames, innermost first: inlined frames (inlined = 1) then the real
 * function.  Returns the number written (>= 1: an unknown address still
 * gives one frame with function NULL).  module may be -1 (no module). */
int mo_sym_resolve(mo_sym_t *sym, int module, uint64_t vaddr, uint64_t address,
		   mo_frame_t *out, int max);

/* Nonzero if the module file on disk does not match the recorded build-id
 * (then results may be wrong).  Valid after a resolve touched it. */
int mo_sym_module_mismatch(const mo_sym_t *sym, int module);

/* Number of modules registered (valid indices are 0 .. n-1). */
int mo_sym_nmodules(const mo_sym_t *sym);

/* Demangles a C++ symbol name ("_Z..."), or returns NULL when name is not a
 * mangled C++ name, cannot be demangled, or memory runs out.  The result is
 * malloc()ed; the caller frees it.  Thread-safe. */
char *mo_sym_demangle(const char *name);

#endif
