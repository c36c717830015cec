/* cli: option parsing and signal handling shared by the subcommands. */
#ifndef LW_CLI_H
#define LW_CLI_H

#include <getopt.h>
#include <signal.h>

#include "config.h"

/* Set to 1 by SIGINT/SIGTERM once lw_cli_install_signals() ran. */
extern volatile sig_atomic_t lw_cli_stop;
void lw_cli_install_signals(void);

/* Parses -b -g -c -X -v -q -h (and the given extra long options, handed to
 * on_extra, which returns 0 if it took the option) into cfg. Returns the
 * index of the first non-option argument, -1 on a usage error (reported on
 * stderr), -2 for --help. */
int lw_cli_parse(int argc, char **argv, lw_config *cfg,
		 const struct option *extra, int nextra,
		 int (*on_extra)(int opt, const char *arg, void *opaque),
		 void *opaque);

#endif
