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
	int check;
	int show_suppressed;
	unsigned show_kinds;
	mo_cli_gate_t g;
} mo_report_args_t;

static void mo__report_usage(FILE *out)
{
	fputs("usage: memopt report [-i FILE] [--json] [--top N] [leak "
	      "options]\n"
	      "       memopt report --check [-i FILE] [gate options]\n"
	      "  -i, --input FILE   trace to read (default memopt.data)\n"
	      "      --json         print one JSON document\n"
	      "      --top N        call sites per list (default 10)\n"
	      "      --show-leak-kinds LIST  loss records listed (default\n"
	      "                     definite,indirect,possible; all, none)\n"
	      "      --show-suppressed       list suppressed loss records too\n"
	      "      --suppressions FILE     leak:PATTERN lines (repeatable)\n"
	      "      --no-default-suppressions  no built-in suppressions\n"
	      "      --check        no report: check limits, verdict on "
	      "stderr\n"
	      "      --leak-kinds LIST       kinds gated (default "
	      "definite,possible)\n"
	      "      --max-leak SIZE         leaked bytes allowed (default 0)\n"
	      "      --max-peak SIZE         peak heap allowed (default none)\n"
	      "      --error-exitcode N      status if the check fails "
	      "(default 23)\n"
	      "exit status: 0 ok, 1 error, 2 usage, 3 trace unreadable, "
	      "4 trace damaged\n"
	      "(the intact part is reported), N (23) check failed\n",
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
		{"check", no_argument, NULL, MO_OPT_CHECK},
		{"show-suppressed", no_argument, NULL, MO_OPT_SHOW_SUPPRESSED},
		{"show-leak-kinds", required_argument, NULL,
		 MO_OPT_SHOW_LEAK_KINDS},
		MO_CLI_GATE_LONGOPTS,
		{NULL, 0, NULL, 0}};
	a->input = "memopt.data";
	a->json = 0;
	a->top = 10;
	a->check = 0;
	a->show_suppressed = 0;
	a->show_kinds = MO_LEAK_SHOW_DEFAULT;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "i:h", longopts, NULL)) != -1) {
		int g = mo_cli_gate_opt(&a->g, c, optarg, "report");
		if (g < 0) {
			*status = MO_XIT_USAGE;
			return -1;
		}
		if (g > 0)
			continue;
		switch (c) {
		case MO_OPT_CHECK:
			a->check = 1;
			break;
		case MO_OPT_SHOW_SUPPRESSED:
			a->show_suppressed = 1;
			break;
		case MO_OPT_SHOW_LEAK_KINDS:
			if (mo_supp_parse_kinds(optarg, &a->show_kinds) < 0) {
				mo_cli_error("report: --show-leak-kinds needs "
					     "a list of definite, indirect, "
					     "possible, reachable, all, none; "
					     "not '%s'",
					     optarg);
				*status = MO_XIT_USAGE;
				return -1;
			}
			break;
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
			mo_cli_bad_option("report", argv[optind - 1], optopt);
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
	if (a->g.gate_opts && !a->check) {
		mo_cli_error("report: --leak-kinds, --max-leak, --max-peak and "
			     "--error-exitcode need --check");
		*status = MO_XIT_USAGE;
		return -1;
	}
	if (a->check && a->json) {
		mo_cli_error("report: --check and --json cannot be combined");
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

void mo_trace_an_free(mo_trace_an_t *t)
{
	mo_an_free(t->an);
	mo_sym_free(t->sym);
	mo_tr_close(t->reader);
	memset(t, 0, sizeof(*t));
}

int mo_trace_an_load(const char *path, mo_trace_an_t *t)
{
	memset(t, 0, sizeof(*t));
	/* Symbols come from local files only, unless the user opts in to
	 * debuginfod downloads. */
	const char *dbg = getenv("MEMOPT_DEBUGINFOD");
	if (!dbg || strcmp(dbg, "1") != 0)
		unsetenv("DEBUGINFOD_URLS");
	int err = mo_tr_open(&t->reader, path);
	if (err)
		return mo__open_error(path, err);
	t->sym = mo_sym_new();
	t->an = t->sym ? mo_an_new(t->sym) : NULL;
	if (!t->an) {
		mo_cli_error("out of memory");
		return MO_XIT_ERROR;
	}
	err = mo__analyse(t->reader, t->an);
	if (err < 0) {
		mo_cli_error("reading %s failed: %s", path, mo_strerror(err));
		return MO_XIT_ERROR;
	}
	mo_an_finish(t->an);
	return 0;
}

int mo_trace_an_damaged(const char *path, const mo_trace_an_t *t)
{
	const mo_tr_damage_t *d = mo_tr_damage(t->reader);
	if (!mo__damaged(d))
		return 0;
	mo__warn_damage(path, d);
	return 1;
}

/* The exit status of the recorded program (the trace's first process),
 * as memopt record returned it; 0 if unknown. */
static int mo__program_status(const mo_an_t *an)
{
	const mo_proc_t *p = mo_an_nprocs(an) ? mo_an_proc(an, 0) : NULL;
	if (!p)
		return 0;
	if (p->exit_kind == MO_EXIT_CODE)
		return (int)(p->exit_value & 0xff);
	if (p->exit_kind == MO_EXIT_SIGNAL)
		return 128 + (int)(p->exit_value & 0x7f);
	return 0;
}

int mo_cmd_report(int argc, char **argv)
{
	mo_report_args_t a;
	mo_trace_an_t t = {0};
	mo_supp_t *supp = NULL;
	int status = 0;
	mo_cli_gate_init(&a.g);
	if (mo__parse_report_args(argc, argv, &a, &status) < 0)
		goto out;
	supp = mo_cli_suppressions(&a.g, &status);
	if (!supp)
		goto out;
	status = mo_trace_an_load(a.input, &t);
	if (status)
		goto out;
	if (a.check) {
		int failed =
			mo_gate_check(&a.g.gate, t.an, t.sym, supp, stderr);
		if (failed < 0) {
			mo_cli_error("checking failed: %s",
				     mo_strerror(failed));
			status = MO_XIT_ERROR;
			goto out;
		}
		mo__warn_mismatches(t.sym);
		int damaged = mo_trace_an_damaged(a.input, &t);
		if (failed && a.g.error_exitcode)
			status = a.g.error_exitcode;
		else if (damaged)
			status = MO_XIT_DAMAGED;
		else
			status = mo__program_status(t.an);
		goto out;
	}
	const mo_tr_damage_t *d = mo_tr_damage(t.reader);
	unsigned major, minor;
	mo_tr_version(t.reader, &major, &minor);
	mo_report_opts_t opts = {
		.top = a.top,
		.trace_path = a.input,
		.damage = mo__damaged(d) ? d : NULL,
		.format_major = major,
		.format_minor = minor,
		.supp = supp,
		.leak_kinds = a.show_kinds,
		.show_suppressed = a.show_suppressed,
	};
	int err = a.json ? mo_report_json(stdout, t.an, t.sym, &opts)
			 : mo_report_text(stdout, t.an, t.sym, &opts);
	if (!err && fflush(stdout) != 0)
		err = -errno;
	if (err) {
		mo_cli_error("writing the report failed: %s", mo_strerror(err));
		status = MO_XIT_ERROR;
		goto out;
	}
	mo__warn_mismatches(t.sym);
	if (mo_trace_an_damaged(a.input, &t))
		status = MO_XIT_DAMAGED;
out:
	mo_supp_free(supp);
	mo_trace_an_free(&t);
	mo_cli_gate_free(&a.g);
	return status;
}
