/*
 * The memopt command: shared declarations of its subcommands.
 */
#ifndef MO_CLI_H
#define MO_CLI_H

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

/* Subcommands: argv[0] is the subcommand's name.  Return the exit status. */
int mo_cmd_record(int argc, char **argv);
int mo_cmd_report(int argc, char **argv);

#endif
