/* rules: the mismatch rules, as pure functions of one specimen record.
 *
 * Each rule looks at everything known about a specimen (results, contacts,
 * notifications) and reports the incidents that currently hold, each with
 * the notifications involved (its members). The engine compares them with
 * what was already alerted and sends new incidents and grown ones. Rules do
 * no I/O and keep no state of their own, so they are tested without Kafka
 * and give the same incidents for the same record, whatever the order in
 * which its events arrived.
 *
 * Reference result of a notification N, ref(N): among FINAL and CORRECTED
 * results, the highest result_version recorded at or before N.sent_at; if
 * none was, the lowest-version one recorded within clock_skew_ms after
 * N.sent_at (the two systems' clocks differ); if none was either, N waits
 * (no content verdict): it was sent before the result was final, or the
 * result then in force has not arrived yet, and judging it against a later
 * correction would be a false alarm. A notification stating a version newer
 * than any known result also waits until that version arrives. If the
 * newest result is CANCELLED or ENTERED_IN_ERROR, content rules stay
 * silent.
 *
 *  RESULT_MISMATCH  N states a result code other than ref(N)'s. CRITICAL
 *                   when a positive was told negative, else HIGH. One
 *                   incident per (ref version, recorded code, stated code).
 *  STALE_VERSION    N states a version older than ref(N)'s. HIGH. One
 *                   incident per (ref version, stated version).
 *  WRONG_RECIPIENT  the specimen has contact keys and N went to a key not
 *                   among them. CRITICAL when such a message stated a
 *                   result code, else HIGH. One incident per specimen.
 *  FANOUT           more distinct recipients than the threshold received
 *                   the specimen's record; threshold = fanout_threshold if
 *                   set, else the number of contacts, or 2 with none. Needs
 *                   a result (for the contacts). CRITICAL. One per specimen.
 *  RECORD_MISMATCH  N's intended_specimen_id names another specimen: the
 *                   message carried this record to someone else's
 *                   recipient. CRITICAL. One incident per specimen.
 *
 * Timer rules. `now` is the stream time (clock.h): every event with an
 * event time at or before it has arrived, up to the allowed lateness. A
 * timer incident holds from its due time D on, i.e. once now >= D; the
 * rules also report the earliest future due time (next_due) so the engine
 * can wake the specimen then. Until then the incident is not decided,
 * because the event that prevents it may still be on its way.
 *
 * Per final version v (FINAL or CORRECTED records of that result_version):
 * rec(v) = the earliest recorded_at among them, code(v) = that record's
 * code, SLA(v) = the per-code override for code(v) if configured, else
 * sla_critical_ms when code(v) is positive, else sla_default_ms, and
 * due(v) = rec(v) + SLA(v). v is covered when some notification was sent
 * in [rec(v) - clock_skew_ms, due(v)] stating no version older than v
 * (a null version counts); v is superseded when a final version newer than
 * v was recorded at or before due(v). If the newest result is CANCELLED or
 * ENTERED_IN_ERROR, neither rule holds (nobody needs to be told).
 *
 *  MISSING_NOTIFICATION  some v is neither covered nor superseded, now >=
 *                   due(v), and no notification was sent before
 *                   rec(v) - clock_skew_ms with a reference result (i.e.
 *                   nobody was told an earlier final version). CRITICAL
 *                   when code(v) is positive, else HIGH. One incident per
 *                   specimen, about the lowest such v; no members.
 *  CORRECTED_AFTER_NOTIFY  as above, but such an earlier notification
 *                   exists: the result changed after people were told,
 *                   and nobody was told again within the SLA. HIGH. One
 *                   incident per (specimen, v); members = the notifications
 *                   sent before rec(v) - clock_skew_ms.
 *  ORPHAN_NOTIFICATION  N is orphaned when no result of any status was
 *                   recorded at or before N.sent_at + orphan_grace_ms; due
 *                   = N.sent_at + orphan_grace_ms. HIGH. One incident per
 *                   specimen; members = the orphaned N that are due.
 *
 * in_force(N) = the newest result (by version, then recorded_at) recorded
 * at or before N.sent_at + clock_skew_ms; due = N.sent_at + clock_skew_ms.
 *
 *  SENT_BEFORE_FINAL  in_force(N) is PRELIMINARY, or has retest_pending.
 *                   HIGH. One incident per specimen; members = such N.
 *  SENT_AFTER_WITHDRAWAL  in_force(N) is CANCELLED or ENTERED_IN_ERROR: a
 *                   withdrawn result was sent. HIGH. One per specimen.
 *
 * FANIN and VOLUME_SURGE look across specimens; they live in fanin.h and
 * surge.h, and share the rule numbering and alert format. */
#ifndef LW_RULES_H
#define LW_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "codes.h"
#include "specimen.h"

typedef enum lw_rule {
	LW_RULE_RESULT_MISMATCH,
	LW_RULE_STALE_VERSION,
	LW_RULE_WRONG_RECIPIENT,
	LW_RULE_FANOUT,
	LW_RULE_RECORD_MISMATCH,
	LW_RULE_MISSING_NOTIFICATION,
	LW_RULE_CORRECTED_AFTER_NOTIFY,
	LW_RULE_ORPHAN_NOTIFICATION,
	LW_RULE_SENT_BEFORE_FINAL,
	LW_RULE_SENT_AFTER_WITHDRAWAL,
	LW_RULE_FANIN,
	LW_RULE_VOLUME_SURGE,
	LW_RULE_COUNT,
} lw_rule;

/* Order matches the Severity enum of schemas/MismatchAlert.avsc; a lower
 * value is more severe. */
typedef enum lw_severity {
	LW_SEV_CRITICAL,
	LW_SEV_HIGH,
	LW_SEV_WARNING,
	LW_SEV_INFO,
} lw_severity;

const char *lw_rule_name(int rule);
const char *lw_severity_name(int severity);

/* A per-code SLA override (code = lw_codes ID). */
typedef struct lw_sla_override {
	uint16_t code;
	int64_t ms;
} lw_sla_override;

#define LW_RULES_MAX_SLA_OVERRIDES 32

typedef struct lw_rules_config {
	uint32_t fanout_threshold; /* 0 = contacts, or 2 with none */
	int64_t clock_skew_ms;	   /* see ref(N) above */
	int64_t sla_critical_ms;   /* positives */
	int64_t sla_default_ms;
	int64_t orphan_grace_ms;
	lw_sla_override sla[LW_RULES_MAX_SLA_OVERRIDES];
	uint32_t nsla;
} lw_rules_config;

typedef struct lw_incident {
	int rule;
	int severity;
	int32_t ref;		/* index into results, or -1 */
	uint16_t stated_code;	/* LW_CODE_NULL if not part of the facts */
	int32_t stated_version; /* LW_NO_VERSION if not part of the facts */
	uint32_t first_member;	/* into lw_incident_list.members */
	uint32_t nmembers;	/* notifications involved */
	uint32_t recipients;	/* distinct recipient keys among them */
	int64_t event_time;	/* newest event time involved */
	int64_t due; /* timer rules: when it reached its current form (the
			latest member's due time); else 0 */
	uint8_t ref_status; /* status of results[ref] when ref >= 0 */
} lw_incident;

/* Output buffer, reused across calls: incidents and one shared array of
 * member notification indices. Owned by the caller. */
typedef struct lw_incident_list {
	lw_incident *v;
	size_t n, cap;
	uint32_t *members;
	size_t nmembers, mcap;
	uint64_t *scratch; /* for distinct counts */
	size_t scap;
	int32_t *refs; /* ref(N) per notification, -1 none, -2 waiting */
	size_t rcap;
	int64_t next_due; /* earliest due time > now, INT64_MAX if none */
} lw_incident_list;

void lw_incident_list_init(lw_incident_list *l);
void lw_incident_list_free(lw_incident_list *l);

/* Replaces l's content with every incident that holds for s at stream
 * time now (INT64_MIN: no time yet, no timer is due), and sets
 * l->next_due. */
void lw_rules_evaluate(const lw_specimen *s, const lw_codes *codes,
		       const lw_rules_config *cfg, int64_t now,
		       lw_incident_list *l);

/* ref(N) for notification index i: a results index, -1 if the specimen
 * has no final result, -2 if the notification waits (see above). */
int32_t lw_rules_reference(const lw_specimen *s, uint32_t i,
			   const lw_rules_config *cfg);

/* The incident's alert ID: 32 hex chars from (rule, specimen ID, facts),
 * the facts using code text, not IDs, so the ID is the same in every run
 * and every process. *key gets its low 64 bits. */
void lw_incident_alert_id(const lw_specimen *s, const lw_incident *inc,
			  const lw_codes *codes, char out[33], uint64_t *key);

#endif
