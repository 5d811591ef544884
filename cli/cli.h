/*
 * The memopt command: shared declarations of its subcommands.
 */
#ifndef MO_CLI_H
#define MO_CLI_H

#include "analysis.h"
#include "gate.h"
#include "suppress.h"
#include "symbolize.h"
#include "trace_reader.h"

/* Exit statuses of memopt's own (documented in memopt(1)). */
enum {
	MO_XIT_OK = 0,
	MO_XIT_ERROR = 1,	 /* report: I/O or internal error */
	MO_XIT_USAGE = 2,	 /* bad command line */
	MO_XIT_UNREADABLE = 3,	 /* report: trace missing or not readable */
	MO_XIT_DAMAGED = 4,	 /* report: trace damaged, intact part shown */
	MO_XIT_FAILED = 125,	 /* record: memopt itself failed */
	MO_XIT_CANNOT_RUN = 126, /* record: PROG cannot be run or tracked */
	MO_XIT_NOT_FOUND = 127	 /* record: PROG not found */
};

/* Prints "memopt: <message>" and a newline to stderr. */
void mo_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The error for an option getopt refused: arg, for subcommand cmd;
 * known: it is an option, with a bad or missing value (getopt's optopt). */
void mo_cli_bad_option(const char *cmd, const char *arg, int known);

/* The error for a command line without the program to run. */
void mo_cli_no_program(const char *cmd);

/* Subcommands: argv[0] is the subcommand's name.  Return the exit status. */
int mo_cmd_record(int argc, char **argv);
int mo_cmd_report(int argc, char **argv);
int mo_cmd_check(int argc, char **argv);

/* --- recording (cmd_record.c), shared with memopt check --------------- */

typedef struct mo_record_opts {
	const char *output; /* trace file; an existing one becomes FILE.old */
	int follow_fork;
	int leak_check; /* classify the blocks left at exit */
	int quiet;	/* no "wrote FILE" line */
} mo_record_opts_t;

/* Runs argv[0] (with its arguments argv, NULL-terminated) under the
 * tracker and writes its trace to o->output.  Returns 0 and PROG's exit
 * status (128+N if killed by signal N) in *prog_status, or one of
 * memopt's exit statuses (MO_XIT_FAILED, _CANNOT_RUN, _NOT_FOUND) after
 * printing the error. */
int mo_record_run(const mo_record_opts_t *o, char **argv, int *prog_status);

/* --- reading a trace (cmd_report.c), shared with memopt check ---------- */

typedef struct mo_trace_an {
	mo_tr_t *reader;
	mo_sym_t *sym;
	mo_an_t *an; /* finished */
} mo_trace_an_t;

/* Opens and analyses the trace at path.  Returns 0 with t filled, or an
 * exit status (MO_XIT_UNREADABLE, MO_XIT_ERROR) after printing the
 * error; free t with mo_trace_an_free() either way. */
int mo_trace_an_load(const char *path, mo_trace_an_t *t);
void mo_trace_an_free(mo_trace_an_t *t);

/* Nonzero if the trace was damaged (after printing a warning). */
int mo_trace_an_damaged(const char *path, const mo_trace_an_t *t);

/* --- leak and gate options (cli_leak.c), shared by report and check ---- */

enum {
	MO_OPT_CHECK = 0x100,
	MO_OPT_LEAK_KINDS,
	MO_OPT_MAX_LEAK,
	MO_OPT_MAX_PEAK,
	MO_OPT_ERROR_EXITCODE,
	MO_OPT_SUPPRESSIONS,
	MO_OPT_NO_DEFAULT_SUPP,
	MO_OPT_SHOW_SUPPRESSED,
	MO_OPT_SHOW_LEAK_KINDS
};

/* getopt_long entries of the gate and suppression options. */
#define MO_CLI_GATE_LONGOPTS                                            \
	{"leak-kinds", required_argument, NULL, MO_OPT_LEAK_KINDS},     \
		{"max-leak", required_argument, NULL, MO_OPT_MAX_LEAK}, \
		{"max-peak", required_argument, NULL, MO_OPT_MAX_PEAK}, \
		{"error-exitcode", required_argument, NULL,             \
		 MO_OPT_ERROR_EXITCODE},                                \
		{"suppressions", required_argument, NULL,               \
		 MO_OPT_SUPPRESSIONS},                                  \
	{                                                               \
		"no-default-suppressions", no_argument, NULL,           \
			MO_OPT_NO_DEFAULT_SUPP                          \
	}

#define MO_DEFAULT_ERROR_EXITCODE 23 /* LeakSanitizer's */

typedef struct mo_cli_gate {
	mo_gate_t gate;
	int error_exitcode;	 /* 0: failures do not change the status */
	const char **supp_files; /* --suppressions, in order */
	size_t nsupp;
	int no_default_supp;
	int gate_opts; /* a gate option was given */
} mo_cli_gate_t;

void mo_cli_gate_init(mo_cli_gate_t *o);
void mo_cli_gate_free(mo_cli_gate_t *o);

/* Handles getopt_long's result c (argument arg) if it is a gate or
 * suppression option: returns 1, or -1 after printing the error (a usage
 * error); 0 if c is not one of them.  cmd names the subcommand. */
int mo_cli_gate_opt(mo_cli_gate_t *o, int c, const char *arg, const char *cmd);

/* Builds the suppressions: the built-in ones unless disabled, then every
 * file in order.  Returns NULL after printing a one-line error (a missing,
 * unreadable or malformed file: exit status MO_XIT_USAGE; out of memory:
 * MO_XIT_ERROR, stored in *status). */
mo_supp_t *mo_cli_suppressions(const mo_cli_gate_t *o, int *status);

#endif
