/* alert: one MismatchAlert message and its two encodings.
 *
 * An lw_alert is a view: every string points into the specimen record, the
 * codes table or the builder it was built with, so it is valid only until
 * the state is next changed or the builder next used. The Avro encoding follows
 * schemas/MismatchAlert.avsc in the Confluent wire format (magic 0, schema ID,
 * body); the JSON encoding has the same field names, with plain values (no Avro
 * union wrappers), for dashboards, logs and the demo. Alerts never carry
 * recipient addresses, masked hints or names: only the pseudonymous keys and
 * event IDs. */
#ifndef LW_ALERT_H
#define LW_ALERT_H

#include <stdint.h>

#include "buf.h"
#include "codes.h"
#include "rules.h"
#include "specimen.h"

typedef struct lw_evidence {
	int topic; /* LW_TOPIC_* */
	int32_t partition;
	int64_t offset;
	const char *event_id;
} lw_evidence;

typedef struct lw_alert {
	char alert_id[33];
	uint64_t key; /* low 64 bits of alert_id */
	uint32_t revision;
	int rule;
	int severity;
	const char *specimen_id;
	const char *patient_key;	  /* may be NULL */
	const char *recorded_code;	  /* may be NULL */
	int32_t recorded_version;	  /* LW_NO_VERSION = null */
	const char *stated_code;	  /* may be NULL */
	int32_t stated_version;		  /* LW_NO_VERSION = null */
	const char *intended_specimen_id; /* may be NULL */
	uint32_t recipient_count;
	const char *batch_id; /* may be NULL */
	int64_t event_time;
	int64_t detected_at;
	int64_t fired_at; /* event time at which the rule fired: event_time,
			     or a timer's due time if later (replay uses it
			     as detected_at); not encoded */
	const lw_evidence *evidence;
	uint32_t nevidence;
	uint32_t evidence_omitted;
	char summary[320];
} lw_alert;

/* Reusable storage for building alerts: the evidence array, and room for
 * the IDs the record keeps packed (max_evidence + 2 of them: the evidence,
 * batch_id, intended_specimen_id). */
typedef struct lw_alert_builder {
	lw_evidence *ev;
	uint32_t cap;
	uint32_t max_evidence;
	char (*ids)[LW_ID_BUF];
	uint32_t nids;
	char pk[LW_PK_BUF]; /* a patient key spelt out */
} lw_alert_builder;

void lw_alert_builder_init(lw_alert_builder *b, uint32_t max_evidence);
void lw_alert_builder_free(lw_alert_builder *b);

/* Fills *a for incident inc of specimen s (members in l). */
void lw_alert_build(lw_alert_builder *b, const lw_specimen *s,
		    const lw_incident *inc, const lw_incident_list *l,
		    const lw_codes *codes, int64_t detected_at, lw_alert *a);

/* Appends the framed Avro encoding (schema_id in the header). */
void lw_alert_encode_avro(const lw_alert *a, int32_t schema_id,
			  const char *const topic_names[2], lw_buf *out);
/* Appends one JSON object, no trailing newline. */
void lw_alert_encode_json(const lw_alert *a, const char *const topic_names[2],
			  lw_buf *out);

#endif
