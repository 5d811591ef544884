/*
 * What the allocators share: size arithmetic, misuse reports, hooks.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <memopt/alloc.h>

const mo_alloc_hooks_t *mo_alloc_hooks;

/* The tracker, when preloaded, exports its hooks under this name. */
__attribute__((constructor)) static void mo__alloc_find_hooks(void)
{
	mo_alloc_hooks = dlsym(RTLD_DEFAULT, "mo_tracker_alloc_hooks");
}

int mo_size_add(size_t a, size_t b, size_t *out)
{
	size_t r;
	if (__builtin_add_overflow(a, b, &r))
		return -EOVERFLOW;
	*out = r;
	return 0;
}

int mo_size_mul(size_t a, size_t b, size_t *out)
{
	size_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return -EOVERFLOW;
	*out = r;
	return 0;
}

int mo_size_align(size_t a, size_t align, size_t *out)
{
	size_t r;
	if (!mo_is_pow2(align) || __builtin_add_overflow(a, align - 1, &r))
		return -EOVERFLOW;
	*out = r & ~(align - 1);
	return 0;
}

static _Atomic(mo_alloc_misuse_fn) g_misuse;

mo_alloc_misuse_fn mo_alloc_set_misuse_handler(mo_alloc_misuse_fn fn)
{
	return atomic_exchange(&g_misuse, fn);
}

void mo_alloc_misuse(const char *kind, const char *name, const char *what)
{
	mo_alloc_misuse_fn fn = atomic_load(&g_misuse);
	fprintf(stderr, "memopt: %s %s: %s\n", kind, name ? name : "(unnamed)",
		what);
	if (fn)
		fn(kind, name, what);
	else
		abort();
}
