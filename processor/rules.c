/* rules: the rule functions described in rules.h.
 *
 * Design: lw_rules_evaluate() computes ref(N) for every notification once,
 * then runs each rule over the record. A rule that groups notifications by
 * facts (RESULT_MISMATCH, STALE_VERSION) first finds the distinct fact
 * tuples, then collects members per tuple, so members of one incident are
 * contiguous in the output. Cost is O(notifications x incidents) plus a hash
 * set per incident for distinct recipients; records are small (specimen.h caps
 * them). Nothing here allocates except growing the caller's reused list. */
#include "rules.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "xmalloc.h"

#define REF_NONE (-1)
#define REF_WAIT (-2)

static const char *const rule_names[] = {"RESULT_MISMATCH",
					 "STALE_VERSION",
					 "WRONG_RECIPIENT",
					 "FANOUT",
					 "RECORD_MISMATCH",
					 "MISSING_NOTIFICATION",
					 "CORRECTED_AFTER_NOTIFY",
					 "ORPHAN_NOTIFICATION",
					 "SENT_BEFORE_FINAL",
					 "SENT_AFTER_WITHDRAWAL",
					 "FANIN",
					 "VOLUME_SURGE"};
static const char *const severity_names[] = {"CRITICAL", "HIGH", "WARNING",
					     "INFO"};

const char *lw_rule_name(int rule)
{
	return (unsigned)rule < LW_RULE_COUNT ? rule_names[rule] : "UNKNOWN";
}

const char *lw_severity_name(int severity)
{
	return (unsigned)severity < 4 ? severity_names[severity] : "INFO";
}

void lw_incident_list_init(lw_incident_list *l)
{
	memset(l, 0, sizeof *l);
}

void lw_incident_list_free(lw_incident_list *l)
{
	free(l->v);
	free(l->members);
	free(l->scratch);
	free(l->refs);
	memset(l, 0, sizeof *l);
}

static int is_final(const lw_result_rec *r)
{
	return r->status == LW_STATUS_FINAL || r->status == LW_STATUS_CORRECTED;
}

/* Is a newer than b (version, then recorded_at, then event ID, which,
 * unlike the offset, does not depend on how the topic is partitioned)? */
static int newer(const lw_specimen *s, const lw_result_rec *a,
		 const lw_result_rec *b)
{
	int c;
	if (a->version != b->version)
		return a->version > b->version;
	if (a->recorded_at != b->recorded_at)
		return a->recorded_at > b->recorded_at;
	c = lw_specimen_str_cmp(s, a->event_id, b->event_id);
	return c ? c > 0 : a->offset > b->offset;
}

int32_t lw_rules_reference(const lw_specimen *s, uint32_t i,
			   const lw_rules_config *cfg)
{
	const lw_notif_rec *n = &s->notifs[i];
	int32_t best = REF_NONE, skewed = REF_NONE, maxv = INT32_MIN;
	int any_final = 0;
	for (uint32_t r = 0; r < s->nresults; r++) {
		const lw_result_rec *rr = &s->results[r];
		if (rr->version > maxv)
			maxv = rr->version;
		if (!is_final(rr))
			continue;
		any_final = 1;
		if (rr->recorded_at <= n->sent_at &&
		    (best < 0 || newer(s, rr, &s->results[best])))
			best = (int32_t)r;
		else if (rr->recorded_at <= n->sent_at + cfg->clock_skew_ms &&
			 (skewed < 0 || newer(s, &s->results[skewed], rr)))
			skewed = (int32_t)r;
	}
	if (n->stated_version != LW_NO_VERSION &&
	    (s->nresults == 0 || n->stated_version > maxv))
		return REF_WAIT;
	if (best >= 0)
		return best;
	if (!any_final)
		return REF_NONE;
	/* Nothing final was recorded by the time of sending (allowing for
	 * clock skew between the two systems): either it was sent before the
	 * result was final, or the result that was in force is still on its
	 * way on a lagging partition. Judging it against a later correction
	 * would raise false alarms, so it waits. */
	return skewed >= 0 ? skewed : REF_WAIT;
}

/* Content rules stay silent once the newest result withdraws the record. */
static int withdrawn(const lw_specimen *s)
{
	const lw_result_rec *latest = NULL;
	for (uint32_t r = 0; r < s->nresults; r++)
		if (!latest || newer(s, &s->results[r], latest))
			latest = &s->results[r];
	return latest && (latest->status == LW_STATUS_CANCELLED ||
			  latest->status == LW_STATUS_ENTERED_IN_ERROR);
}

static lw_incident *new_incident(lw_incident_list *l, int rule, int severity)
{
	lw_incident *inc;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = lw_xrealloc(l->v, l->cap * sizeof *l->v);
	}
	inc = &l->v[l->n++];
	memset(inc, 0, sizeof *inc);
	inc->rule = rule;
	inc->severity = severity;
	inc->ref = REF_NONE;
	inc->stated_code = LW_CODE_NULL;
	inc->stated_version = LW_NO_VERSION;
	inc->first_member = (uint32_t)l->nmembers;
	return inc;
}

static void add_member(lw_incident_list *l, lw_incident *inc,
		       const lw_specimen *s, uint32_t i)
{
	if (l->nmembers == l->mcap) {
		l->mcap = l->mcap ? l->mcap * 2 : 64;
		l->members =
		    lw_xrealloc(l->members, l->mcap * sizeof *l->members);
	}
	l->members[l->nmembers++] = i;
	inc->nmembers++;
	if (s->notifs[i].sent_at > inc->event_time)
		inc->event_time = s->notifs[i].sent_at;
}

/* Distinct recipients among the incident's members; also folds the ref
 * result into event_time. Incidents are usually a handful of messages, so
 * small sets are counted by comparison, large ones with a hash set. */
static void finish(lw_incident_list *l, lw_incident *inc, const lw_specimen *s)
{
	uint32_t d = 0, n = inc->nmembers;
	const uint32_t *m = &l->members[inc->first_member];
	if (n <= 16) {
		for (uint32_t k = 0; k < n; k++) {
			uint64_t r = s->notifs[m[k]].recipient;
			uint32_t j = 0;
			while (j < k && s->notifs[m[j]].recipient != r)
				j++;
			d += j == k;
		}
	} else {
		/* An open-addressing set of the (already hashed) keys, in
		 * the reused scratch: O(n) per call, no sort. */
		size_t cap = 64;
		int zero = 0;
		while (cap < 2 * (size_t)n)
			cap *= 2;
		if (cap > l->scap) {
			l->scap = cap;
			l->scratch = lw_xrealloc(l->scratch,
						 l->scap * sizeof *l->scratch);
		}
		memset(l->scratch, 0, cap * sizeof *l->scratch);
		for (uint32_t k = 0; k < n; k++) {
			uint64_t r = s->notifs[m[k]].recipient;
			size_t h = (size_t)r & (cap - 1);
			if (!r) { /* 0 marks a free slot: counted apart */
				d += !zero;
				zero = 1;
				continue;
			}
			while (l->scratch[h] && l->scratch[h] != r)
				h = (h + 1) & (cap - 1);
			if (!l->scratch[h]) {
				l->scratch[h] = r;
				d++;
			}
		}
	}
	inc->recipients = d;
	if (inc->ref >= 0)
		inc->ref_status = s->results[inc->ref].status;
	if (inc->ref >= 0 && s->results[inc->ref].recorded_at > inc->event_time)
		inc->event_time = s->results[inc->ref].recorded_at;
}

/* Members of one incident may refer to different deliveries of the same
 * version (e.g. re-sent with another event ID); the incident's reference is
 * the newest of them, so it does not depend on arrival order. */
static void pick_ref(const lw_specimen *s, lw_incident *inc, int32_t ref)
{
	if (inc->ref < 0 || newer(s, &s->results[ref], &s->results[inc->ref]))
		inc->ref = ref;
}

/* Notifications with a content verdict: a usable ref and not waiting. */
static int judged(const lw_incident_list *l, uint32_t i)
{
	return l->refs[i] >= 0;
}

static void rule_result_mismatch(const lw_specimen *s, const lw_codes *codes,
				 lw_incident_list *l)
{
	size_t first = l->n;
	for (uint32_t i = 0; i < s->nnotifs; i++) {
		const lw_notif_rec *n = &s->notifs[i];
		const lw_result_rec *ref;
		int found = 0;
		if (!judged(l, i) || n->stated_code == LW_CODE_NULL ||
		    n->stated_code == LW_CODE_OVERFLOW)
			continue;
		ref = &s->results[l->refs[i]];
		if (ref->code == n->stated_code ||
		    ref->code == LW_CODE_OVERFLOW)
			continue;
		for (size_t k = first; k < l->n && !found; k++) {
			const lw_incident *inc = &l->v[k];
			found = s->results[inc->ref].version == ref->version &&
				s->results[inc->ref].code == ref->code &&
				inc->stated_code == n->stated_code;
		}
		if (!found) {
			lw_incident *inc = new_incident(
			    l, LW_RULE_RESULT_MISMATCH,
			    lw_codes_polarity(codes, ref->code) > 0 &&
				    lw_codes_polarity(codes, n->stated_code) < 0
				? LW_SEV_CRITICAL
				: LW_SEV_HIGH);
			inc->ref = l->refs[i];
			inc->stated_code = n->stated_code;
		}
	}
	for (size_t k = first; k < l->n; k++) {
		lw_incident *inc = &l->v[k];
		const lw_result_rec *ref = &s->results[inc->ref];
		inc->first_member = (uint32_t)l->nmembers;
		for (uint32_t i = 0; i < s->nnotifs; i++)
			if (judged(l, i) &&
			    s->notifs[i].stated_code == inc->stated_code &&
			    s->results[l->refs[i]].version == ref->version &&
			    s->results[l->refs[i]].code == ref->code) {
				add_member(l, inc, s, i);
				pick_ref(s, inc, l->refs[i]);
			}
		finish(l, inc, s);
	}
}

static void rule_stale_version(const lw_specimen *s, lw_incident_list *l)
{
	size_t first = l->n;
	for (uint32_t i = 0; i < s->nnotifs; i++) {
		const lw_notif_rec *n = &s->notifs[i];
		int found = 0;
		int32_t refv;
		if (!judged(l, i) || n->stated_version == LW_NO_VERSION)
			continue;
		refv = s->results[l->refs[i]].version;
		if (n->stated_version >= refv)
			continue;
		for (size_t k = first; k < l->n && !found; k++)
			found = s->results[l->v[k].ref].version == refv &&
				l->v[k].stated_version == n->stated_version;
		if (!found) {
			lw_incident *inc =
			    new_incident(l, LW_RULE_STALE_VERSION, LW_SEV_HIGH);
			inc->ref = l->refs[i];
			inc->stated_version = n->stated_version;
		}
	}
	for (size_t k = first; k < l->n; k++) {
		lw_incident *inc = &l->v[k];
		int32_t refv = s->results[inc->ref].version;
		inc->first_member = (uint32_t)l->nmembers;
		for (uint32_t i = 0; i < s->nnotifs; i++)
			if (judged(l, i) &&
			    s->notifs[i].stated_version ==
				inc->stated_version &&
			    s->results[l->refs[i]].version == refv)
				add_member(l, inc, s, i);
		finish(l, inc, s);
	}
}

/* The newest result, for incidents that are not about one version. */
static int32_t latest_result(const lw_specimen *s)
{
	int32_t best = REF_NONE;
	for (uint32_t r = 0; r < s->nresults; r++)
		if (best < 0 || newer(s, &s->results[r], &s->results[best]))
			best = (int32_t)r;
	return best;
}

static void rule_wrong_recipient(const lw_specimen *s, lw_incident_list *l)
{
	lw_incident *inc = NULL;
	if (s->ncontacts == 0)
		return;
	for (uint32_t i = 0; i < s->nnotifs; i++) {
		const lw_notif_rec *n = &s->notifs[i];
		if (lw_specimen_has_contact(s, n->recipient))
			continue;
		if (!inc) {
			inc = new_incident(l, LW_RULE_WRONG_RECIPIENT,
					   LW_SEV_HIGH);
			inc->ref = latest_result(s);
		}
		if (n->stated_code != LW_CODE_NULL)
			inc->severity = LW_SEV_CRITICAL;
		add_member(l, inc, s, i);
	}
	if (inc)
		finish(l, inc, s);
}

static void rule_fanout(const lw_specimen *s, const lw_rules_config *cfg,
			lw_incident_list *l)
{
	uint32_t threshold;
	lw_incident *inc;
	if (s->nresults == 0 || s->nnotifs == 0)
		return;
	threshold = cfg->fanout_threshold ? cfg->fanout_threshold
		    : s->ncontacts	  ? s->ncontacts
					  : 2;
	if (s->nnotifs <= threshold)
		return; /* cannot have more distinct recipients */
	inc = new_incident(l, LW_RULE_FANOUT, LW_SEV_CRITICAL);
	inc->ref = latest_result(s);
	for (uint32_t i = 0; i < s->nnotifs; i++)
		add_member(l, inc, s, i);
	finish(l, inc, s);
	if (inc->recipients <= threshold) {
		l->nmembers -= inc->nmembers;
		l->n--;
	}
}

static void rule_record_mismatch(const lw_specimen *s, lw_incident_list *l)
{
	lw_incident *inc = NULL;
	for (uint32_t i = 0; i < s->nnotifs; i++) {
		if (!s->notifs[i].intended)
			continue;
		if (!inc) {
			inc = new_incident(l, LW_RULE_RECORD_MISMATCH,
					   LW_SEV_CRITICAL);
			inc->ref = latest_result(s);
		}
		add_member(l, inc, s, i);
	}
	if (inc)
		finish(l, inc, s);
}

/* ---- timer rules (rules.h: "Timer rules") ---- */

static void due_later(lw_incident_list *l, int64_t due)
{
	if (due < l->next_due)
		l->next_due = due;
}

static int is_due(int64_t now, int64_t due)
{
	return now != INT64_MIN && now >= due;
}

static int64_t sla_of(const lw_rules_config *cfg, const lw_codes *codes,
		      uint16_t code)
{
	for (uint32_t i = 0; i < cfg->nsla; i++)
		if (cfg->sla[i].code == code)
			return cfg->sla[i].ms;
	return lw_codes_polarity(codes, code) > 0 ? cfg->sla_critical_ms
						  : cfg->sla_default_ms;
}

/* Is r the earliest final record of its version (ties: lowest index)? */
static int first_of_version(const lw_specimen *s, uint32_t r)
{
	const lw_result_rec *a = &s->results[r];
	for (uint32_t k = 0; k < s->nresults; k++) {
		const lw_result_rec *b = &s->results[k];
		if (k == r || !is_final(b) || b->version != a->version)
			continue;
		if (b->recorded_at < a->recorded_at ||
		    (b->recorded_at == a->recorded_at && newer(s, a, b)))
			return 0;
	}
	return 1;
}

/* Was N sent when some final result was already recorded (allowing for
 * skew), i.e. did it tell somebody a final result? */
static int told_final(const lw_specimen *s, const lw_notif_rec *n, int64_t skew)
{
	for (uint32_t r = 0; r < s->nresults; r++)
		if (is_final(&s->results[r]) &&
		    s->results[r].recorded_at <= n->sent_at + skew)
			return 1;
	return 0;
}

/* Did notification i tell somebody an earlier final version, before the
 * version recorded at rec? (CORRECTED_AFTER_NOTIFY's "prior" message.) */
static int told_before(const lw_specimen *s, uint32_t i, int64_t rec,
		       int64_t skew)
{
	return s->notifs[i].sent_at < rec - skew &&
	       told_final(s, &s->notifs[i], skew);
}

static void rule_notify_sla(const lw_specimen *s, const lw_codes *codes,
			    const lw_rules_config *cfg, int64_t now,
			    lw_incident_list *l)
{
	int32_t missing = -1;
	int64_t missing_due = 0;
	int64_t skew = cfg->clock_skew_ms;
	for (uint32_t r = 0; r < s->nresults; r++) {
		const lw_result_rec *v = &s->results[r];
		int64_t rec, due;
		int covered = 0, superseded = 0, prior = 0;
		if (!is_final(v) || !first_of_version(s, r))
			continue;
		rec = v->recorded_at;
		due = rec + sla_of(cfg, codes, v->code);
		for (uint32_t k = 0; k < s->nresults && !superseded; k++)
			superseded = is_final(&s->results[k]) &&
				     s->results[k].version > v->version &&
				     s->results[k].recorded_at <= due;
		if (superseded)
			continue;
		for (uint32_t i = 0; i < s->nnotifs && !covered; i++) {
			const lw_notif_rec *n = &s->notifs[i];
			covered = n->sent_at >= rec - skew &&
				  n->sent_at <= due &&
				  (n->stated_version == LW_NO_VERSION ||
				   n->stated_version >= v->version);
		}
		if (covered)
			continue;
		if (!is_due(now, due)) {
			due_later(l, due);
			continue;
		}
		for (uint32_t i = 0; i < s->nnotifs && !prior; i++)
			prior = told_before(s, i, rec, skew);
		if (prior) {
			lw_incident *inc = new_incident(
			    l, LW_RULE_CORRECTED_AFTER_NOTIFY, LW_SEV_HIGH);
			inc->ref = (int32_t)r;
			inc->due = due;
			for (uint32_t i = 0; i < s->nnotifs; i++)
				if (told_before(s, i, rec, skew))
					add_member(l, inc, s, i);
			finish(l, inc, s);
		} else if (missing < 0 ||
			   v->version < s->results[missing].version) {
			missing = (int32_t)r;
			missing_due = due;
		}
	}
	if (missing >= 0) {
		lw_incident *inc = new_incident(
		    l, LW_RULE_MISSING_NOTIFICATION,
		    lw_codes_polarity(codes, s->results[missing].code) > 0
			? LW_SEV_CRITICAL
			: LW_SEV_HIGH);
		inc->ref = missing;
		inc->due = missing_due;
		finish(l, inc, s);
	}
}

static void rule_orphan(const lw_specimen *s, const lw_rules_config *cfg,
			int64_t now, lw_incident_list *l)
{
	lw_incident *inc = NULL;
	for (uint32_t i = 0; i < s->nnotifs; i++) {
		const lw_notif_rec *n = &s->notifs[i];
		int64_t due = n->sent_at + cfg->orphan_grace_ms;
		int found = 0;
		for (uint32_t r = 0; r < s->nresults && !found; r++)
			found = s->results[r].recorded_at <= due;
		if (found)
			continue;
		if (!is_due(now, due)) {
			due_later(l, due);
			continue;
		}
		if (!inc)
			inc = new_incident(l, LW_RULE_ORPHAN_NOTIFICATION,
					   LW_SEV_HIGH);
		/* when the incident reached its current form */
		if (due > inc->due)
			inc->due = due;
		add_member(l, inc, s, i);
	}
	if (inc)
		finish(l, inc, s);
}

/* The newest result recorded at or before t, or -1. */
static int32_t in_force(const lw_specimen *s, int64_t t)
{
	int32_t best = -1;
	for (uint32_t r = 0; r < s->nresults; r++)
		if (s->results[r].recorded_at <= t &&
		    (best < 0 || newer(s, &s->results[r], &s->results[best])))
			best = (int32_t)r;
	return best;
}

static void rule_sent_status(const lw_specimen *s, const lw_rules_config *cfg,
			     int64_t now, lw_incident_list *l)
{
	/* Members of two incidents interleave; collect each in its own pass
	 * so that members stay contiguous. */
	for (int pass = 0; pass < 2; pass++) {
		lw_incident *inc = NULL;
		for (uint32_t i = 0; i < s->nnotifs; i++) {
			const lw_notif_rec *n = &s->notifs[i];
			int64_t due = n->sent_at + cfg->clock_skew_ms;
			int32_t f = in_force(s, due);
			const lw_result_rec *r;
			int hit;
			if (f < 0)
				continue;
			r = &s->results[f];
			hit = pass == 0
				  ? r->status == LW_STATUS_PRELIMINARY ||
					r->retest_pending
				  : r->status == LW_STATUS_CANCELLED ||
					r->status == LW_STATUS_ENTERED_IN_ERROR;
			if (!hit)
				continue;
			if (!is_due(now, due)) {
				due_later(l, due);
				continue;
			}
			if (!inc) {
				inc = new_incident(
				    l,
				    pass == 0 ? LW_RULE_SENT_BEFORE_FINAL
					      : LW_RULE_SENT_AFTER_WITHDRAWAL,
				    LW_SEV_HIGH);
			}
			if (due > inc->due)
				inc->due = due;
			pick_ref(s, inc, f);
			add_member(l, inc, s, i);
		}
		if (inc)
			finish(l, inc, s);
	}
}

void lw_rules_evaluate(const lw_specimen *s, const lw_codes *codes,
		       const lw_rules_config *cfg, int64_t now,
		       lw_incident_list *l)
{
	int content = !withdrawn(s);
	l->n = 0;
	l->nmembers = 0;
	l->next_due = INT64_MAX;
	if (s->nnotifs > l->rcap) {
		l->rcap = s->nnotifs + 16;
		l->refs = lw_xrealloc(l->refs, l->rcap * sizeof *l->refs);
	}
	for (uint32_t i = 0; i < s->nnotifs; i++)
		l->refs[i] = content ? lw_rules_reference(s, i, cfg) : REF_NONE;
	rule_result_mismatch(s, codes, l);
	rule_stale_version(s, l);
	rule_wrong_recipient(s, l);
	rule_fanout(s, cfg, l);
	rule_record_mismatch(s, l);
	if (content)
		rule_notify_sla(s, codes, cfg, now, l);
	rule_orphan(s, cfg, now, l);
	rule_sent_status(s, cfg, now, l);
}

void lw_incident_alert_id(const lw_specimen *s, const lw_incident *inc,
			  const lw_codes *codes, char out[33], uint64_t *key)
{
	lw_hasher h;
	lw_hasher_init(&h, 0x6c6162776174ULL);
	lw_hasher_add_str(&h, lw_rule_name(inc->rule));
	lw_hasher_add_str(&h, lw_specimen_id(s));
	switch (inc->rule) {
	case LW_RULE_RESULT_MISMATCH:
		lw_hasher_add_i64(&h, s->results[inc->ref].version);
		lw_hasher_add_str(
		    &h, lw_codes_name(codes, s->results[inc->ref].code));
		lw_hasher_add_str(&h, lw_codes_name(codes, inc->stated_code));
		break;
	case LW_RULE_STALE_VERSION:
		lw_hasher_add_i64(&h, s->results[inc->ref].version);
		lw_hasher_add_i64(&h, inc->stated_version);
		break;
	case LW_RULE_CORRECTED_AFTER_NOTIFY:
		lw_hasher_add_i64(&h, s->results[inc->ref].version);
		break;
	default:
		break; /* one incident per specimen */
	}
	lw_hasher_hex128(&h, out);
	*key = lw_hex_low64(out);
}
