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
 *                   recipient. CRITICAL. One incident per specimen. */
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

typedef struct lw_rules_config {
	uint32_t fanout_threshold; /* 0 = contacts, or 2 with none */
	int64_t clock_skew_ms;	   /* see ref(N) above */
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
} lw_incident_list;

void lw_incident_list_init(lw_incident_list *l);
void lw_incident_list_free(lw_incident_list *l);

/* Replaces l's content with every incident that holds for s. */
void lw_rules_evaluate(const lw_specimen *s, const lw_codes *codes,
		       const lw_rules_config *cfg, lw_incident_list *l);

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
