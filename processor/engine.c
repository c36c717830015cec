/* engine: the per-message path, shared by the daemon, demo and benchmarks.
 *
 * Design: decode into a reused event struct (no allocation), upsert the
 * specimen, append the event (copying the few strings state keeps), run all
 * rules on that one specimen and diff the incidents against the record's
 * "emitted" list. An incident is sent when it is new, when it reaches more
 * distinct recipients than last sent, or when its severity rises (growth is
 * coalesced per batch: see lw_engine_flush); its
 * revision is the number of notifications involved, which only grows, so
 * (alert_id, revision) names one message. Re-delivered events (same event
 * or notification ID) change nothing and alert nothing.
 *
 * Bad input never stops the engine: each reason has a counter, a rate-
 * limited log line and a dead-letter callback with the original bytes.
 *
 * Time: each decoded event is observed by the clock; timer rules run when
 * a specimen's deadline (state.h) comes due, through the same evaluate()
 * as events, with no cause message. The deadline is the next timer due
 * time the rules report, else the newest event + TTL, when the record is
 * expired. FANIN pairs are fed as notifications and patient keys become
 * known; surges are checked as the stream time closes buckets. */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "log.h"
#include "xmalloc.h"

#define FANIN_SWEEP_PER_EVENT 8 /* fan-in entries visited per applied event */
/* Keys longer than this are not hinted: no specimen ID is that long in
 * practice, and hashing a long key twice would cost more than a miss. */
#define HINT_MAX_KEY 256

struct lw_engine {
	lw_engine_config cfg;
	lw_engine_callbacks cb;
	lw_codec *codec;
	lw_codes *codes;
	lw_state *state;
	lw_incident_list inc;
	lw_alert_builder ab;
	lw_engine_stats st;
	lw_ratelimit rl_dlq[LW_DECODE_STATUS_COUNT + 2];
	lw_ratelimit rl_key;
	lw_ratelimit rl_drop;
	lw_ratelimit rl_late;
	lw_clock *clock;
	lw_surge *surge;
	lw_fanin *fanin;
	int64_t delivered_wm;
	int64_t settled_wm; /* every timer due by then has run */
	/* Specimens with coalesced updates, and the last event that grew
	 * each (the cause the update's delivery is held against). */
	struct pending {
		char *id;
		lw_msg cause;
		int has_cause;
		size_t slot; /* its place in pindex */
	} * pending;
	size_t npending, cappending;
	/* pending entries by ID hash, open addressing: index + 1, 0 = free;
	 * pcap a power of two, at least twice npending */
	uint32_t *pindex;
	size_t pcap;
	/* Hashes of the last two hinted keys (lw_engine_hint), newest
	 * first; 0 = none. */
	uint64_t hinted[2];
	/* The record being worked on: its entry, and the view it is
	 * unpacked into (stored back when the work is done). */
	lw_state_entry *cur;
	lw_specimen view;
};

void lw_engine_config_defaults(lw_engine_config *c)
{
	memset(c, 0, sizeof *c);
	c->max_message_bytes = 262144;
	c->max_evidence = 100;
	c->rules.clock_skew_ms = 5000;
	c->state.max_specimens = 10000000;
	c->state.max_bytes = 4ULL << 30;
	c->state.ttl_ms = 7LL * 24 * 3600 * 1000;
	c->state.expected_specimens = 1 << 16;
	c->rules.sla_critical_ms = 3600LL * 1000;
	c->rules.sla_default_ms = 24LL * 3600 * 1000;
	c->rules.orphan_grace_ms = 3600LL * 1000;
	c->clock.lateness_ms = 5000;
	c->clock.idle_timeout_ms = 30000;
	lw_surge_config_defaults(&c->surge);
	lw_fanin_config_defaults(&c->fanin);
	c->evict_budget = 4;
	c->timer_budget = 16;
	c->wall_ms = lw_mono_ms;
}

void lw_engine_config_from(lw_engine_config *c, const lw_config *cfg)
{
	lw_engine_config_defaults(c);
	c->max_message_bytes = (size_t)cfg->input_max_bytes;
	c->max_evidence = (uint32_t)cfg->alert_max_evidence;
	c->rules.fanout_threshold = (uint32_t)cfg->fanout_threshold;
	c->rules.clock_skew_ms = cfg->clock_skew_ms;
	c->state.max_specimens = (uint64_t)cfg->state_max_specimens;
	c->state.max_bytes = (uint64_t)cfg->state_max_bytes;
	c->state.ttl_ms = cfg->state_ttl_ms;
	c->state.expected_specimens = (uint64_t)cfg->state_expected_specimens;
	c->rules.sla_critical_ms = cfg->sla_critical_ms;
	c->rules.sla_default_ms = cfg->sla_default_ms;
	c->rules.orphan_grace_ms = cfg->orphan_grace_ms;
	c->sla_codes = cfg->sla_codes;
	c->clock.lateness_ms = cfg->time_lateness_ms;
	c->clock.idle_timeout_ms = cfg->time_idle_timeout_ms;
	c->surge.window_ms = cfg->surge_window_ms;
	c->surge.cap = (uint64_t)cfg->surge_cap;
	c->surge.short_ms = cfg->surge_short_ms;
	c->surge.baseline_ms = cfg->surge_baseline_ms;
	c->surge.factor = (double)cfg->surge_factor;
	c->surge.min_count = (uint64_t)cfg->surge_min_count;
	c->fanin.window_ms = cfg->fanin_window_ms;
	c->fanin.threshold = (uint32_t)cfg->fanin_threshold;
	c->fanin.max_evidence = (uint32_t)cfg->alert_max_evidence;
}

const char *lw_engine_late_reason(int reason)
{
	static const char *const names[] = {"behind_watermark", "after_timer",
					    "beyond_ttl"};
	return (unsigned)reason < 3 ? names[reason] : "?";
}

/* "POS=1h,A1=30m": per-code SLAs, the codes interned here. Bad entries
 * are logged and skipped (config.c has checked the syntax). */
static void parse_sla_codes(lw_engine *e, const char *spec)
{
	const char *p = spec;
	while (p && *p) {
		const char *end = strchr(p, ',');
		const char *eq =
		    memchr(p, '=', end ? (size_t)(end - p) : strlen(p));
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (eq && e->cfg.rules.nsla < LW_RULES_MAX_SLA_OVERRIDES) {
			char num[32];
			size_t nl = len - (size_t)(eq + 1 - p);
			int64_t ms;
			if (nl < sizeof num) {
				memcpy(num, eq + 1, nl);
				num[nl] = 0;
				if (lw_config_parse_ms(num, &ms) == 0) {
					lw_sla_override *o =
					    &e->cfg.rules
						 .sla[e->cfg.rules.nsla++];
					o->code = lw_codes_intern(
					    e->codes, p, (size_t)(eq - p));
					o->ms = ms;
				}
			}
		}
		p = end ? end + 1 : NULL;
	}
}

const char *lw_engine_dlq_reason(int idx)
{
	if (idx == LW_DLQ_OVERSIZED)
		return "oversized";
	if (idx == LW_DLQ_MISSING_KEY)
		return "missing_key";
	return lw_decode_status_reason((lw_decode_status)idx);
}

lw_engine *lw_engine_new(const lw_engine_config *cfg, const lw_registry *reg,
			 const lw_engine_callbacks *cb)
{
	lw_engine *e = lw_xcalloc(1, sizeof *e);
	e->cfg = *cfg;
	e->cb = *cb;
	e->codec = lw_codec_new(reg);
	e->codes = lw_codes_new();
	e->state = lw_state_new(&cfg->state);
	lw_incident_list_init(&e->inc);
	lw_alert_builder_init(&e->ab, cfg->max_evidence);
	e->st.stream_time_ms = INT64_MIN;
	if (!e->cfg.wall_ms)
		e->cfg.wall_ms = lw_mono_ms;
	e->cfg.rules.nsla = 0;
	parse_sla_codes(e, cfg->sla_codes);
	e->cfg.sla_codes = NULL;
	e->clock = lw_clock_new(&cfg->clock);
	e->surge = lw_surge_new(&cfg->surge);
	e->fanin = lw_fanin_new(&cfg->fanin);
	e->delivered_wm = LW_TIME_NONE;
	e->settled_wm = LW_TIME_NONE;
	return e;
}

void lw_engine_destroy(lw_engine *e)
{
	if (!e)
		return;
	lw_state_destroy(e->state);
	lw_clock_destroy(e->clock);
	lw_surge_destroy(e->surge);
	lw_fanin_destroy(e->fanin);
	lw_codes_destroy(e->codes);
	lw_codec_destroy(e->codec);
	lw_incident_list_free(&e->inc);
	lw_alert_builder_free(&e->ab);
	lw_specimen_clear(&e->view);
	for (size_t i = 0; i < e->npending; i++)
		free(e->pending[i].id);
	free(e->pending);
	free(e->pindex);
	free(e);
}

static void deadletter(lw_engine *e, const lw_msg *m, int idx,
		       const char *detail, int32_t schema_id, int processed)
{
	/* A re-read below the committed offset (state restore) was
	 * dead-lettered, and acknowledged, before the restart. */
	if (e->cb.replayed &&
	    e->cb.replayed(e->cb.opaque, m->topic, m->partition, m->offset)) {
		e->st.deadletter_suppressed_replay++;
		return;
	}
	e->st.deadletter[idx]++;
	e->st.deadletter_total++;
	lw_log_limited(&e->rl_dlq[idx], LW_LOG_WARN,
		       "deadletter: %s at %s/%d@%lld: %s",
		       lw_engine_dlq_reason(idx), m->topic_name,
		       (int)m->partition, (long long)m->offset, detail);
	e->cb.deadletter(e->cb.opaque, m, lw_engine_dlq_reason(idx), detail,
			 schema_id, processed);
}

/* Were all of the specimen's events read before a restart, with every alert
 * they caused delivered? Then whatever incident they form now was already
 * sent (or was masked by events still to come, which will mask it again),
 * so it is recorded but not sent twice. Checking every event of the
 * specimen, not only the incident's, makes this independent of the order
 * in which a replay meets them. */
static int all_replayed(lw_engine *e, const lw_specimen *s)
{
	if (!e->cb.replayed)
		return 0;
	for (uint32_t i = 0; i < s->nresults; i++)
		if (!e->cb.replayed(e->cb.opaque, LW_TOPIC_RESULTS,
				    s->results[i].partition,
				    s->results[i].offset))
			return 0;
	for (uint32_t i = 0; i < s->nnotifs; i++)
		if (!e->cb.replayed(e->cb.opaque, LW_TOPIC_NOTIFICATIONS,
				    s->notifs[i].partition,
				    s->notifs[i].offset))
			return 0;
	return 1;
}

static size_t pending_home(const lw_engine *e, const char *id)
{
	return (size_t)lw_hash_fast(id, strlen(id), 0x70656e64ULL) &
	       (e->pcap - 1);
}

/* Places pending entry i in pindex. */
static void pending_place(lw_engine *e, size_t i)
{
	size_t h = pending_home(e, e->pending[i].id);
	while (e->pindex[h])
		h = (h + 1) & (e->pcap - 1);
	e->pindex[h] = (uint32_t)(i + 1);
	e->pending[i].slot = h;
}

/* The pending entry of this ID, or NULL. A lookup per deferred update:
 * replay flushes only at its end, so a scan of the list made replaying
 * a million specimens quadratic (minutes of strcmp). */
static struct pending *pending_find(lw_engine *e, const char *id)
{
	if (!e->pcap)
		return NULL;
	for (size_t h = pending_home(e, id); e->pindex[h];
	     h = (h + 1) & (e->pcap - 1))
		if (strcmp(e->pending[e->pindex[h] - 1].id, id) == 0)
			return &e->pending[e->pindex[h] - 1];
	return NULL;
}

static void defer_update(lw_engine *e, lw_specimen *s, const lw_msg *cause)
{
	struct pending *p =
	    s->update_pending ? pending_find(e, lw_specimen_id(s)) : NULL;
	if (p) {
		if (cause) {
			p->cause = *cause;
			p->cause.key = NULL;
			p->cause.value = NULL;
			p->has_cause = 1;
		}
		return;
	}
	if (e->npending == e->cappending) {
		e->cappending = e->cappending ? e->cappending * 2 : 64;
		e->pending =
		    lw_xrealloc(e->pending, e->cappending * sizeof *e->pending);
	}
	if (2 * (e->npending + 1) > e->pcap) {
		free(e->pindex);
		e->pcap = e->pcap ? e->pcap * 2 : 128;
		e->pindex = lw_xcalloc(e->pcap, sizeof *e->pindex);
		for (size_t i = 0; i < e->npending; i++)
			pending_place(e, i);
	}
	p = &e->pending[e->npending++];
	p->id = lw_xstrdup(lw_specimen_id(s));
	pending_place(e, e->npending - 1);
	memset(&p->cause, 0, sizeof p->cause);
	p->has_cause = cause != NULL;
	if (cause)
		p->cause = *cause;
	p->cause.key = p->cause.value = NULL;
	p->cause.key_len = p->cause.value_len = 0;
	s->update_pending = 1;
}

/* Runs the rules on s and sends what is new; growth of an incident already
 * sent is deferred to lw_engine_flush() unless `updates` is set. */
/* Is this timer alert's due time at or before what was delivered before a
 * restart? */
static int delivered_before(const lw_engine *e, int64_t fired_at)
{
	return e->delivered_wm != LW_TIME_NONE && fired_at <= e->delivered_wm;
}

/* The record's deadline: its next timer, else its expiry. A record never
 * expires with a timer pending (an SLA longer than the TTL keeps it). s is
 * the view of e->cur. When nothing is pending (no timer, no deferred
 * update), the deadline is marked an expiry only: with no timer to come,
 * the rules would find at expiry exactly what they found now, all of it
 * already sent, so on_due() drops the record without loading it. */
static void schedule(lw_engine *e, const lw_specimen *s, int64_t next_due)
{
	if (next_due == INT64_MAX && e->cfg.state.ttl_ms > 0) {
		int64_t due = s->last_event_ms + e->cfg.state.ttl_ms;
		if (s->update_pending)
			lw_state_schedule(e->state, e->cur, due);
		else
			lw_state_schedule_expiry(e->state, e->cur, due);
		return;
	}
	lw_state_schedule(e->state, e->cur, next_due);
}

/* Makes en the record worked on, unpacked into e->view. */
static lw_specimen *load(lw_engine *e, lw_state_entry *en)
{
	e->cur = en;
	lw_state_load(e->state, en, &e->view);
	return &e->view;
}

static void evaluate(lw_engine *e, lw_specimen *s, const lw_msg *cause,
		     int updates)
{
	lw_rules_evaluate(s, e->codes, &e->cfg.rules, lw_clock_now(e->clock),
			  &e->inc);
	for (size_t i = 0; i < e->inc.n; i++) {
		const lw_incident *inc = &e->inc.v[i];
		lw_emitted *prev;
		lw_alert a;
		char id[33];
		uint64_t key;
		/* Decide on the ID alone; build the alert only to send it. */
		lw_incident_alert_id(s, inc, e->codes, id, &key);
		prev = lw_specimen_find_emitted(s, key);
		if (prev && inc->recipients <= prev->recipients &&
		    inc->severity >= prev->severity)
			continue;
		if (prev && !updates) {
			defer_update(e, s, cause);
			continue;
		}
		lw_alert_build(&e->ab, s, inc, &e->inc, e->codes, lw_now_ms(),
			       &a);
		/* Revisions only grow, even if a late result moved some
		 * messages out of the incident in between. */
		if (prev && a.revision <= prev->revision)
			a.revision = prev->revision + 1;
		if (inc->due ? delivered_before(e, a.fired_at)
			     : all_replayed(e, s)) {
			if (inc->due)
				e->st.alerts_suppressed_watermark++;
			else
				e->st.alerts_suppressed_replay++;
		} else {
			e->st.alerts[inc->rule]++;
			e->st.alerts_total++;
			e->cb.alert(e->cb.opaque, &a, cause);
		}
		/* After sending: the alert is a view into the record, which
		 * this may move. */
		lw_specimen_set_emitted(s, a.key, inc->recipients, a.revision,
					(uint8_t)inc->severity);
		if (inc->due)
			s->timer_alerted = 1;
	}
	/* last: a deferred update above keeps the record loadable */
	schedule(e, s, e->inc.next_due);
}

/* Does the key carry sid? Either as raw bytes (the contract) or framed by
 * a Confluent Avro key serializer (magic 0, 4-byte schema ID, then an Avro
 * string), which other clients commonly use for keys. */
static int key_is(const lw_msg *m, lw_str sid)
{
	const unsigned char *k = m->key;
	uint64_t len = 0;
	size_t i = 5;
	int shift = 0;
	if (m->key_len == sid.len && memcmp(k, sid.p, sid.len) == 0)
		return 1;
	if (m->key_len < 6 || k[0] != 0)
		return 0;
	for (; i < m->key_len && shift < 35; i++, shift += 7) {
		len |= (uint64_t)(k[i] & 0x7f) << shift;
		if (!(k[i] & 0x80))
			break;
	}
	if (i >= m->key_len)
		return 0;
	i++;
	len = (len >> 1) ^ (~(len & 1) + 1); /* zigzag */
	return len == sid.len && m->key_len - i == sid.len &&
	       memcmp(k + i, sid.p, sid.len) == 0;
}

static int key_check(lw_engine *e, const lw_msg *m, lw_str sid)
{
	if (!m->key)
		return 0;
	if (!key_is(m, sid)) {
		e->st.key_mismatch++;
		lw_log_limited(&e->rl_key, LW_LOG_WARN,
			       "key mismatch at %s/%d@%lld: message key is not "
			       "the value's specimen_id %.*s; processed under "
			       "the value's (co-partitioning is broken for "
			       "this producer)",
			       m->topic_name, (int)m->partition,
			       (long long)m->offset, (int)sid.len, sid.p);
	}
	return 1;
}

static void note_time(lw_engine *e, int64_t t)
{
	if (t > e->st.stream_time_ms)
		e->st.stream_time_ms = t;
}

static int replay_mode(const lw_engine *e)
{
	return e->cfg.clock.idle_timeout_ms <= 0;
}

static void late_event(lw_engine *e, const lw_msg *m, const lw_specimen *s,
		       int64_t t)
{
	int64_t now = lw_clock_now(e->clock);
	int reason = 0;
	if (e->cfg.state.ttl_ms > 0 && t < now - e->cfg.state.ttl_ms)
		reason = 2;
	else if (s && s->timer_alerted)
		reason = 1;
	e->st.late[m->topic][reason]++;
	e->st.late_total++;
	lw_log_limited(&e->rl_late, LW_LOG_INFO,
		       "late event at %s/%d@%lld: event time %lld is %lld ms "
		       "behind stream time (%s); applied",
		       m->topic_name, (int)m->partition, (long long)m->offset,
		       (long long)t, (long long)(now - t),
		       lw_engine_late_reason(reason));
}

/* Sends a FANIN or VOLUME_SURGE alert built by its module. */
static void send_global(lw_engine *e, lw_alert *a, const lw_msg *cause)
{
	if (cause ? e->cb.replayed &&
			e->cb.replayed(e->cb.opaque, cause->topic,
				       cause->partition, cause->offset)
		  : delivered_before(e, a->fired_at)) {
		if (cause)
			e->st.alerts_suppressed_replay++;
		else
			e->st.alerts_suppressed_watermark++;
		return;
	}
	a->detected_at = lw_now_ms();
	e->st.alerts[a->rule]++;
	e->st.alerts_total++;
	e->cb.alert(e->cb.opaque, a, cause);
}

static void fanin_add(lw_engine *e, const lw_specimen *s, uint64_t patient,
		      uint32_t i, const lw_msg *cause)
{
	const lw_notif_rec *n = &s->notifs[i];
	lw_fanin_pair p = {n->recipient,
			   patient,
			   n->sent_at,
			   lw_specimen_id_stored(s),
			   lw_specimen_str_stored(s, n->notification_id),
			   n->partition,
			   n->offset};
	lw_alert a;
	if (lw_fanin_add(e->fanin, &p, &a))
		send_global(e, &a, cause);
}

static void on_surge(void *opaque, const lw_alert *a)
{
	lw_engine *e = opaque;
	lw_alert copy = *a;
	send_global(e, &copy, NULL);
}

static void on_due(void *opaque, lw_state_entry *en)
{
	lw_engine *e = opaque;
	int64_t now = lw_clock_now(e->clock);
	lw_specimen *s;
	e->st.timers_run++;
	if (lw_state_due_is_expiry(en)) {
		lw_state_expire(e->state, en);
		return;
	}
	s = load(e, en);
	evaluate(e, s, NULL, 0);
	if (e->inc.next_due == INT64_MAX && e->cfg.state.ttl_ms > 0 &&
	    s->last_event_ms + e->cfg.state.ttl_ms <= now) {
		/* An update deferred to the next flush goes out now, as the
		 * flush would send it (the same incidents: no event can
		 * join an expiring record). Keeping the record until the
		 * flush instead made replay, which flushes once at its
		 * end, re-evaluate every such record on every later event:
		 * quadratic, minutes on a million specimens. */
		if (s->update_pending) {
			struct pending *p = pending_find(e, lw_specimen_id(s));
			s->update_pending = 0;
			evaluate(e, s, p && p->has_cause ? &p->cause : NULL, 1);
		}
		lw_state_expire(e->state, en);
	} else {
		lw_state_store(e->state, en, s);
	}
	e->cur = NULL;
}

static void run_timers(lw_engine *e, size_t budget)
{
	int64_t now = lw_clock_now(e->clock);
	lw_state_advance(e->state, now, budget, on_due, e);
	lw_surge_advance(e->surge, now, on_surge, e);
	if (lw_state_caught_up(e->state))
		e->settled_wm = now;
}

void lw_engine_process(lw_engine *e, const lw_msg *m)
{
	char detail[256];
	int32_t sid_schema = -1;
	lw_decode_status ds;
	lw_state_entry *en;
	lw_specimen *s;
	lw_str sid;
	int created, added, late, had_patient;
	uint64_t recipient = 0;
	int64_t t;
	union {
		lw_result_event r;
		lw_notification_event n;
	} ev;

	e->st.consumed[m->topic]++;
	if (m->value && m->value_len > e->cfg.max_message_bytes) {
		snprintf(detail, sizeof detail, "value is %zu bytes, limit %zu",
			 m->value_len, e->cfg.max_message_bytes);
		deadletter(e, m, LW_DLQ_OVERSIZED, detail, -1, 0);
		return;
	}
	if (m->topic == LW_TOPIC_RESULTS)
		ds = lw_codec_decode_result(e->codec, m->value, m->value_len,
					    &ev.r, &sid_schema, detail,
					    sizeof detail);
	else
		ds = lw_codec_decode_notification(
		    e->codec, m->value, m->value_len, &ev.n, &sid_schema,
		    detail, sizeof detail);
	if (ds != LW_DECODE_OK) {
		deadletter(e, m, ds, detail, sid_schema, 0);
		return;
	}
	sid =
	    m->topic == LW_TOPIC_RESULTS ? ev.r.specimen_id : ev.n.specimen_id;
	t = m->topic == LW_TOPIC_RESULTS ? ev.r.recorded_at : ev.n.sent_at;
	if (!key_check(e, m, sid)) {
		snprintf(detail, sizeof detail,
			 "message has no key; processed under specimen_id %.*s",
			 (int)sid.len, sid.p);
		deadletter(e, m, LW_DLQ_MISSING_KEY, detail, sid_schema, 1);
	}
	late = lw_clock_observe(e->clock, m->topic, m->partition, t,
				replay_mode(e) ? 0 : e->cfg.wall_ms());
	note_time(e, t);
	/* Replay: whatever came due before this event happens before it.
	 * (Decoded views stay valid: timers do not decode.) */
	if (replay_mode(e))
		run_timers(e, SIZE_MAX);
	/* Fan-in's bucket for this recipient: read after the state work. */
	if (m->topic == LW_TOPIC_NOTIFICATIONS) {
		recipient = lw_specimen_key_hash(ev.n.recipient_key.p,
						 ev.n.recipient_key.len);
		lw_fanin_prefetch(e->fanin, recipient, 0);
	}
	en = lw_state_upsert(e->state, sid.p, sid.len, &created);
	if (created) { /* nothing to unpack but the ID */
		e->cur = en;
		s = &e->view;
		lw_specimen_reset(s, sid.p, sid.len);
	} else {
		s = load(e, en);
	}
	had_patient = s->pk_ref != 0;
	if (m->topic == LW_TOPIC_RESULTS) {
		uint16_t code = lw_codes_intern(e->codes, ev.r.result_code.p,
						ev.r.result_code.len);
		added = lw_specimen_add_result(s, &ev.r, code, m->partition,
					       m->offset);
	} else {
		uint16_t code = lw_codes_intern(e->codes, ev.n.result_code.p,
						ev.n.result_code.len);
		added = lw_specimen_add_notification_hashed(
		    s, &ev.n, recipient, code, m->partition, m->offset);
		/* the rules run before fan-in reads this entry */
		if (added > 0 && s->pk_ref)
			lw_fanin_prefetch(e->fanin, recipient, 1);
		if (added > 0)
			lw_surge_add(e->surge, ev.n.sent_at, ev.n.batch_id.p,
				     ev.n.batch_id.len);
	}
	if (added == 0) {
		e->st.duplicates++;
	} else if (added < 0) {
		e->st.dropped_events++;
		lw_log_limited(&e->rl_drop, LW_LOG_WARN,
			       "specimen %s: more events than the per-specimen "
			       "cap; event at %s/%d@%lld not kept",
			       lw_specimen_id(s), m->topic_name,
			       (int)m->partition, (long long)m->offset);
	} else {
		e->st.applied[m->topic]++;
		if (late)
			late_event(e, m, created ? NULL : s, t);
		evaluate(e, s, m, 0);
		if (s->pk_ref && m->topic == LW_TOPIC_NOTIFICATIONS) {
			fanin_add(e, s, lw_specimen_patient_hash(s),
				  s->nnotifs - 1, m);
		} else if (s->pk_ref && !had_patient) {
			uint64_t patient = lw_specimen_patient_hash(s);
			for (uint32_t i = 0; i < s->nnotifs; i++)
				fanin_add(e, s, patient, i, m);
		}
		/* Each applied event adds at most a few fan-in entries; the
		 * expiry sweep visits a few more, so the table cannot outgrow
		 * its window however fast the input comes. */
		lw_fanin_expire(e->fanin, lw_clock_now(e->clock),
				FANIN_SWEEP_PER_EVENT);
	}
	if (created && added <= 0)
		schedule(e, s, INT64_MAX);
	if (added != 0)
		lw_state_store(e->state, en, s);
	e->cur = NULL;
	/* Live: the stream time moves per batch (lw_engine_tick); what the
	 * tick's budget left due is worked off a little per message, so a
	 * burst of expiries keeps pace with the input. */
	if (!replay_mode(e) && !lw_state_caught_up(e->state)) {
		lw_state_advance(e->state, lw_clock_now(e->clock),
				 e->cfg.timer_budget, on_due, e);
		if (lw_state_caught_up(e->state))
			e->settled_wm = lw_clock_now(e->clock);
	}
	lw_state_evict(e->state, e->cfg.evict_budget);
}

/* Three stages, one per hint call, so each load has a message's worth of
 * time to arrive before the next stage reads it: the bucket of this key,
 * the chain head of the previous key, the record of the one before. The
 * key is the specimen ID by contract; a framed or wrong key only wastes
 * the prefetch. */
void lw_engine_hint(lw_engine *e, const lw_msg *ahead)
{
	uint64_t h = 0;
	if (ahead->key && ahead->key_len && ahead->key_len <= HINT_MAX_KEY) {
		h = lw_state_hash((const char *)ahead->key, ahead->key_len);
		lw_state_prefetch(e->state, h, 0);
		__builtin_prefetch(ahead->value);
	}
	if (e->hinted[1])
		lw_state_prefetch(e->state, e->hinted[1], 2);
	if (e->hinted[0])
		lw_state_prefetch(e->state, e->hinted[0], 1);
	e->hinted[1] = e->hinted[0];
	e->hinted[0] = h;
}

void lw_engine_flush(lw_engine *e)
{
	for (size_t i = 0; i < e->npending; i++) {
		struct pending *p = &e->pending[i];
		lw_state_entry *en =
		    lw_state_find(e->state, p->id, strlen(p->id));
		lw_specimen *s = en ? load(e, en) : NULL;
		if (s && s->update_pending) {
			s->update_pending = 0;
			evaluate(e, s, p->has_cause ? &p->cause : NULL, 1);
			lw_state_store(e->state, en, s);
		}
		e->cur = NULL;
		e->pindex[p->slot] = 0;
		free(p->id);
	}
	e->npending = 0;
}

void lw_engine_tick(lw_engine *e, size_t budget)
{
	if (!replay_mode(e))
		lw_clock_advance(e->clock, e->cfg.wall_ms());
	run_timers(e, budget);
	/* Growth the timers found goes out now, before a commit can call
	 * their due time delivered (replay flushes once, at its end). */
	if (!replay_mode(e))
		lw_engine_flush(e);
}

void lw_engine_housekeeping(lw_engine *e, size_t budget)
{
	lw_engine_tick(e, budget);
	lw_fanin_expire(e->fanin, lw_clock_now(e->clock), budget);
	lw_state_evict(e->state, budget);
}

void lw_engine_add_source(lw_engine *e, int topic, int32_t partition)
{
	lw_clock_add_source(e->clock, topic, partition, e->cfg.wall_ms());
}

void lw_engine_source_at_end(lw_engine *e, int topic, int32_t partition)
{
	lw_clock_source_at_end(e->clock, topic, partition, e->cfg.wall_ms());
}

void lw_engine_reset_sources(lw_engine *e)
{
	lw_clock_reset_sources(e->clock);
}

int64_t lw_engine_watermark(const lw_engine *e)
{
	return lw_clock_now(e->clock);
}

void lw_engine_set_delivered_watermark(lw_engine *e, int64_t wm)
{
	e->delivered_wm = wm;
}

void lw_engine_get_stats(const lw_engine *e, lw_engine_stats *out)
{
	*out = e->st;
	out->watermark_ms = lw_clock_now(e->clock);
	lw_fanin_get_stats(e->fanin, &out->fanin);
	lw_surge_get_stats(e->surge, &out->surge);
}

lw_state *lw_engine_state(lw_engine *e)
{
	return e->state;
}

const lw_codec *lw_engine_codec(const lw_engine *e)
{
	return e->codec;
}

void lw_engine_reset_state(lw_engine *e)
{
	lw_engine_flush(e);
	lw_state_clear(e->state);
	/* Time, surges and fan-in are rebuilt from the input too. */
	lw_clock_destroy(e->clock);
	lw_surge_destroy(e->surge);
	lw_fanin_destroy(e->fanin);
	e->clock = lw_clock_new(&e->cfg.clock);
	e->surge = lw_surge_new(&e->cfg.surge);
	e->fanin = lw_fanin_new(&e->cfg.fanin);
	e->settled_wm = LW_TIME_NONE;
	e->st.stream_time_ms = INT64_MIN;
}

int64_t lw_engine_settled_watermark(const lw_engine *e)
{
	return e->settled_wm;
}
