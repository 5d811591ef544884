/*
 * Error strings for the engine's negative error codes.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"

/* Per-thread buffer for errno texts that glibc builds on the fly. */
static __thread char mo__errbuf[128];

static const char *mo__strerror_own(int err)
{
	switch (err) {
	case 0:
		return "success";
	case MO_ENOTTRACE:
		return "not a memopt trace file";
	case MO_EVERSION:
		return "unsupported trace format version";
	case MO_ETRUNC:
		return "trace file is truncated";
	case MO_ECORRUPT:
		return "trace data is corrupt";
	case MO_EBADHDR:
		return "trace file header is corrupt (checksum mismatch)";
	default:
		return NULL;
	}
}

/* Returns a description of err: one of ours, or the system's text for
 * -errno.  The result is static or thread-local, so concurrent callers never
 * see each other's text.  Thread-safe. */
const char *mo_strerror(int err)
{
	const char *s = mo__strerror_own(err);
	int e;

	if (s != NULL)
		return s;
	if (err <= -MO_EBASE || err >= MO_EBASE) {
		snprintf(mo__errbuf, sizeof(mo__errbuf), "unknown error %d",
			 err);
		return mo__errbuf;
	}
	e = err < 0 ? -err : err;
	/* GNU strerror_r: returns either a static string or mo__errbuf. */
	return strerror_r(e, mo__errbuf, sizeof(mo__errbuf));
}
