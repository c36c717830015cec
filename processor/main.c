/* main: the labwatch command line.
 *
 *   labwatch [run] [options]   the daemon (default)
 *   labwatch demo [options]    embedded cluster + generated faults + alerts
 *   labwatch mock [options]    a mock Kafka cluster for tests and trials
 *
 * Signal handling follows kcat: the handler only sets a flag; the loop
 * notices it and shuts down in order (flush, commit, exit 0). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "demo.h"
#include "log.h"
#include "mockcluster.h"
#include "processor.h"
#include "replay.h"

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "labwatch: catches misdirected and wrong lab-result notifications "
	    "in Kafka\n"
	    "\n"
	    "usage: labwatch [run] [-b brokers] [-g group] [-c file] [-X "
	    "key=value]... [-v|-q]\n"
	    "       labwatch demo [--specimens N] [--seed S] [-X "
	    "key=value]...\n"
	    "       labwatch replay (--file DUMP | -b brokers) [--output FILE] "
	    "[--produce]\n"
	    "       labwatch mock [--partitions N] [--port-file FILE]\n"
	    "\n"
	    "run   consume %s and %s, write alerts and dead letters.\n"
	    "      With no brokers (-b or -X bootstrap.servers) it starts an "
	    "embedded\n"
	    "      mock cluster and prints its address, so clients (kcat) can "
	    "feed it.\n"
	    "demo  embedded cluster, generated traffic with injected faults, "
	    "alerts as\n"
	    "      JSON lines on stdout and a summary (expected vs seen) on "
	    "stderr.\n"
	    "replay read the input topics (or a labwatch-gen dump) from the "
	    "beginning\n"
	    "      to their end, commit nothing, write the alerts in a fixed "
	    "order:\n"
	    "      same input, same bytes out (labwatch replay --help).\n"
	    "mock  a librdkafka mock cluster on 127.0.0.1 with the four "
	    "topics; prints\n"
	    "      bootstrap=HOST:PORT and runs until SIGINT/SIGTERM.\n"
	    "\n"
	    "  -b, --brokers LIST   bootstrap servers (librdkafka "
	    "bootstrap.servers)\n"
	    "  -g, --group ID       consumer group (default labwatch)\n"
	    "  -c, --config FILE    key=value lines, ours and librdkafka's\n"
	    "  -X key=value         any property below or any librdkafka "
	    "property\n"
	    "  -v / -q              more / less logging\n"
	    "  -h, --help           this text\n"
	    "\n",
	    "lab.results", "lab.notifications");
	lw_config_print_help(out);
}

static int cmd_run(int argc, char **argv)
{
	lw_config cfg;
	lw_mockcluster *mock = NULL;
	lw_processor *p;
	const char *brokers;
	char err[512];
	int rc;
	lw_config_init(&cfg);
	rc = lw_cli_parse(argc, argv, &cfg, NULL, 0, NULL, NULL);
	if (rc >= 0 && rc < argc) {
		/* "labwatch help", a mistyped subcommand: say so rather than
		 * start consuming */
		fprintf(stderr, "labwatch: unknown command or argument '%s'\n",
			argv[rc]);
		rc = -1;
	}
	if (rc < 0) {
		usage(rc == -2 ? stdout : stderr);
		lw_config_free(&cfg);
		return rc == -2 ? 0 : 64;
	}
	if (cfg.alerts_stdout)
		setvbuf(stdout, NULL, _IOLBF, 0);
	brokers = lw_config_rk_get(&cfg, "consumer", "bootstrap.servers");
	if (!brokers)
		brokers =
		    lw_config_rk_get(&cfg, "consumer", "metadata.broker.list");
	if (!brokers) {
		const char *topics[] = {cfg.topic_results,
					cfg.topic_notifications,
					cfg.topic_alerts, cfg.topic_deadletter};
		mock = lw_mockcluster_new((int)cfg.mock_partitions, topics, 4,
					  err, sizeof err);
		if (!mock) {
			fprintf(stderr, "labwatch: %s\n", err);
			lw_config_free(&cfg);
			return 1;
		}
		brokers = lw_mockcluster_bootstraps(mock);
		lw_log(LW_LOG_INFO,
		       "no brokers configured: started an embedded mock "
		       "cluster at %s (produce to it with kcat -b %s)",
		       brokers, brokers);
	}
	lw_cli_install_signals();
	p = lw_processor_new(&cfg, brokers, NULL, err, sizeof err);
	if (!p) {
		fprintf(stderr, "labwatch: %s\n", err);
		lw_mockcluster_destroy(mock);
		lw_config_free(&cfg);
		return 1;
	}
	lw_log(LW_LOG_INFO, "consuming %s and %s from %s as group %s",
	       cfg.topic_results, cfg.topic_notifications, brokers,
	       cfg.group_id);
	rc = lw_processor_run(p, &lw_cli_stop);
	lw_processor_destroy(p);
	lw_mockcluster_destroy(mock);
	lw_config_free(&cfg);
	return rc;
}

static int cmd_mock(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"partitions", required_argument, NULL, 'p'},
	    {"port-file", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *port_file = NULL;
	const char *topics[] = {"lab.results", "lab.notifications",
				"lab.alerts", "lab.deadletter"};
	int partitions = 4, c;
	lw_mockcluster *m;
	char err[512];
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:f:h", longs, NULL)) != -1) {
		switch (c) {
		case 'p':
			partitions = atoi(optarg);
			break;
		case 'f':
			port_file = optarg;
			break;
		default:
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 64;
		}
	}
	if (partitions < 1 || partitions > 1024) {
		fprintf(stderr,
			"labwatch mock: --partitions must be 1..1024\n");
		return 64;
	}
	m = lw_mockcluster_new(partitions, topics, 4, err, sizeof err);
	if (!m) {
		fprintf(stderr, "labwatch mock: %s\n", err);
		return 1;
	}
	if (port_file) {
		FILE *f = fopen(port_file, "w");
		if (!f ||
		    fprintf(f, "%s\n", lw_mockcluster_bootstraps(m)) < 0 ||
		    fclose(f)) {
			fprintf(stderr, "labwatch mock: cannot write %s\n",
				port_file);
			lw_mockcluster_destroy(m);
			return 1;
		}
	}
	printf("bootstrap=%s\n", lw_mockcluster_bootstraps(m));
	fflush(stdout);
	lw_cli_install_signals();
	while (!lw_cli_stop)
		usleep(100 * 1000);
	lw_mockcluster_destroy(m);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "demo") == 0)
		return lw_demo_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "replay") == 0)
		return lw_replay_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "mock") == 0)
		return cmd_mock(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	return cmd_run(argc, argv);
}
