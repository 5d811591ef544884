/*
 * memopt check: record a program, then check its trace like memopt report
 * --check (a CI gate on leaks and peak heap).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "errors.h"

static void mo__check_usage(FILE *out)
{
	fputs("usage: memopt check [options] [--] PROG [ARGS...]\n"
	      "  -o, --output FILE          trace file (default memopt.data)\n"
	      "      --no-follow-fork       do not trace forked children\n"
	      "  -v, --verbose              also the \"wrote FILE\" line\n"
	      "      --leak-kinds LIST      kinds gated: definite, indirect,\n"
	      "                             possible, reachable, all, none\n"
	      "                             (default definite,possible)\n"
	      "      --max-leak SIZE        leaked bytes allowed (default 0)\n"
	      "      --max-peak SIZE        peak heap allowed (default none)\n"
	      "      --error-exitcode N     status if the check fails "
	      "(default 23)\n"
	      "      --suppressions FILE    leak:PATTERN lines (repeatable)\n"
	      "      --no-default-suppressions  no built-in suppressions\n"
	      "exit status: N (23) check failed, else PROG's; 2 usage, 125 "
	      "memopt\n"
	      "failed, 126 PROG cannot be run or tracked, 127 PROG not "
	      "found\n",
	      out);
}

static int mo__parse_check_args(int argc, char **argv, mo_record_opts_t *r,
				mo_cli_gate_t *g, int *status)
{
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"no-follow-fork", no_argument, NULL, 'F'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		MO_CLI_GATE_LONGOPTS,
		{NULL, 0, NULL, 0}};
	r->output = "memopt.data";
	r->follow_fork = 1;
	r->leak_check = 1;
	r->quiet = 1; /* a passing gate prints one line: its own */
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+o:vh", longopts, NULL)) != -1) {
		int k = mo_cli_gate_opt(g, c, optarg, "check");
		if (k < 0) {
			*status = MO_XIT_USAGE;
			return -1;
		}
		if (k > 0)
			continue;
		switch (c) {
		case 'o':
			r->output = optarg;
			break;
		case 'F':
			r->follow_fork = 0;
			break;
		case 'v':
			r->quiet = 0;
			break;
		case 'h':
			mo__check_usage(stdout);
			*status = MO_XIT_OK;
			return -1;
		default:
			mo_cli_bad_option("check", argv[optind - 1], optopt);
			*status = MO_XIT_USAGE;
			return -1;
		}
	}
	if (optind >= argc) {
		mo_cli_no_program("check");
		*status = MO_XIT_USAGE;
		return -1;
	}
	return optind;
}

int mo_cmd_check(int argc, char **argv)
{
	mo_record_opts_t r;
	mo_cli_gate_t g;
	mo_trace_an_t t = {0};
	mo_supp_t *supp = NULL;
	int status = 0, prog_status = 0;

	mo_cli_gate_init(&g);
	int first = mo__parse_check_args(argc, argv, &r, &g, &status);
	if (first < 0)
		goto out;
	/* Bad suppression files are found before the program runs. */
	supp = mo_cli_suppressions(&g, &status);
	if (!supp)
		goto out;
	status = mo_record_run(&r, argv + first, &prog_status);
	if (status)
		goto out;
	if (mo_trace_an_load(r.output, &t) != 0) {
		status = MO_XIT_FAILED;
		goto out;
	}
	int failed = mo_gate_check(&g.gate, t.an, t.sym, supp, stderr);
	if (failed < 0) {
		mo_cli_error("checking failed: %s", mo_strerror(failed));
		status = MO_XIT_FAILED;
		goto out;
	}
	int damaged = mo_trace_an_damaged(r.output, &t);
	if (failed && g.error_exitcode)
		status = g.error_exitcode;
	else if (damaged)
		status = MO_XIT_FAILED;
	else
		status = prog_status;
out:
	mo_supp_free(supp);
	mo_trace_an_free(&t);
	mo_cli_gate_free(&g);
	return status;
}
