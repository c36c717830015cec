/* log: leveled log lines on stderr, with per-reason rate limiting.
 *
 * Lines look like "2026-11-23T10:00:00.123Z WARN  deadletter: ..." so they
 * read well in journald and docker logs. Log text must never carry personal
 * data: only the pseudonymous keys events already carry. */
#ifndef LW_LOG_H
#define LW_LOG_H

#include <stdint.h>

typedef enum lw_log_level {
	LW_LOG_DEBUG,
	LW_LOG_INFO,
	LW_LOG_WARN,
	LW_LOG_ERROR,
} lw_log_level;

void lw_log_set_level(lw_log_level lvl);
lw_log_level lw_log_get_level(void);

void lw_log(lw_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A token bucket per call site: at most `burst` lines, refilled at `per_min`
 * lines per minute. Lines dropped are counted and reported with the next
 * line that gets through ("(N similar lines suppressed)"). Static storage,
 * zero-initialise. */
typedef struct lw_ratelimit {
	double tokens;
	int64_t last_ms;
	uint64_t suppressed;
	int primed;
} lw_ratelimit;

void lw_log_limited(lw_ratelimit *rl, lw_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Wall clock in milliseconds since the epoch, and a monotonic clock. */
int64_t lw_now_ms(void);
int64_t lw_mono_ms(void);
/* The same clock in nanoseconds (for measuring short spans). */
int64_t lw_mono_ns(void);

#endif
