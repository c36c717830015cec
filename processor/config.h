/* config: labwatch's settings, from ONE table (config.c), plus pass-through
 * of every other key=value to librdkafka.
 *
 * Sources, later wins: built-in defaults, a config file (-c FILE: lines
 * "key=value", '#' comments), then -X key=value and the short options.
 * A key that is in our table sets our field; any other key goes to
 * librdkafka: "consumer.<prop>" to the consumer only, "producer.<prop>" to
 * the producer only, a bare "<prop>" to both (librdkafka checks it then).
 * --help prints the table. */
#ifndef LW_CONFIG_H
#define LW_CONFIG_H

#include <stdint.h>
#include <stdio.h>

typedef struct lw_config {
	char *topic_results;
	char *topic_notifications;
	char *topic_alerts;
	char *topic_deadletter;
	char *group_id;
	char *registry_dir;
	int64_t input_max_bytes;
	int64_t state_max_specimens;
	int64_t state_max_bytes;
	int64_t state_ttl_ms;
	int64_t state_expected_specimens;
	int64_t fanout_threshold;
	int64_t clock_skew_ms;
	int64_t time_lateness_ms;
	int64_t time_idle_timeout_ms;
	int64_t sla_critical_ms;
	int64_t sla_default_ms;
	char *sla_codes;
	int64_t orphan_grace_ms;
	int64_t fanin_window_ms;
	int64_t fanin_threshold;
	int64_t surge_window_ms;
	int64_t surge_cap;
	int64_t surge_short_ms;
	int64_t surge_baseline_ms;
	int64_t surge_factor;
	int64_t surge_min_count;
	int64_t alert_max_evidence;
	int64_t commit_interval_ms;
	int64_t stats_interval_ms;
	int64_t shutdown_timeout_ms;
	int64_t mock_partitions;
	int64_t restore;
	int64_t alerts_stdout;
	char *log_level;
	/* librdkafka pass-through: key=value pairs, "consumer."/"producer."
	 * prefixes kept as given. */
	char **rk_keys, **rk_vals;
	int rk_n;
} lw_config;

/* Fills defaults. Free with lw_config_free(). */
void lw_config_init(lw_config *c);
void lw_config_free(lw_config *c);

/* Sets one key (ours or librdkafka's). Returns 0, or -1 with errstr for a
 * bad value of one of ours (librdkafka keys are checked when the clients
 * are created). */
int lw_config_set(lw_config *c, const char *key, const char *value,
		  char *errstr, size_t errstr_size);
/* "key=value" form. */
int lw_config_set_kv(lw_config *c, const char *kv, char *errstr,
		     size_t errstr_size);
/* Reads a file of key=value lines. */
int lw_config_load_file(lw_config *c, const char *path, char *errstr,
			size_t errstr_size);

/* The pass-through value of a librdkafka key as set (bare or with the
 * given side's prefix), or NULL. side is "consumer" or "producer". */
const char *lw_config_rk_get(const lw_config *c, const char *side,
			     const char *key);

/* Parses a duration ("500ms", "30s", "1.5h", "7d"; bare = ms). */
int lw_config_parse_ms(const char *v, int64_t *out);

/* Prints our properties (name, default, range, description). */
void lw_config_print_help(FILE *out);

#endif
