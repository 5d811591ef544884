/*
 * memopt: a memory profiler for Linux programs.  Dispatches subcommands.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

void mo_cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("memopt: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void mo_cli_bad_option(const char *cmd, const char *arg, int known)
{
	mo_cli_error("%s: %s '%s' (try 'memopt %s --help')", cmd,
		     known ? "bad or incomplete option" : "unknown option", arg,
		     cmd);
}

void mo_cli_no_program(const char *cmd)
{
	mo_cli_error("%s: no program given (usage: memopt %s [options] [--] "
		     "PROG [ARGS...])",
		     cmd, cmd);
}

static void mo__usage(FILE *out)
{
	fputs("usage: memopt <command> [options]\n"
	      "\n"
	      "commands:\n"
	      "  record [-o FILE] [--no-follow-fork] [-q] [--] PROG [ARGS...]\n"
	      "         run PROG under the tracker and write a trace "
	      "(memopt.data)\n"
	      "  report [-i FILE] [--json] [--top N] [--check ...]\n"
	      "         peak heap and who holds it, leaks, temporary "
	      "allocations\n"
	      "  check [options] [--] PROG [ARGS...]\n"
	      "         record PROG, then fail (status 23) on leaks or a "
	      "peak over a limit\n"
	      "  help [COMMAND]   show usage (see also man memopt)\n"
	      "\n"
	      "options: --help, --version\n",
	      out);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		mo__usage(stderr);
		return MO_XIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "record") == 0)
		return mo_cmd_record(argc - 1, argv + 1);
	if (strcmp(cmd, "report") == 0)
		return mo_cmd_report(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return mo_cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("memopt %s\n", PACKAGE_VERSION);
		return MO_XIT_OK;
	}
	if (strcmp(cmd, "help") == 0 && argc > 2) {
		char *help[] = {argv[2], "--help", NULL};
		if (strcmp(argv[2], "record") == 0)
			return mo_cmd_record(2, help);
		if (strcmp(argv[2], "report") == 0)
			return mo_cmd_report(2, help);
		if (strcmp(argv[2], "check") == 0)
			return mo_cmd_check(2, help);
		mo_cli_error("no help for unknown command '%s'", argv[2]);
		return MO_XIT_USAGE;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		mo__usage(stdout);
		return MO_XIT_OK;
	}
	mo_cli_error("unknown command '%s' (try 'memopt --help')", cmd);
	return MO_XIT_USAGE;
}
