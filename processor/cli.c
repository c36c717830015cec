/* cli: what the labwatch subcommands share: option parsing into lw_config
 * and the stop flag set by SIGINT/SIGTERM.
 *
 * Design: the signal handler only sets lw_cli_stop; loops poll it and shut
 * down in order (kcat's pattern). Options are parsed with getopt_long into
 * the config table, so -X, -c and the short options all land in one
 * place. */
#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

volatile sig_atomic_t lw_cli_stop;

static void on_signal(int sig)
{
	(void)sig;
	lw_cli_stop = 1;
}

void lw_cli_install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int apply_log_level(const lw_config *cfg)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++)
		if (strcmp(cfg->log_level, names[i]) == 0) {
			lw_log_set_level((lw_log_level)i);
			return 0;
		}
	fprintf(stderr,
		"labwatch: log.level must be debug, info, warn or error\n");
	return -1;
}

/* Parses the options shared by run and demo into cfg; returns the index of
 * the first non-option argument, or -1 on error, or -2 for --help. */
int lw_cli_parse(int argc, char **argv, lw_config *cfg,
		 const struct option *extra, int nextra,
		 int (*on_extra)(int opt, const char *arg, void *),
		 void *opaque)
{
	struct option longs[16] = {
	    {"brokers", required_argument, NULL, 'b'},
	    {"group", required_argument, NULL, 'g'},
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	};
	char err[512];
	int nl = 4, c;
	for (int i = 0; i < nextra && nl < 15; i++)
		longs[nl++] = extra[i];
	memset(&longs[nl], 0, sizeof longs[nl]);
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:g:c:X:vqh", longs, NULL)) !=
	       -1) {
		switch (c) {
		case 'b':
			lw_config_set(cfg, "bootstrap.servers", optarg, err,
				      sizeof err);
			break;
		case 'g':
			lw_config_set(cfg, "group.id", optarg, err, sizeof err);
			break;
		case 'c':
			if (lw_config_load_file(cfg, optarg, err, sizeof err)) {
				fprintf(stderr, "labwatch: %s\n", err);
				return -1;
			}
			break;
		case 'X':
			if (lw_config_set_kv(cfg, optarg, err, sizeof err)) {
				fprintf(stderr, "labwatch: %s\n", err);
				return -1;
			}
			break;
		case 'v':
			lw_config_set(cfg, "log.level", "debug", err,
				      sizeof err);
			break;
		case 'q':
			lw_config_set(cfg, "log.level", "warn", err,
				      sizeof err);
			break;
		case 'h':
			return -2;
		default:
			if (on_extra && on_extra(c, optarg, opaque) == 0)
				break;
			return -1;
		}
	}
	return apply_log_level(cfg) ? -1 : optind;
}
