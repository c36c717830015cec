/* fanin: FANIN, one recipient receiving the records of many patients.
 *
 * A pair (recipient, patient) is known when a notification has been
 * applied and its specimen's patient_key is known (a result arrived); the
 * engine reports each pair once per notification, whichever came second.
 * Per recipient (the 64-bit hash of recipient_key) the module keeps, for
 * each distinct patient, the newest notification that reached it. With t
 * the newest sent_at among them, the recipient fans in when more than
 * `threshold` distinct patients were reached by notifications sent in
 * (t - window_ms, t]. That is checked as each pair arrives.
 *
 * One incident per recipient episode: it starts at the first fan-in and
 * lasts while the recipient keeps notifications in the window; an episode
 * that ended (all its notifications older than the window at stream time)
 * is forgotten, and a later fan-in is a new incident. alert_id =
 * hash(FANIN, recipient hash, the earliest sent_at in the window when the
 * episode started). CRITICAL. The alert's specimen_id is the specimen of
 * that earliest notification, recipient_count is 1 (the one recipient), the
 * summary gives the number of distinct patients, evidence lists the
 * notifications (newest per patient, in sent_at order, capped), and
 * revision = distinct patients, sent again when it grows. patient_key is
 * null (many patients). Recipient keys are never stored, only hashes.
 *
 * It groups by recipient, not by the partition key, so an instance counts
 * only the notifications of the partitions it owns (README).
 *
 * Memory: an entry per recipient with a notification in the window, and a
 * copy of the notification and specimen IDs (stored form: a UUID in 17
 * bytes) per (recipient, patient); at
 * most max_patients patients per recipient are kept: more are ignored (the
 * recipient has long since alerted; its revision stops growing there). Entries
 * are dropped by lw_fanin_expire(), bounded per call. Not thread-safe. */
#ifndef LW_FANIN_H
#define LW_FANIN_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"

typedef struct lw_fanin_config {
	int64_t window_ms;  /* 24 h */
	uint32_t threshold; /* 5: alert when more distinct patients; 0 = off */
	uint32_t max_patients; /* per recipient, 1024 */
	uint32_t max_evidence;
} lw_fanin_config;

void lw_fanin_config_defaults(lw_fanin_config *c);

typedef struct lw_fanin_stats {
	uint64_t recipients; /* entries held */
	uint64_t pairs;	     /* (recipient, patient) held */
	uint64_t bytes;
	uint64_t expired;
	uint64_t incidents;
} lw_fanin_stats;

typedef struct lw_fanin lw_fanin;

lw_fanin *lw_fanin_new(const lw_fanin_config *cfg);
void lw_fanin_destroy(lw_fanin *f);

typedef struct lw_fanin_pair {
	uint64_t recipient; /* hash of recipient_key */
	uint64_t patient;   /* lw_specimen_patient_hash: patient identity */
	int64_t sent_at;
	/* the IDs in their stored form (specimen.h: lw_stored_pack(), or
	 * copied out of a record), copied by lw_fanin_add() */
	const unsigned char *specimen_id;
	const unsigned char *notification_id;
	int32_t partition;
	int64_t offset;
} lw_fanin_pair;

/* Adds a pair. If the recipient's incident is new or grew, fills *a (valid
 * until the next call) and returns 1 (2 if it grew, 1 if new); else 0. */
int lw_fanin_add(lw_fanin *f, const lw_fanin_pair *p, lw_alert *a);
/* Cache hint for a coming lw_fanin_add() of this recipient key hash: stage
 * 0 loads the bucket, stage 1 (some work later) the chain's first entry.
 * Reads the table as it is, changes nothing. */
void lw_fanin_prefetch(const lw_fanin *f, uint64_t recipient, int stage);

/* Drops notifications older than now - window_ms and recipients left with
 * none, visiting at most budget entries. Returns the number visited. */
size_t lw_fanin_expire(lw_fanin *f, int64_t now, size_t budget);

void lw_fanin_get_stats(const lw_fanin *f, lw_fanin_stats *out);

#endif
