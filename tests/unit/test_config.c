/* test_config: the property table, its parser and the librdkafka
 * pass-through (config.h).
 *
 * Defaults as documented in --help; size and duration suffixes; range and
 * syntax errors (which leave the old value in place and name the property);
 * booleans and strings; the time, SLA, fan-in and surge properties with
 * their ranges, and the sla.codes syntax (CODE=duration,...); librdkafka
 * keys passed through bare (both clients)
 * or with a consumer./producer. prefix (one client, winning over the bare
 * key in either order); key=value parsing; config files with comments,
 * blank lines, '=' and '#' inside values, and errors reported with file and
 * line. */
#include <criterion/criterion.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static lw_config c;
static char err[512];
static char path[64];

static void setup(void)
{
	lw_config_init(&c);
	err[0] = '\0';
	path[0] = '\0';
}

static void teardown(void)
{
	lw_config_free(&c);
	if (path[0])
		unlink(path);
}

TestSuite(config, .init = setup, .fini = teardown);

static int set(const char *k, const char *v)
{
	err[0] = '\0';
	return lw_config_set(&c, k, v, err, sizeof err);
}

Test(config, defaults)
{
	cr_assert_str_eq(c.topic_results, "lab.results");
	cr_assert_str_eq(c.topic_notifications, "lab.notifications");
	cr_assert_str_eq(c.topic_alerts, "lab.alerts");
	cr_assert_str_eq(c.topic_deadletter, "lab.deadletter");
	cr_assert_str_eq(c.group_id, "labwatch");
	cr_assert_str_eq(c.registry_dir, "");
	cr_assert_str_eq(c.log_level, "info");
	cr_assert_eq(c.input_max_bytes, 256 * 1024);
	cr_assert_eq(c.state_max_specimens, 10000000);
	cr_assert_eq(c.state_max_bytes, INT64_C(4) * 1024 * 1024 * 1024);
	cr_assert_eq(c.state_ttl_ms, INT64_C(7) * 24 * 3600 * 1000);
	cr_assert_eq(c.state_expected_specimens, 65536);
	cr_assert_eq(c.fanout_threshold, 0);
	cr_assert_eq(c.clock_skew_ms, 5000);
	cr_assert_eq(c.time_lateness_ms, 5000);
	cr_assert_eq(c.time_idle_timeout_ms, 30000);
	cr_assert_eq(c.sla_critical_ms, 3600000);
	cr_assert_eq(c.sla_default_ms, 86400000);
	cr_assert_str_eq(c.sla_codes, "");
	cr_assert_eq(c.orphan_grace_ms, 3600000);
	cr_assert_eq(c.fanin_window_ms, 86400000);
	cr_assert_eq(c.fanin_threshold, 5);
	cr_assert_eq(c.surge_window_ms, 86400000);
	cr_assert_eq(c.surge_cap, 3000);
	cr_assert_eq(c.surge_short_ms, 3600000);
	cr_assert_eq(c.surge_baseline_ms, 86400000);
	cr_assert_eq(c.surge_factor, 10);
	cr_assert_eq(c.surge_min_count, 100);
	cr_assert_eq(c.alert_max_evidence, 100);
	cr_assert_eq(c.commit_interval_ms, 1000);
	cr_assert_eq(c.stats_interval_ms, 30000);
	cr_assert_eq(c.shutdown_timeout_ms, 30000);
	cr_assert_eq(c.mock_partitions, 4);
	cr_assert_eq(c.restore, 1);
	cr_assert_eq(c.alerts_stdout, 0);
	cr_assert_eq(c.rk_n, 0);
	cr_assert_null(lw_config_rk_get(&c, "consumer", "bootstrap.servers"));
}

Test(config, size_suffixes)
{
	static const struct {
		const char *v;
		int64_t want;
	} cases[] = {
	    {"64", 64},		{"256k", 262144},   {"256K", 262144},
	    {"2kb", 2048},	{"1M", 1048576},    {"1m", 1048576},
	    {"3MB", 3145728},	{"1g", 1073741824}, {"0.5k", 512},
	    {" 128 k", 131072},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cr_assert_eq(set("input.max.bytes", cases[i].v), 0, "%s: %s",
			     cases[i].v, err);
		cr_assert_eq(c.input_max_bytes, cases[i].want, "%s",
			     cases[i].v);
	}
	cr_assert_eq(set("state.max.bytes", "4G"), 0, "%s", err);
	cr_assert_eq(c.state_max_bytes, INT64_C(4) << 30);
	cr_assert_eq(set("state.max.bytes", "0"), 0, "%s", err);
	cr_assert_eq(c.state_max_bytes, 0);
}

Test(config, duration_suffixes)
{
	static const struct {
		const char *v;
		int64_t want;
	} cases[] = {
	    {"250", 250},      {"500ms", 500}, {"30s", 30000},
	    {"1.5s", 1500},    {"2m", 120000}, {"1h", 3600000},
	    {"7d", 604800000}, {"0", 0},       {"90 s", 90000},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cr_assert_eq(set("state.ttl.ms", cases[i].v), 0, "%s: %s",
			     cases[i].v, err);
		cr_assert_eq(c.state_ttl_ms, cases[i].want, "%s", cases[i].v);
	}
	cr_assert_eq(set("commit.interval.ms", "10ms"), 0, "%s", err);
	cr_assert_eq(c.commit_interval_ms, 10);
	cr_assert_eq(set("clock.skew.ms", "1d"), 0, "%s", err);
	cr_assert_eq(c.clock_skew_ms, 86400000);
}

/* the settings input_max_bytes .. alerts_stdout are contiguous 8-byte
 * fields (int64_t, and the sla_codes pointer among them) */
#define NUMS                                      \
	((offsetof(lw_config, alerts_stdout) -    \
	  offsetof(lw_config, input_max_bytes)) / \
	     sizeof(int64_t) +                    \
	 1)

Test(config, bad_values_keep_the_old_one)
{
	static const struct {
		const char *k, *v;
	} cases[] = {
	    {"input.max.bytes", "63"}, /* below 64 */
	    {"input.max.bytes", "2g"}, /* above 1 GiB */
	    {"input.max.bytes", "1025m"},
	    {"input.max.bytes", "-1"},
	    {"input.max.bytes", "abc"},
	    {"input.max.bytes", ""},
	    {"input.max.bytes", "10x"},
	    {"input.max.bytes", "10s"}, /* not a size */
	    {"state.ttl.ms", "7y"},
	    {"state.ttl.ms", "-1s"},
	    {"state.ttl.ms", "5kb"},	 /* not a duration */
	    {"commit.interval.ms", "9"}, /* below 10 */
	    {"mock.partitions", "0"},
	    {"mock.partitions", "1025"},
	    {"mock.partitions", "4k"}, /* plain integer: no suffix */
	    {"alert.max.evidence", "0"},
	    {"alert.max.evidence", "100001"},
	    {"state.max.specimens", "-5"},
	    {"state.max.specimens", "1e30"},
	    {"state.expected.specimens", "0"},
	    {"fanout.threshold", "1000001"},
	    {"clock.skew.ms", "2d"}, /* above 1 day */
	    {"clock.skew.ms", "-1"},
	    {"restore", "maybe"},
	    {"restore", "2"},
	    {"alerts.stdout", ""},
	    {"time.lateness.ms", "2d"}, /* above 1 day */
	    {"time.lateness.ms", "-1"},
	    {"time.idle.timeout.ms", "0"}, /* replay mode is not a setting */
	    {"time.idle.timeout.ms", "1k"},
	    {"sla.critical.ms", "-1ms"},
	    {"sla.default.ms", "soon"},
	    {"orphan.grace.ms", "1w"},
	    {"fanin.window.ms", "0"},
	    {"fanin.threshold", "-1"},
	    {"fanin.threshold", "1000001"},
	    {"fanin.threshold", "2.5"},
	    {"surge.window.ms", "59s"}, /* below a minute */
	    {"surge.window.ms", "31d"},
	    {"surge.short.ms", "30s"},
	    {"surge.baseline.ms", "31d"},
	    {"surge.cap", "-3"},
	    {"surge.factor", "1.5"}, /* an integer */
	    {"surge.min.count", "x"},
	    {"sla.codes", "POS"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int64_t before[NUMS], after[NUMS];
		memcpy(before, &c.input_max_bytes, sizeof before);
		cr_assert_eq(set(cases[i].k, cases[i].v), -1, "%s=%s accepted",
			     cases[i].k, cases[i].v);
		cr_assert(strstr(err, cases[i].k), "%s=%s: \"%s\"", cases[i].k,
			  cases[i].v, err);
		memcpy(after, &c.input_max_bytes, sizeof after);
		cr_assert_eq(memcmp(before, after, sizeof before), 0,
			     "%s=%s changed the config", cases[i].k,
			     cases[i].v);
	}
}

/* An integer property takes integers: "2.5" is not one (and must not be
 * read as 2). */
Test(config, time_and_rule_properties)
{
	static const struct {
		const char *k, *v;
		size_t off;
		int64_t want;
	} cases[] = {
	    {"time.lateness.ms", "0", offsetof(lw_config, time_lateness_ms), 0},
	    {"time.lateness.ms", "1.5s", offsetof(lw_config, time_lateness_ms),
	     1500},
	    {"time.lateness.ms", "1d", offsetof(lw_config, time_lateness_ms),
	     86400000},
	    {"time.idle.timeout.ms", "1",
	     offsetof(lw_config, time_idle_timeout_ms), 1},
	    {"time.idle.timeout.ms", "2m",
	     offsetof(lw_config, time_idle_timeout_ms), 120000},
	    {"sla.critical.ms", "30m", offsetof(lw_config, sla_critical_ms),
	     1800000},
	    {"sla.critical.ms", "0", offsetof(lw_config, sla_critical_ms), 0},
	    {"sla.default.ms", "2d", offsetof(lw_config, sla_default_ms),
	     172800000},
	    {"orphan.grace.ms", "90s", offsetof(lw_config, orphan_grace_ms),
	     90000},
	    {"fanin.window.ms", "12h", offsetof(lw_config, fanin_window_ms),
	     43200000},
	    {"fanin.threshold", "0", offsetof(lw_config, fanin_threshold), 0},
	    {"fanin.threshold", "1000000", offsetof(lw_config, fanin_threshold),
	     1000000},
	    {"surge.window.ms", "1m", offsetof(lw_config, surge_window_ms),
	     60000},
	    {"surge.window.ms", "30d", offsetof(lw_config, surge_window_ms),
	     2592000000LL},
	    {"surge.cap", "0", offsetof(lw_config, surge_cap), 0},
	    {"surge.short.ms", "10m", offsetof(lw_config, surge_short_ms),
	     600000},
	    {"surge.baseline.ms", "6h", offsetof(lw_config, surge_baseline_ms),
	     21600000},
	    {"surge.factor", "0", offsetof(lw_config, surge_factor), 0},
	    {"surge.factor", "25", offsetof(lw_config, surge_factor), 25},
	    {"surge.min.count", "7", offsetof(lw_config, surge_min_count), 7},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int64_t got;
		cr_assert_eq(set(cases[i].k, cases[i].v), 0, "%s=%s: %s",
			     cases[i].k, cases[i].v, err);
		memcpy(&got, (char *)&c + cases[i].off, sizeof got);
		cr_assert_eq(got, cases[i].want, "%s=%s", cases[i].k,
			     cases[i].v);
	}
	cr_assert_eq(c.rk_n, 0);
}

/* sla.codes: CODE=duration[,CODE=duration...]; a bad value names the
 * property and keeps the old value. */
Test(config, sla_codes_syntax)
{
	static const char *const good[] = {
	    "",	       "POS=30m", "POS=30m,A1=2h", "not detected=1d,POS=0",
	    "A1=1.5h", "X=500",
	};
	static const char *const bad[] = {
	    "POS",	 "=30m",    "POS=",	"POS=abc",
	    "POS=-1",	 "POS=30x", ",POS=30m", "POS=30m,,A1=1h",
	    "POS=1h=2h", "POS=5kb", "A1=2h,B",
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		cr_assert_eq(set("sla.codes", good[i]), 0, "\"%s\": %s",
			     good[i], err);
		cr_assert_str_eq(c.sla_codes, good[i]);
	}
	cr_assert_eq(set("sla.codes", "POS=10m"), 0);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cr_assert_eq(set("sla.codes", bad[i]), -1, "\"%s\" accepted",
			     bad[i]);
		cr_assert(strstr(err, "sla.codes"), "%s", err);
		cr_assert_str_eq(c.sla_codes, "POS=10m", "\"%s\" changed it",
				 bad[i]);
	}
	cr_assert_eq(c.rk_n, 0);
}

Test(config, integers_are_not_truncated)
{
	cr_assert_eq(set("mock.partitions", "2.5"), -1, "2.5 accepted as %lld",
		     (long long)c.mock_partitions);
	cr_assert_eq(c.mock_partitions, 4);
	cr_assert_eq(set("fanout.threshold", "3.9"), -1, "3.9 accepted as %lld",
		     (long long)c.fanout_threshold);
}

/* The documented range of state.max.specimens is [0, INT64_MAX]; values
 * in it are taken exactly. */
Test(config, large_integers_exact)
{
	cr_assert_eq(set("state.max.specimens", "9007199254740993"), 0, "%s",
		     err);
	cr_assert_eq(c.state_max_specimens, INT64_C(9007199254740993));
	cr_assert_eq(set("state.max.specimens", "9223372036854775807"), 0, "%s",
		     err);
	cr_assert_eq(c.state_max_specimens, INT64_MAX);
}

Test(config, booleans_and_strings)
{
	static const struct {
		const char *v;
		int64_t want;
	} b[] = {{"false", 0}, {"true", 1}, {"0", 0},
		 {"1", 1},     {"no", 0},   {"yes", 1}};
	for (size_t i = 0; i < sizeof b / sizeof *b; i++) {
		cr_assert_eq(set("restore", b[i].v), 0, "%s", b[i].v);
		cr_assert_eq(c.restore, b[i].want, "%s", b[i].v);
		cr_assert_eq(set("alerts.stdout", b[i].v), 0, "%s", b[i].v);
		cr_assert_eq(c.alerts_stdout, b[i].want, "%s", b[i].v);
	}
	cr_assert_eq(set("topic.results", "in.results"), 0);
	cr_assert_eq(set("topic.results", "in.results.v2"), 0);
	cr_assert_str_eq(c.topic_results, "in.results.v2");
	cr_assert_eq(set("schema.registry.dir", "/etc/labwatch/schemas"), 0);
	cr_assert_str_eq(c.registry_dir, "/etc/labwatch/schemas");
	cr_assert_eq(set("log.level", "debug"), 0);
	cr_assert_str_eq(c.log_level, "debug");
	cr_assert_eq(c.rk_n, 0, "our keys do not go to librdkafka");
}

Test(config, librdkafka_pass_through)
{
	cr_assert_eq(set("bootstrap.servers", "b1:9092,b2:9092"), 0);
	cr_assert_eq(set("consumer.auto.offset.reset", "earliest"), 0);
	cr_assert_eq(set("producer.linger.ms", "5"), 0);
	cr_assert_eq(set("consumer.client.id", "lw-c"), 0);
	cr_assert_eq(set("client.id", "lw"), 0);
	cr_assert_eq(set("compression.type", "zstd"), 0);
	cr_assert_eq(set("producer.compression.type", "lz4"), 0);

	cr_assert_str_eq(lw_config_rk_get(&c, "consumer", "bootstrap.servers"),
			 "b1:9092,b2:9092");
	cr_assert_str_eq(lw_config_rk_get(&c, "producer", "bootstrap.servers"),
			 "b1:9092,b2:9092");
	cr_assert_str_eq(lw_config_rk_get(&c, "consumer", "auto.offset.reset"),
			 "earliest");
	cr_assert_null(lw_config_rk_get(&c, "producer", "auto.offset.reset"));
	cr_assert_str_eq(lw_config_rk_get(&c, "producer", "linger.ms"), "5");
	cr_assert_null(lw_config_rk_get(&c, "consumer", "linger.ms"));
	/* prefixed beats bare, whichever was set first */
	cr_assert_str_eq(lw_config_rk_get(&c, "consumer", "client.id"), "lw-c");
	cr_assert_str_eq(lw_config_rk_get(&c, "producer", "client.id"), "lw");
	cr_assert_str_eq(lw_config_rk_get(&c, "producer", "compression.type"),
			 "lz4");
	cr_assert_str_eq(lw_config_rk_get(&c, "consumer", "compression.type"),
			 "zstd");
	/* the prefix is a whole word */
	cr_assert_null(lw_config_rk_get(&c, "consume", "auto.offset.reset"));
	cr_assert_null(lw_config_rk_get(&c, "consumer", "offset.reset"));
	/* setting again replaces */
	cr_assert_eq(set("bootstrap.servers", "b3:9092"), 0);
	cr_assert_str_eq(lw_config_rk_get(&c, "producer", "bootstrap.servers"),
			 "b3:9092");
	cr_assert_eq(c.rk_n, 7);
}

Test(config, key_value_form)
{
	cr_assert_eq(
	    lw_config_set_kv(&c, "  state.ttl.ms =  2h ", err, sizeof err), 0,
	    "%s", err);
	cr_assert_eq(c.state_ttl_ms, 7200000);
	cr_assert_eq(
	    lw_config_set_kv(&c, "sasl.jaas.config=a=b c=d", err, sizeof err),
	    0);
	cr_assert_str_eq(lw_config_rk_get(&c, "consumer", "sasl.jaas.config"),
			 "a=b c=d");
	cr_assert_eq(lw_config_set_kv(&c, "no equals sign", err, sizeof err),
		     -1);
	cr_assert_neq(err[0], '\0');
	cr_assert_eq(lw_config_set_kv(&c, "mock.partitions=0", err, sizeof err),
		     -1);
	cr_assert(strstr(err, "mock.partitions"), "%s", err);
}

static void write_conf(const char *text)
{
	int fd;
	FILE *f;
	strcpy(path, "/tmp/lwtest-conf-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
}

Test(config, config_file)
{
	write_conf("# labwatch test config\n"
		   "\n"
		   "topic.results = lab.results.eu\n"
		   "   # an indented comment\n"
		   "input.max.bytes=512k\n"
		   "\tstate.ttl.ms = 3d\t\n"
		   "bootstrap.servers=kafka:9092\n"
		   "consumer.group.instance.id = lw-1\n"
		   "ssl.key.password=ab#cd\n"
		   "restore=false\n"
		   "   \n"
		   "alerts.stdout=yes"); /* no final newline */
	cr_assert_eq(lw_config_load_file(&c, path, err, sizeof err), 0, "%s",
		     err);
	cr_assert_str_eq(c.topic_results, "lab.results.eu");
	cr_assert_eq(c.input_max_bytes, 512 * 1024);
	cr_assert_eq(c.state_ttl_ms, INT64_C(3) * 86400000);
	cr_assert_eq(c.restore, 0);
	cr_assert_eq(c.alerts_stdout, 1);
	cr_assert_str_eq(lw_config_rk_get(&c, "producer", "bootstrap.servers"),
			 "kafka:9092");
	cr_assert_str_eq(lw_config_rk_get(&c, "consumer", "group.instance.id"),
			 "lw-1");
	cr_assert_null(lw_config_rk_get(&c, "producer", "group.instance.id"));
	cr_assert_str_eq(lw_config_rk_get(&c, "consumer", "ssl.key.password"),
			 "ab#cd");
	cr_assert_eq(c.rk_n, 3);
	/* later sources win */
	cr_assert_eq(set("input.max.bytes", "1k"), 0);
	cr_assert_eq(c.input_max_bytes, 1024);
}

Test(config, config_file_errors)
{
	write_conf("# ok\n"
		   "topic.results=x\n"
		   "\n"
		   "input.max.bytes=1\n"
		   "topic.alerts=never.reached\n");
	cr_assert_eq(lw_config_load_file(&c, path, err, sizeof err), -1);
	cr_assert(strstr(err, path), "%s", err);
	cr_assert(strstr(err, ":4"), "line number: %s", err);
	cr_assert(strstr(err, "input.max.bytes"), "%s", err);
	cr_assert_str_eq(c.topic_alerts, "lab.alerts");
	unlink(path);

	write_conf("topic.results=x\nthis line has no equals\n");
	cr_assert_eq(lw_config_load_file(&c, path, err, sizeof err), -1);
	cr_assert(strstr(err, ":2"), "%s", err);

	cr_assert_eq(lw_config_load_file(&c, "/nonexistent/labwatch.conf", err,
					 sizeof err),
		     -1);
	cr_assert(strstr(err, "/nonexistent/labwatch.conf"), "%s", err);
}

Test(config, help_lists_every_property)
{
	static const char *const names[] = {
	    "topic.results",
	    "topic.notifications",
	    "topic.alerts",
	    "topic.deadletter",
	    "group.id",
	    "schema.registry.dir",
	    "input.max.bytes",
	    "state.max.specimens",
	    "state.max.bytes",
	    "state.ttl.ms",
	    "state.expected.specimens",
	    "fanout.threshold",
	    "clock.skew.ms",
	    "time.lateness.ms",
	    "time.idle.timeout.ms",
	    "sla.critical.ms",
	    "sla.default.ms",
	    "sla.codes",
	    "orphan.grace.ms",
	    "fanin.window.ms",
	    "fanin.threshold",
	    "surge.window.ms",
	    "surge.cap",
	    "surge.short.ms",
	    "surge.baseline.ms",
	    "surge.factor",
	    "surge.min.count",
	    "alert.max.evidence",
	    "commit.interval.ms",
	    "stats.interval.ms",
	    "shutdown.timeout.ms",
	    "mock.partitions",
	    "restore",
	    "alerts.stdout",
	    "log.level",
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	lw_config_print_help(f);
	fclose(f);
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		cr_assert(strstr(text, names[i]), "%s missing", names[i]);
		/* setting it (validly or not) never reaches librdkafka */
		set(names[i], "1");
	}
	cr_assert_eq(c.rk_n, 0, "every listed name is one of ours");
	free(text);
}
