/* event: the decoded input events, as the codec hands them to the engine.
 *
 * Strings are views (pointer + length) into the message buffer that was
 * decoded, or into the codec's reused scratch: they are valid only until the
 * next decode call on the same codec, and they are not NUL-terminated. A
 * view with p == NULL is an Avro null. Nothing here is owned. */
#ifndef LW_EVENT_H
#define LW_EVENT_H

#include <stdint.h>

typedef struct lw_str {
	const char *p; /* NULL = null */
	uint32_t len;
} lw_str;

/* Order matches schemas/LabResult.avsc; UNKNOWN is a writer symbol we do not
 * know (a newer writer), which rules treat as "not a final result". */
typedef enum lw_status {
	LW_STATUS_PRELIMINARY,
	LW_STATUS_FINAL,
	LW_STATUS_CORRECTED,
	LW_STATUS_CANCELLED,
	LW_STATUS_ENTERED_IN_ERROR,
	LW_STATUS_UNKNOWN,
} lw_status;

typedef enum lw_channel {
	LW_CHANNEL_EMAIL,
	LW_CHANNEL_SMS,
	LW_CHANNEL_PORTAL,
	LW_CHANNEL_LETTER,
	LW_CHANNEL_PHONE,
	LW_CHANNEL_FAX,
	LW_CHANNEL_HANDOVER,
	LW_CHANNEL_UNKNOWN,
} lw_channel;

typedef struct lw_result_event {
	lw_str event_id;
	lw_str specimen_id;
	lw_str patient_key;
	lw_str test_code;
	lw_str result_code;
	int has_value;
	double value;
	lw_str unit;
	int status; /* lw_status */
	int32_t result_version;
	int retest_pending;
	const lw_str *contact_keys; /* n_contact_keys views */
	uint32_t n_contact_keys;
	int64_t recorded_at; /* ms since epoch */
	lw_str source_system;
} lw_result_event;

typedef struct lw_notification_event {
	lw_str notification_id;
	lw_str specimen_id;
	lw_str intended_specimen_id; /* null allowed */
	lw_str recipient_key;
	lw_str recipient_hint; /* null allowed; never logged or alerted */
	int channel;	       /* lw_channel */
	lw_str result_code;    /* null allowed */
	int has_result_version;
	int32_t result_version;
	lw_str batch_id; /* null allowed */
	int64_t sent_at; /* ms since epoch */
} lw_notification_event;

/* Where an input event came from: the evidence an alert carries. */
typedef struct lw_origin {
	int topic; /* LW_TOPIC_RESULTS or LW_TOPIC_NOTIFICATIONS */
	int32_t partition;
	int64_t offset;
} lw_origin;

enum { LW_TOPIC_RESULTS = 0, LW_TOPIC_NOTIFICATIONS = 1, LW_TOPIC_COUNT = 2 };

const char *lw_status_name(int status);
const char *lw_channel_name(int channel);

#endif
