/* log: stderr lines with a UTC timestamp and level, and a token-bucket rate
 * limiter for lines caused by input (bad messages can arrive at 100k/s; the
 * log must stay readable and cheap). Single-threaded by design, like the
 * consume loop; librdkafka's own log lines go through its log callback. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#define RL_BURST  10.0
#define RL_PER_MS (10.0 / 60000.0) /* 10 lines a minute after the burst */

static lw_log_level g_level = LW_LOG_INFO;

void lw_log_set_level(lw_log_level lvl)
{
	g_level = lvl;
}

lw_log_level lw_log_get_level(void)
{
	return g_level;
}

int64_t lw_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lw_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t lw_mono_ms(void)
{
	return lw_mono_ns() / 1000000;
}

static const char *level_name(lw_log_level l)
{
	switch (l) {
	case LW_LOG_DEBUG:
		return "DEBUG";
	case LW_LOG_INFO:
		return "INFO ";
	case LW_LOG_WARN:
		return "WARN ";
	default:
		return "ERROR";
	}
}

static void vlog(lw_log_level lvl, uint64_t suppressed, const char *fmt,
		 va_list ap)
{
	int64_t now = lw_now_ms();
	time_t secs = (time_t)(now / 1000);
	struct tm tm;
	char ts[32];
	gmtime_r(&secs, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03dZ %s ", ts, (int)(now % 1000), level_name(lvl));
	vfprintf(stderr, fmt, ap);
	if (suppressed)
		fprintf(stderr, " (%llu similar lines suppressed)",
			(unsigned long long)suppressed);
	fputc('\n', stderr);
}

void lw_log(lw_log_level lvl, const char *fmt, ...)
{
	va_list ap;
	if (lvl < g_level)
		return;
	va_start(ap, fmt);
	vlog(lvl, 0, fmt, ap);
	va_end(ap);
}

void lw_log_limited(lw_ratelimit *rl, lw_log_level lvl, const char *fmt, ...)
{
	va_list ap;
	int64_t now;
	if (lvl < g_level)
		return;
	now = lw_mono_ms();
	if (!rl->primed) {
		rl->primed = 1;
		rl->tokens = RL_BURST;
		rl->last_ms = now;
	}
	rl->tokens += (double)(now - rl->last_ms) * RL_PER_MS;
	if (rl->tokens > RL_BURST)
		rl->tokens = RL_BURST;
	rl->last_ms = now;
	if (rl->tokens < 1.0) {
		rl->suppressed++;
		return;
	}
	rl->tokens -= 1.0;
	va_start(ap, fmt);
	vlog(lvl, rl->suppressed, fmt, ap);
	va_end(ap);
	rl->suppressed = 0;
}
