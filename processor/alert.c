/* alert: building an alert from an incident, and writing it as Avro or JSON.
 *
 * Design: the builder copies nothing but evidence coordinates; strings stay
 * views into the specimen record, except IDs the record keeps packed
 * (UUIDs), which are unpacked into the builder's fixed room. Evidence lists the
 * reference result first, then the member notifications in arrival order,
 * capped at max_evidence (the rest are counted in evidence_omitted, so the
 * record stays under any broker's message size even for a mailing to
 * thousands). The Avro writer is hand-written against our own schema (field
 * order below must match schemas/MismatchAlert.avsc; tests decode it with Avro
 * C to prove it). */
#include "alert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

void lw_alert_builder_init(lw_alert_builder *b, uint32_t max_evidence)
{
	memset(b, 0, sizeof *b);
	b->max_evidence = max_evidence ? max_evidence : 1;
	b->ids = lw_xmalloc(((size_t)b->max_evidence + 2) * sizeof *b->ids);
}

void lw_alert_builder_free(lw_alert_builder *b)
{
	free(b->ev);
	free(b->ids);
	memset(b, 0, sizeof *b);
}

/* A string of the record, unpacked into the builder if it was packed. */
static const char *str_of(lw_alert_builder *b, const lw_specimen *s,
			  lw_str_ref ref)
{
	const char *p = lw_specimen_str(s, ref, b->ids[b->nids]);
	if (p == b->ids[b->nids])
		b->nids++;
	return p;
}

static void push_ev(lw_alert_builder *b, lw_alert *a, int topic, int32_t p,
		    int64_t off, const lw_specimen *s, lw_str_ref id)
{
	if (a->nevidence >= b->max_evidence) {
		a->evidence_omitted++;
		return;
	}
	if (a->nevidence == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->ev = lw_xrealloc(b->ev, b->cap * sizeof *b->ev);
		a->evidence = b->ev;
	}
	b->ev[a->nevidence].topic = topic;
	b->ev[a->nevidence].partition = p;
	b->ev[a->nevidence].offset = off;
	b->ev[a->nevidence].event_id = str_of(b, s, id);
	a->nevidence++;
}

static void summarize(lw_alert *a, const lw_incident *inc)
{
	char rec[96] = "", stated[96] = "";
	if (a->recorded_code)
		snprintf(rec, sizeof rec, "%s (v%d)", a->recorded_code,
			 (int)a->recorded_version);
	if (a->stated_code)
		snprintf(stated, sizeof stated, "%s", a->stated_code);
	switch (inc->rule) {
	case LW_RULE_RESULT_MISMATCH:
		snprintf(a->summary, sizeof a->summary,
			 "specimen %s: recorded %s but %u message(s) to %u "
			 "recipient(s) stated %s",
			 a->specimen_id, rec, inc->nmembers, inc->recipients,
			 stated);
		break;
	case LW_RULE_STALE_VERSION:
		snprintf(a->summary, sizeof a->summary,
			 "specimen %s: %u message(s) stated version %d while "
			 "version %d was recorded",
			 a->specimen_id, inc->nmembers, (int)a->stated_version,
			 (int)a->recorded_version);
		break;
	case LW_RULE_WRONG_RECIPIENT:
		snprintf(a->summary, sizeof a->summary,
			 "specimen %s: %u message(s) went to %u recipient(s) "
			 "not among the patient's contacts%s",
			 a->specimen_id, inc->nmembers, inc->recipients,
			 a->severity == LW_SEV_CRITICAL ? ", stating the result"
							: "");
		break;
	case LW_RULE_FANOUT:
		snprintf(a->summary, sizeof a->summary,
			 "specimen %s: its record went to %u distinct "
			 "recipients in %u message(s)%s%s",
			 a->specimen_id, inc->recipients, inc->nmembers,
			 a->batch_id ? ", batch " : "",
			 a->batch_id ? a->batch_id : "");
		break;
	case LW_RULE_RECORD_MISMATCH:
		snprintf(a->summary, sizeof a->summary,
			 "specimen %s: %u message(s) meant for other specimens "
			 "(e.g. %s) carried this record",
			 a->specimen_id, inc->nmembers,
			 a->intended_specimen_id ? a->intended_specimen_id
						 : "?");
		break;
	case LW_RULE_MISSING_NOTIFICATION:
		snprintf(a->summary, sizeof a->summary,
			 "specimen %s: result %s was not notified within its "
			 "SLA (due at %lld)",
			 a->specimen_id, rec, (long long)inc->due);
		break;
	case LW_RULE_CORRECTED_AFTER_NOTIFY:
		snprintf(a->summary, sizeof a->summary,
			 "specimen %s: result changed to %s after %u "
			 "message(s) to %u recipient(s); nobody was told "
			 "again within the SLA (due at %lld)",
			 a->specimen_id, rec, inc->nmembers, inc->recipients,
			 (long long)inc->due);
		break;
	case LW_RULE_ORPHAN_NOTIFICATION:
		snprintf(a->summary, sizeof a->summary,
			 "specimen %s: %u message(s) to %u recipient(s) but "
			 "no result recorded for it",
			 a->specimen_id, inc->nmembers, inc->recipients);
		break;
	case LW_RULE_SENT_BEFORE_FINAL:
		snprintf(a->summary, sizeof a->summary,
			 "specimen %s: %u message(s) sent while the result "
			 "was %s",
			 a->specimen_id, inc->nmembers,
			 inc->ref >= 0 &&
				 inc->ref_status == LW_STATUS_PRELIMINARY
			     ? "preliminary"
			     : "awaiting a retest");
		break;
	case LW_RULE_SENT_AFTER_WITHDRAWAL:
		snprintf(a->summary, sizeof a->summary,
			 "specimen %s: %u message(s) to %u recipient(s) sent "
			 "after the result was withdrawn (%s)",
			 a->specimen_id, inc->nmembers, inc->recipients,
			 lw_status_name(inc->ref_status));
		break;
	default:
		snprintf(a->summary, sizeof a->summary, "specimen %s",
			 a->specimen_id);
	}
}

void lw_alert_build(lw_alert_builder *b, const lw_specimen *s,
		    const lw_incident *inc, const lw_incident_list *l,
		    const lw_codes *codes, int64_t detected_at, lw_alert *a)
{
	memset(a, 0, sizeof *a);
	b->nids = 0;
	lw_incident_alert_id(s, inc, codes, a->alert_id, &a->key);
	a->evidence = b->ev;
	a->revision = inc->nmembers ? inc->nmembers : 1;
	a->rule = inc->rule;
	a->severity = inc->severity;
	a->specimen_id = lw_specimen_id(s);
	a->patient_key = lw_specimen_patient_key(s, b->pk);
	a->recorded_version = LW_NO_VERSION;
	a->stated_version = inc->stated_version;
	if (inc->stated_code != LW_CODE_NULL)
		a->stated_code = lw_codes_name(codes, inc->stated_code);
	a->recipient_count = inc->recipients;
	a->event_time = inc->event_time;
	a->detected_at = detected_at;
	a->fired_at = inc->due > inc->event_time ? inc->due : inc->event_time;
	if (inc->ref >= 0) {
		const lw_result_rec *r = &s->results[inc->ref];
		a->recorded_code = lw_codes_name(codes, r->code);
		a->recorded_version = r->version;
		push_ev(b, a, LW_TOPIC_RESULTS, r->partition, r->offset, s,
			r->event_id);
	}
	for (uint32_t k = 0; k < inc->nmembers; k++) {
		const lw_notif_rec *n =
		    &s->notifs[l->members[inc->first_member + k]];
		if (!a->batch_id && n->batch_id)
			a->batch_id = str_of(b, s, n->batch_id);
		if (!a->intended_specimen_id && n->intended)
			a->intended_specimen_id = str_of(b, s, n->intended);
		if (!a->stated_code && n->stated_code != LW_CODE_NULL &&
		    inc->rule != LW_RULE_STALE_VERSION)
			a->stated_code = lw_codes_name(codes, n->stated_code);
		if (a->stated_version == LW_NO_VERSION &&
		    n->stated_version != LW_NO_VERSION &&
		    inc->rule != LW_RULE_RESULT_MISMATCH)
			a->stated_version = n->stated_version;
		push_ev(b, a, LW_TOPIC_NOTIFICATIONS, n->partition, n->offset,
			s, n->notification_id);
	}
	summarize(a, inc);
}

static void opt_int(lw_buf *out, int32_t v)
{
	lw_buf_avro_long(out, v == LW_NO_VERSION ? 0 : 1);
	if (v != LW_NO_VERSION)
		lw_buf_avro_long(out, v);
}

void lw_alert_encode_avro(const lw_alert *a, int32_t schema_id,
			  const char *const topic_names[2], lw_buf *out)
{
	unsigned char hdr[5] = {0, (unsigned char)(schema_id >> 24),
				(unsigned char)(schema_id >> 16),
				(unsigned char)(schema_id >> 8),
				(unsigned char)schema_id};
	lw_buf_put(out, hdr, 5);
	lw_buf_avro_str(out, a->alert_id);
	lw_buf_avro_long(out, a->revision);
	lw_buf_avro_str(out, lw_rule_name(a->rule));
	lw_buf_avro_long(out, a->severity);
	lw_buf_avro_str(out, a->specimen_id);
	lw_buf_avro_opt_str(out, a->patient_key);
	lw_buf_avro_opt_str(out, a->recorded_code);
	opt_int(out, a->recorded_version);
	lw_buf_avro_opt_str(out, a->stated_code);
	opt_int(out, a->stated_version);
	lw_buf_avro_opt_str(out, a->intended_specimen_id);
	lw_buf_avro_long(out, a->recipient_count);
	lw_buf_avro_opt_str(out, a->batch_id);
	lw_buf_avro_long(out, a->event_time);
	lw_buf_avro_long(out, a->detected_at);
	if (a->nevidence) {
		lw_buf_avro_long(out, a->nevidence);
		for (uint32_t i = 0; i < a->nevidence; i++) {
			const lw_evidence *e = &a->evidence[i];
			lw_buf_avro_str(out, topic_names[e->topic]);
			lw_buf_avro_long(out, e->partition);
			lw_buf_avro_long(out, e->offset);
			lw_buf_avro_str(out, e->event_id);
		}
	}
	lw_buf_avro_long(out, 0);
	lw_buf_avro_long(out, a->evidence_omitted);
	lw_buf_avro_str(out, a->summary);
}

static void json_key(lw_buf *out, const char *k, int first)
{
	if (!first)
		lw_buf_putc(out, ',');
	lw_buf_json_str(out, k);
	lw_buf_putc(out, ':');
}

static void json_opt_int(lw_buf *out, const char *k, int32_t v)
{
	json_key(out, k, 0);
	if (v == LW_NO_VERSION)
		lw_buf_put(out, "null", 4);
	else
		lw_buf_printf(out, "%d", (int)v);
}

void lw_alert_encode_json(const lw_alert *a, const char *const topic_names[2],
			  lw_buf *out)
{
	lw_buf_putc(out, '{');
	json_key(out, "alert_id", 1);
	lw_buf_json_str(out, a->alert_id);
	json_key(out, "revision", 0);
	lw_buf_printf(out, "%u", a->revision);
	json_key(out, "rule", 0);
	lw_buf_json_str(out, lw_rule_name(a->rule));
	json_key(out, "severity", 0);
	lw_buf_json_str(out, lw_severity_name(a->severity));
	json_key(out, "specimen_id", 0);
	lw_buf_json_str(out, a->specimen_id);
	json_key(out, "patient_key", 0);
	lw_buf_json_str(out, a->patient_key);
	json_key(out, "recorded_result_code", 0);
	lw_buf_json_str(out, a->recorded_code);
	json_opt_int(out, "recorded_result_version", a->recorded_version);
	json_key(out, "stated_result_code", 0);
	lw_buf_json_str(out, a->stated_code);
	json_opt_int(out, "stated_result_version", a->stated_version);
	json_key(out, "intended_specimen_id", 0);
	lw_buf_json_str(out, a->intended_specimen_id);
	json_key(out, "recipient_count", 0);
	lw_buf_printf(out, "%u", a->recipient_count);
	json_key(out, "batch_id", 0);
	lw_buf_json_str(out, a->batch_id);
	json_key(out, "event_time", 0);
	lw_buf_printf(out, "%lld", (long long)a->event_time);
	json_key(out, "detected_at", 0);
	lw_buf_printf(out, "%lld", (long long)a->detected_at);
	json_key(out, "evidence", 0);
	lw_buf_putc(out, '[');
	for (uint32_t i = 0; i < a->nevidence; i++) {
		const lw_evidence *e = &a->evidence[i];
		if (i)
			lw_buf_putc(out, ',');
		lw_buf_put(out, "{\"topic\":", 9);
		lw_buf_json_str(out, topic_names[e->topic]);
		lw_buf_printf(out,
			      ",\"partition\":%d,\"offset\":%lld,\"event_id\":",
			      (int)e->partition, (long long)e->offset);
		lw_buf_json_str(out, e->event_id);
		lw_buf_putc(out, '}');
	}
	lw_buf_putc(out, ']');
	json_key(out, "evidence_omitted", 0);
	lw_buf_printf(out, "%u", a->evidence_omitted);
	json_key(out, "summary", 0);
	lw_buf_json_str(out, a->summary);
	lw_buf_putc(out, '}');
}
