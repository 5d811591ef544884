/*
 * memopt report: read a trace and print the text report or JSON.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"
#include "cli.h"
#include "errors.h"
#include "report.h"
#include "symbolize.h"
#include "trace_reader.h"
#include "util.h"

#define MO_PROGRESS_MIN_BYTES (32u << 20)

typedef struct mo_report_args {
	const char *input;
	int json;
	unsigned top;
} mo_report_args_t;

static void mo__report_usage(FILE *out)
{
	fputs("usage: memopt report [-i FILE] [--json] [--top N]\n"
	      "  -i, --input FILE   trace to read (default memopt.data)\n"
	      "      --json         print one JSON document\n"
	      "      --top N        call sites per list (default 10)\n"
	      "exit status: 0 ok, 1 error, 2 usage, 3 trace unreadable, "
	      "4 trace damaged\n"
	      "(the intact part is reported)\n",
	      out);
}

static int mo__parse_top(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 1000000 || *s == '-')
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int mo__parse_report_args(int argc, char **argv, mo_report_args_t *a,
				 int *status)
{
	static const struct option longopts[] = {
		{"input", required_argument, NULL, 'i'},
		{"json", no_argument, NULL, 'j'},
		{"top", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	a->input = "memopt.data";
	a->json = 0;
	a->top = 10;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "i:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			a->input = optarg;
			break;
		case 'j':
			a->json = 1;
			break;
		case 't':
			if (mo__parse_top(optarg, &a->top) != 0) {
				mo_cli_error("report: --top needs a number "
					     "from 1 to 1000000, not '%s'",
					     optarg);
				*status = MO_XIT_USAGE;
				return -1;
			}
			break;
		case 'h':
			mo__report_usage(stdout);
			*status = MO_XIT_OK;
			return -1;
		default:
			mo_cli_error("report: %s '%s' (try 'memopt report "
				     "--help')",
				     optopt ? "bad or incomplete option"
					    : "unknown option",
				     argv[optind - 1]);
			*status = MO_XIT_USAGE;
			return -1;
		}
	}
	if (optind < argc) {
		mo_cli_error("report: unexpected argument '%s' (the trace is "
			     "given with -i)",
			     argv[optind]);
		*status = MO_XIT_USAGE;
		return -1;
	}
	return 0;
}

static int mo__open_error(const char *path, int err)
{
	switch (err) {
	case MO_ENOTTRACE:
		mo_cli_error("%s is not a memopt trace", path);
		break;
	case MO_EVERSION:
		mo_cli_error("%s has an unsupported trace format version (this "
			     "memopt reads version %d)",
			     path, MO_FORMAT_MAJOR);
		break;
	case MO_ETRUNC:
		mo_cli_error("%s is truncated: not even its header is complete",
			     path);
		break;
	case MO_EBADHDR:
		mo_cli_error("%s is corrupted: its header checksum is wrong",
			     path);
		break;
	default:
		mo_cli_error("cannot read %s: %s", path, mo_strerror(err));
		break;
	}
	return err == -ENOMEM ? MO_XIT_ERROR : MO_XIT_UNREADABLE;
}

/* Shows how far the read is, on a terminal, for large traces. */
static void mo__progress(mo_tr_t *r, int *last_pct)
{
	uint64_t size = mo_tr_size(r);
	int pct = size ? (int)(mo_tr_offset(r) * 100 / size) : 100;
	if (pct != *last_pct) {
		fprintf(stderr, "\rmemopt: reading trace: %3d%%", pct);
		*last_pct = pct;
	}
}

/* Feeds every record of r to an; returns 0 or a negative error. */
static int mo__analyse(mo_tr_t *r, mo_an_t *an)
{
	int show =
		isatty(STDERR_FILENO) && mo_tr_size(r) >= MO_PROGRESS_MIN_BYTES;
	int last_pct = -1;
	uint64_t count = 0;
	mo_event_t ev;
	int ret;
	while ((ret = mo_tr_next(r, &ev)) == 1) {
		int err = mo_an_feed(an, &ev);
		if (err)
			return err;
		if (show && (++count & 0xfffff) == 0)
			mo__progress(r, &last_pct);
	}
	if (show)
		fputs("\r\033[K", stderr);
	return ret;
}

static void mo__warn_damage(const char *path, const mo_tr_damage_t *d)
{
	char skipped[32];
	mo_fmt_bytes(skipped, sizeof(skipped), d->skipped_bytes);
	fprintf(stderr,
		"memopt: warning: %s is damaged (%s%llu corrupt frame%s, %s "
		"skipped, first at offset %llu); the report covers the intact "
		"part\n",
		path, d->truncated ? "truncated, " : "",
		(unsigned long long)d->corrupt_frames,
		d->corrupt_frames == 1 ? "" : "s", skipped,
		(unsigned long long)d->first_offset);
}

/* Warns, once per module, that symbols came from a different build. */
static void mo__warn_mismatches(const mo_sym_t *sym)
{
	for (int i = 0; i < mo_sym_nmodules(sym); i++)
		if (mo_sym_module_mismatch(sym, i))
			mo_cli_error("warning: %s differs from the recorded "
				     "build (build-id mismatch): its symbols "
				     "may be wrong",
				     mo_sym_module_path(sym, i));
}

static int mo__damaged(const mo_tr_damage_t *d)
{
	return d->truncated || d->corrupt_frames || d->skipped_bytes;
}

int mo_cmd_report(int argc, char **argv)
{
	mo_report_args_t a;
	int status = 0;
	if (mo__parse_report_args(argc, argv, &a, &status) < 0)
		return status;
	/* Symbols come from local files only, unless the user opts in to
	 * debuginfod downloads. */
	const char *dbg = getenv("MEMOPT_DEBUGINFOD");
	if (!dbg || strcmp(dbg, "1") != 0)
		unsetenv("DEBUGINFOD_URLS");
	mo_tr_t *r = NULL;
	int err = mo_tr_open(&r, a.input);
	if (err)
		return mo__open_error(a.input, err);
	mo_sym_t *sym = mo_sym_new();
	mo_an_t *an = sym ? mo_an_new(sym) : NULL;
	if (!an) {
		mo_cli_error("out of memory");
		status = MO_XIT_ERROR;
		goto out;
	}
	err = mo__analyse(r, an);
	if (err < 0) {
		mo_cli_error("reading %s failed: %s", a.input,
			     mo_strerror(err));
		status = MO_XIT_ERROR;
		goto out;
	}
	mo_an_finish(an);
	const mo_tr_damage_t *d = mo_tr_damage(r);
	unsigned major, minor;
	mo_tr_version(r, &major, &minor);
	mo_report_opts_t opts = {
		.top = a.top,
		.trace_path = a.input,
		.damage = mo__damaged(d) ? d : NULL,
		.format_major = major,
		.format_minor = minor,
	};
	err = a.json ? mo_report_json(stdout, an, sym, &opts)
		     : mo_report_text(stdout, an, sym, &opts);
	if (!err && fflush(stdout) != 0)
		err = -errno;
	if (err) {
		mo_cli_error("writing the report failed: %s", mo_strerror(err));
		status = MO_XIT_ERROR;
		goto out;
	}
	mo__warn_mismatches(sym);
	if (opts.damage) {
		mo__warn_damage(a.input, d);
		status = MO_XIT_DAMAGED;
	}
out:
	mo_an_free(an);
	mo_sym_free(sym);
	mo_tr_close(r);
	return status;
}
