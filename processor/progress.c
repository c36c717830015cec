/* progress: per-partition bookkeeping for commits and restore.
 *
 * Design: partitions live in a small array per topic indexed by partition
 * number and are never freed before the progress object, so a hold (a node
 * in the partition's FIFO of events with deliveries outstanding) can always
 * find its partition. Events are processed in offset order per partition,
 * so holds are nearly always appended at the tail; the FIFO is kept sorted
 * by offset and its head is the oldest undelivered event; releases in any order
 * only decrement, and the head pops when it reaches zero. All operations are
 * O(1) amortized except the commit listing, O(partitions). Holds of revoked
 * partitions move to a stale list and are freed when their last delivery report
 * arrives, so a late report never touches freed memory. */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "xmalloc.h"

struct lw_hold {
	struct lw_hold *next;
	struct part *part;
	int64_t offset;
	uint32_t count;
	uint32_t epoch;
};

typedef struct part {
	int assigned;
	uint32_t epoch; /* bumped on revoke: older holds are stale */
	int64_t next;	/* next offset to read */
	int64_t replay_until;
	int64_t need;
	int64_t sweep_min, sweep_p0;
	int64_t last_offset, last_need; /* last committed */
	lw_hold *head, *tail;
} part;

struct lw_progress {
	lw_hold *stale; /* holds of revoked partitions, until released */
	part **parts[LW_TOPIC_COUNT];
	int32_t nparts[LW_TOPIC_COUNT];
	uint64_t held;
	int sweeping;
};

static part *get(const lw_progress *pg, int topic, int32_t p)
{
	if (topic < 0 || topic >= LW_TOPIC_COUNT || p < 0 ||
	    p >= pg->nparts[topic])
		return NULL;
	return pg->parts[topic][p];
}

static part *get_or_create(lw_progress *pg, int topic, int32_t p)
{
	if (p >= pg->nparts[topic]) {
		int32_t n = p + 1;
		pg->parts[topic] =
		    lw_xrealloc(pg->parts[topic], (size_t)n * sizeof(part *));
		for (int32_t i = pg->nparts[topic]; i < n; i++)
			pg->parts[topic][i] = NULL;
		pg->nparts[topic] = n;
	}
	if (!pg->parts[topic][p])
		pg->parts[topic][p] = lw_xcalloc(1, sizeof(part));
	return pg->parts[topic][p];
}

lw_progress *lw_progress_new(void)
{
	return lw_xcalloc(1, sizeof(lw_progress));
}

static void drop_holds(part *pt)
{
	while (pt->head) {
		lw_hold *h = pt->head;
		pt->head = h->next;
		free(h);
	}
	pt->tail = NULL;
}

/* Moves a partition's holds to the stale list (their epoch is now old). */
static void retire_holds(lw_progress *pg, part *pt)
{
	while (pt->head) {
		lw_hold *h = pt->head;
		pt->head = h->next;
		if (h->count == 0) {
			free(h); /* delivered, only waiting to be popped */
			continue;
		}
		h->next = pg->stale;
		pg->stale = h;
	}
	pt->tail = NULL;
}

void lw_progress_destroy(lw_progress *pg)
{
	if (!pg)
		return;
	while (pg->stale) {
		lw_hold *h = pg->stale;
		pg->stale = h->next;
		free(h);
	}
	for (int t = 0; t < LW_TOPIC_COUNT; t++) {
		for (int32_t i = 0; i < pg->nparts[t]; i++)
			if (pg->parts[t][i]) {
				drop_holds(pg->parts[t][i]);
				free(pg->parts[t][i]);
			}
		free(pg->parts[t]);
	}
	free(pg);
}

void lw_progress_assign(lw_progress *pg, int topic, int32_t partition,
			int64_t start, int64_t replay_until)
{
	part *pt = get_or_create(pg, topic, partition);
	uint32_t epoch = pt->epoch;
	retire_holds(pg, pt);
	memset(pt, 0, sizeof *pt);
	pt->epoch = epoch + 1;
	pt->assigned = 1;
	pt->next = start;
	pt->replay_until = replay_until;
	pt->need = start;
	pt->last_offset = pt->last_need = LW_OFFSET_UNKNOWN;
	pg->sweeping = 0;
}

void lw_progress_revoke_all(lw_progress *pg)
{
	for (int t = 0; t < LW_TOPIC_COUNT; t++)
		for (int32_t i = 0; i < pg->nparts[t]; i++) {
			part *pt = pg->parts[t][i];
			if (!pt)
				continue;
			pt->assigned = 0;
			pt->epoch++;
			retire_holds(pg, pt);
		}
	pg->sweeping = 0;
}

void lw_progress_processed(lw_progress *pg, int topic, int32_t partition,
			   int64_t offset)
{
	part *pt = get(pg, topic, partition);
	if (pt && pt->assigned && offset + 1 > pt->next)
		pt->next = offset + 1;
}

int lw_progress_replayed(const lw_progress *pg, int topic, int32_t partition,
			 int64_t offset)
{
	const part *pt = get(pg, topic, partition);
	return pt && pt->assigned && pt->replay_until != LW_OFFSET_UNKNOWN &&
	       offset < pt->replay_until;
}

int lw_progress_restoring(const lw_progress *pg)
{
	int n = 0;
	for (int t = 0; t < LW_TOPIC_COUNT; t++)
		for (int32_t i = 0; i < pg->nparts[t]; i++) {
			const part *pt = pg->parts[t][i];
			if (pt && pt->assigned &&
			    pt->replay_until != LW_OFFSET_UNKNOWN &&
			    pt->next != LW_OFFSET_UNKNOWN &&
			    pt->next < pt->replay_until)
				n++;
		}
	return n;
}

lw_hold *lw_progress_hold(lw_progress *pg, int topic, int32_t partition,
			  int64_t offset)
{
	part *pt = get(pg, topic, partition);
	lw_hold **pp, *h;
	if (!pt || !pt->assigned)
		return NULL;
	pg->held++;
	/* Usually the event is the newest held (events are processed in
	 * offset order); a coalesced update can hold an earlier one, so keep
	 * the FIFO sorted and the head the oldest. */
	if (pt->tail && pt->tail->offset <= offset)
		pp = pt->tail->offset == offset ? NULL : &pt->tail->next;
	else
		for (pp = &pt->head; *pp && (*pp)->offset < offset;
		     pp = &(*pp)->next)
			;
	if (!pp || (*pp && (*pp)->offset == offset)) {
		h = pp ? *pp : pt->tail;
		h->count++;
		return h;
	}
	h = lw_xcalloc(1, sizeof *h);
	h->part = pt;
	h->offset = offset;
	h->count = 1;
	h->epoch = pt->epoch;
	h->next = *pp;
	*pp = h;
	if (!h->next)
		pt->tail = h;
	return h;
}

void lw_progress_release(lw_progress *pg, lw_hold *h)
{
	part *pt;
	if (!h)
		return;
	pt = h->part;
	pg->held--;
	if (h->epoch != pt->epoch) {
		/* Revoked since: the hold sits on the stale list. */
		if (--h->count == 0) {
			lw_hold **pp = &pg->stale;
			while (*pp && *pp != h)
				pp = &(*pp)->next;
			if (*pp)
				*pp = h->next;
			free(h);
		}
		return;
	}
	if (h->count)
		h->count--;
	while (pt->head && pt->head->count == 0) {
		lw_hold *x = pt->head;
		pt->head = x->next;
		if (!pt->head)
			pt->tail = NULL;
		free(x);
	}
}

uint64_t lw_progress_held(const lw_progress *pg)
{
	return pg->held;
}

void lw_progress_sweep_begin(lw_progress *pg)
{
	for (int t = 0; t < LW_TOPIC_COUNT; t++)
		for (int32_t i = 0; i < pg->nparts[t]; i++) {
			part *pt = pg->parts[t][i];
			if (!pt)
				continue;
			pt->sweep_min = INT64_MAX;
			pt->sweep_p0 = pt->next == LW_OFFSET_UNKNOWN ? INT64_MAX
								     : pt->next;
		}
	pg->sweeping = 1;
}

void lw_progress_sweep_visit(lw_progress *pg, int topic, int32_t partition,
			     int64_t offset)
{
	part *pt = get(pg, topic, partition);
	if (pt && offset < pt->sweep_min)
		pt->sweep_min = offset;
}

void lw_progress_sweep_end(lw_progress *pg, int complete)
{
	if (!pg->sweeping)
		return;
	pg->sweeping = 0;
	if (!complete)
		return;
	for (int t = 0; t < LW_TOPIC_COUNT; t++)
		for (int32_t i = 0; i < pg->nparts[t]; i++) {
			part *pt = pg->parts[t][i];
			int64_t m;
			if (!pt || !pt->assigned)
				continue;
			m = pt->sweep_min < pt->sweep_p0 ? pt->sweep_min
							 : pt->sweep_p0;
			if (m != INT64_MAX)
				pt->need = m;
		}
}

static int64_t commit_offset(const part *pt)
{
	int64_t o = pt->next;
	if (pt->head)
		return pt->head->offset;
	if (pt->replay_until != LW_OFFSET_UNKNOWN &&
	    (o == LW_OFFSET_UNKNOWN || o < pt->replay_until))
		o = pt->replay_until;
	return o;
}

size_t lw_progress_commit_points(lw_progress *pg, lw_commit_point *out,
				 size_t max, int only_changed)
{
	size_t n = 0;
	for (int t = 0; t < LW_TOPIC_COUNT; t++)
		for (int32_t i = 0; i < pg->nparts[t] && n < max; i++) {
			part *pt = pg->parts[t][i];
			int64_t off, need;
			if (!pt || !pt->assigned)
				continue;
			off = commit_offset(pt);
			if (off == LW_OFFSET_UNKNOWN)
				continue;
			need = pt->need == LW_OFFSET_UNKNOWN || pt->need > off
				   ? off
				   : pt->need;
			if (only_changed && off == pt->last_offset &&
			    need == pt->last_need)
				continue;
			out[n].topic = t;
			out[n].partition = i;
			out[n].offset = off;
			out[n].need = need;
			n++;
		}
	return n;
}

void lw_progress_committed(lw_progress *pg, const lw_commit_point *pts,
			   size_t n)
{
	for (size_t k = 0; k < n; k++) {
		part *pt = get(pg, pts[k].topic, pts[k].partition);
		if (!pt)
			continue;
		pt->last_offset = pts[k].offset;
		pt->last_need = pts[k].need;
	}
}

size_t lw_progress_assigned(const lw_progress *pg)
{
	size_t n = 0;
	for (int t = 0; t < LW_TOPIC_COUNT; t++)
		for (int32_t i = 0; i < pg->nparts[t]; i++)
			n += pg->parts[t][i] && pg->parts[t][i]->assigned;
	return n;
}

int lw_progress_format_metadata(int64_t need, int64_t wm, char *buf,
				size_t size)
{
	if (wm == INT64_MIN)
		return snprintf(buf, size, "labwatch:v1;need=%lld",
				(long long)need);
	return snprintf(buf, size, "labwatch:v1;need=%lld;wm=%lld",
			(long long)need, (long long)wm);
}

int lw_progress_parse_metadata(const void *md, size_t len, int64_t *need,
			       int64_t *wm)
{
	char tmp[128];
	long long v, w;
	char tail;
	int n;
	if (!md || len == 0 || len >= sizeof tmp)
		return -1;
	memcpy(tmp, md, len);
	tmp[len] = '\0';
	*wm = INT64_MIN;
	n = sscanf(tmp, "labwatch:v1;need=%lld;wm=%lld%c", &v, &w, &tail);
	if (n == 2) {
		*wm = w;
	} else if (sscanf(tmp, "labwatch:v1;need=%lld%c", &v, &tail) != 1) {
		return -1;
	}
	if (v < 0)
		return -1;
	*need = v;
	return 0;
}

int64_t lw_progress_next_sweep(int64_t started_ms, int64_t ended_ms,
			       int64_t cost_ms, int64_t interval_ms, int duty)
{
	int64_t by_interval = started_ms + interval_ms;
	int64_t by_duty = ended_ms + cost_ms * (duty > 1 ? duty - 1 : 0);
	return by_duty > by_interval ? by_duty : by_interval;
}
