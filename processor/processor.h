/* processor: the daemon. Kafka in, engine, Kafka out, commits.
 *
 * One thread runs everything (librdkafka's own threads do the network I/O):
 * poll the consumer, hand each message to the engine, produce the alerts
 * and dead letters it yields, serve delivery reports, and between batches do
 * bounded housekeeping: a slice of the state sweep, expiry, commits and the
 * stats line. See progress.h for what is committed and how state is
 * restored after a restart. */
#ifndef LW_PROCESSOR_H
#define LW_PROCESSOR_H

#include <signal.h>
#include <stdint.h>

#include "alert.h"
#include "config.h"
#include "engine.h"

typedef struct lw_processor lw_processor;

typedef struct lw_processor_stats {
	lw_engine_stats engine;
	lw_state_stats state;
	uint64_t alerts_delivered;
	uint64_t deadletters_delivered;
	uint64_t delivery_errors;
	uint64_t commits;
	uint64_t commit_errors;
	uint64_t held;		 /* deliveries outstanding */
	uint64_t timer_inflight; /* timer alerts not yet acknowledged */
	int64_t settled_ms;	 /* stream time by which all due timers ran */
	uint64_t replayed_events;
	int64_t restore_ms;	  /* -1 while restoring or never restored */
	int restoring;		  /* partitions still re-reading */
	int64_t first_message_ms; /* monotonic, 0 before the first */
	int64_t last_message_ms;
	uint64_t sweeps;  /* restore-point sweeps completed */
	int64_t sweep_ms; /* time the last one spent sweeping */
} lw_processor_stats;

typedef struct lw_processor_hooks {
	/* Called for every alert sent (after it is queued for produce). */
	void (*on_alert)(void *opaque, const lw_alert *a);
	/* Polled once per loop pass; non-zero stops the processor cleanly. */
	int (*should_stop)(void *opaque, lw_processor *p);
	void *opaque;
} lw_processor_hooks;

/* Creates the clients. brokers is the bootstrap list (required here; the
 * caller starts a mock cluster when the user gave none). cfg is borrowed
 * and must outlive the processor; hooks may be NULL. */
lw_processor *lw_processor_new(const lw_config *cfg, const char *brokers,
			       const lw_processor_hooks *hooks, char *errstr,
			       size_t errstr_size);
/* Runs until *stop becomes non-zero (signal), a hook says stop, or a fatal
 * Kafka error. Then finishes in-flight work, flushes, commits and returns
 * the process exit status (0 = clean). */
int lw_processor_run(lw_processor *p, volatile sig_atomic_t *stop);
void lw_processor_get_stats(lw_processor *p, lw_processor_stats *out);
void lw_processor_destroy(lw_processor *p);

#endif
