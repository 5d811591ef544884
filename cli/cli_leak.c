/*
 * Leak, suppression and gate options shared by memopt report and memopt
 * check.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

void mo_cli_gate_init(mo_cli_gate_t *o)
{
	memset(o, 0, sizeof(*o));
	mo_gate_init(&o->gate);
	o->error_exitcode = MO_DEFAULT_ERROR_EXITCODE;
}

void mo_cli_gate_free(mo_cli_gate_t *o)
{
	free(o->supp_files);
	o->supp_files = NULL;
	o->nsupp = 0;
}

static int mo__parse_exitcode(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 255)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int mo_cli_gate_opt(mo_cli_gate_t *o, int c, const char *arg, const char *cmd)
{
	const char **files;

	switch (c) {
	case MO_OPT_LEAK_KINDS:
		if (mo_supp_parse_kinds(arg, &o->gate.kinds) < 0) {
			mo_cli_error("%s: --leak-kinds needs a list of "
				     "definite, indirect, possible, reachable, "
				     "all, none; not '%s'",
				     cmd, arg);
			return -1;
		}
		break;
	case MO_OPT_MAX_LEAK:
	case MO_OPT_MAX_PEAK: {
		uint64_t v;
		if (mo_parse_size(arg, &v) < 0) {
			mo_cli_error("%s: %s needs a size such as 0, 4096, "
				     "64K or 1.5M; not '%s'",
				     cmd,
				     c == MO_OPT_MAX_LEAK ? "--max-leak"
							  : "--max-peak",
				     arg);
			return -1;
		}
		if (c == MO_OPT_MAX_LEAK) {
			o->gate.max_leak = v;
		} else {
			o->gate.max_peak = v;
			o->gate.has_max_peak = 1;
		}
		break;
	}
	case MO_OPT_ERROR_EXITCODE:
		if (mo__parse_exitcode(arg, &o->error_exitcode) < 0) {
			mo_cli_error("%s: --error-exitcode needs a number from "
				     "0 to 255, not '%s'",
				     cmd, arg);
			return -1;
		}
		break;
	case MO_OPT_SUPPRESSIONS:
		files = realloc(o->supp_files,
				(o->nsupp + 1) * sizeof(*o->supp_files));
		if (!files) {
			mo_cli_error("out of memory");
			return -1;
		}
		o->supp_files = files;
		o->supp_files[o->nsupp++] = arg;
		return 1; /* not a gate limit */
	case MO_OPT_NO_DEFAULT_SUPP:
		o->no_default_supp = 1;
		return 1;
	default:
		return 0;
	}
	o->gate_opts = 1;
	return 1;
}

mo_supp_t *mo_cli_suppressions(const mo_cli_gate_t *o, int *status)
{
	mo_supp_t *s = mo_supp_new();
	char err[512];

	if (!s || (!o->no_default_supp && mo_supp_add_defaults(s) < 0)) {
		mo_cli_error("out of memory");
		*status = MO_XIT_ERROR;
		mo_supp_free(s);
		return NULL;
	}
	for (size_t i = 0; i < o->nsupp; i++) {
		int r = mo_supp_load(s, o->supp_files[i], err, sizeof(err));
		if (r < 0) {
			if (r == -ENOMEM)
				mo_cli_error("out of memory");
			else
				mo_cli_error("%s", err);
			*status = r == -ENOMEM ? MO_XIT_ERROR : MO_XIT_USAGE;
			mo_supp_free(s);
			return NULL;
		}
	}
	return s;
}
