/* clock: per-source watermarks and the monotone stream time.
 *
 * Design: sources live in a small array (one per assigned input partition,
 * tens to hundreds), searched linearly with a one-entry cache for the last
 * source seen, which is the common case in a poll batch. The stream time is
 * recomputed by lw_clock_advance() (once per poll loop pass) and, in replay
 * mode, on every observed event; it only moves forward. Wall-clock values
 * always come from the caller. */
#include "clock.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

typedef struct source {
	int topic;
	int32_t partition;
	int64_t max_event; /* LW_TIME_NONE until it delivers */
	int64_t last_wall; /* last delivery, or assignment */
	int at_end;	   /* its end was reached since the last delivery */
} source;

struct lw_clock {
	lw_clock_config cfg;
	source *v;
	int n, cap;
	int last; /* cache */
	int64_t now;
	int64_t max_event;
	int64_t max_wall; /* wall time of the newest delivery */
};

lw_clock *lw_clock_new(const lw_clock_config *cfg)
{
	lw_clock *c = lw_xcalloc(1, sizeof *c);
	c->cfg = *cfg;
	if (c->cfg.lateness_ms < 0)
		c->cfg.lateness_ms = 0;
	c->now = LW_TIME_NONE;
	c->max_event = LW_TIME_NONE;
	c->max_wall = LW_TIME_NONE;
	return c;
}

void lw_clock_destroy(lw_clock *c)
{
	if (!c)
		return;
	free(c->v);
	free(c);
}

static source *find(lw_clock *c, int topic, int32_t partition)
{
	if (c->last < c->n && c->v[c->last].topic == topic &&
	    c->v[c->last].partition == partition)
		return &c->v[c->last];
	for (int i = 0; i < c->n; i++)
		if (c->v[i].topic == topic && c->v[i].partition == partition) {
			c->last = i;
			return &c->v[i];
		}
	return NULL;
}

static source *add(lw_clock *c, int topic, int32_t partition, int64_t wall)
{
	source *s = find(c, topic, partition);
	if (s)
		return s;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = lw_xrealloc(c->v, (size_t)c->cap * sizeof *c->v);
	}
	s = &c->v[c->n];
	c->last = c->n++;
	s->topic = topic;
	s->partition = partition;
	s->max_event = LW_TIME_NONE;
	s->last_wall = wall;
	s->at_end = 0;
	return s;
}

void lw_clock_add_source(lw_clock *c, int topic, int32_t partition,
			 int64_t wall_ms)
{
	source *s = add(c, topic, partition, wall_ms);
	s->last_wall = wall_ms;
}

void lw_clock_source_at_end(lw_clock *c, int topic, int32_t partition,
			    int64_t wall_ms)
{
	source *s = add(c, topic, partition, wall_ms);
	/* idle from the end's discovery, or from the last delivery if that
	 * was later */
	if (!s->at_end && wall_ms > s->last_wall)
		s->last_wall = wall_ms;
	s->at_end = 1;
}

void lw_clock_reset_sources(lw_clock *c)
{
	c->n = 0;
	c->last = 0;
}

static int64_t mark(const lw_clock *c, int64_t ev)
{
	if (ev == LW_TIME_NONE)
		return LW_TIME_NONE;
	return ev - c->cfg.lateness_ms - 1;
}

static int idle(const lw_clock *c, const source *s, int64_t wall)
{
	return c->cfg.idle_timeout_ms > 0 && (!c->cfg.end_aware || s->at_end) &&
	       wall - s->last_wall >= c->cfg.idle_timeout_ms;
}

int64_t lw_clock_advance(lw_clock *c, int64_t wall_ms)
{
	int64_t cand = INT64_MAX;
	int active = 0;
	if (c->cfg.idle_timeout_ms <= 0) {
		/* Replay: the events come in event-time order from one
		 * merged stream; partitions do not matter. */
		cand = mark(c, c->max_event);
	} else {
		for (int i = 0; i < c->n; i++) {
			const source *s = &c->v[i];
			int64_t m = mark(c, s->max_event);
			if (idle(c, s, wall_ms)) {
				/* A silent partition may only have a backlog
				 * not fetched yet: it still holds time back,
				 * but its watermark goes on with the wall
				 * clock from its own newest event. One that
				 * never delivered has no time to hold. */
				if (s->max_event == LW_TIME_NONE)
					continue;
				m += wall_ms - s->last_wall -
				     c->cfg.idle_timeout_ms;
			} else {
				active = 1;
			}
			if (m < cand)
				cand = m;
		}
		if (!active) {
			/* Everything idle: time goes on with the wall clock
			 * from where the newest event left it, starting
			 * when the last source went idle. */
			cand = LW_TIME_NONE;
			if (c->max_event != LW_TIME_NONE) {
				int64_t since = wall_ms - c->max_wall -
						c->cfg.idle_timeout_ms;
				cand = mark(c, c->max_event) +
				       (since > 0 ? since : 0);
			}
		}
	}
	if (cand != LW_TIME_NONE && cand > c->now)
		c->now = cand;
	return c->now;
}

int lw_clock_observe(lw_clock *c, int topic, int32_t partition,
		     int64_t event_ms, int64_t wall_ms)
{
	int late = c->now != LW_TIME_NONE && event_ms <= c->now;
	if (c->cfg.idle_timeout_ms <= 0) {
		if (c->max_event == LW_TIME_NONE || event_ms > c->max_event)
			c->max_event = event_ms;
		lw_clock_advance(c, 0);
		return late;
	}
	{
		source *s = add(c, topic, partition, wall_ms);
		if (s->max_event == LW_TIME_NONE || event_ms > s->max_event)
			s->max_event = event_ms;
		s->last_wall = wall_ms;
		s->at_end = 0;
	}
	if (c->max_event == LW_TIME_NONE || event_ms > c->max_event)
		c->max_event = event_ms;
	if (c->max_wall == LW_TIME_NONE || wall_ms > c->max_wall)
		c->max_wall = wall_ms;
	return late;
}

int64_t lw_clock_now(const lw_clock *c)
{
	return c->now;
}

int64_t lw_clock_max_event(const lw_clock *c)
{
	return c->max_event;
}

int lw_clock_sources(const lw_clock *c, lw_clock_source_info *out, int n)
{
	for (int i = 0; i < c->n && i < n; i++) {
		out[i].topic = c->v[i].topic;
		out[i].partition = c->v[i].partition;
		out[i].max_event_ms = c->v[i].max_event;
		out[i].watermark_ms = mark(c, c->v[i].max_event);
		out[i].last_wall_ms = c->v[i].last_wall;
	}
	return c->n;
}
