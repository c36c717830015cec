/* surge: VOLUME_SURGE over a ring of event-time buckets (see surge.h).
 *
 * Design: a ring of bucket slots covers the longest look-back plus the
 * horizon ahead; a slot remembers which bucket it holds, so a stale slot is
 * recognised and reset rather than mis-counted. Window counts are summed
 * incrementally: each close moves three running sums by one bucket, and a
 * late notification in a closed bucket joins the sums it falls in. When the
 * stream time jumps past every bucket with data, closing skips straight to it.
 * Batch IDs are copied into the slot (at most LW_SURGE_BATCHES per bucket) and
 * freed when the slot is reused. */
#include "surge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "xmalloc.h"

#define UNSET INT64_MIN

typedef struct batch {
	uint64_t h;
	uint64_t n;
	char *id;
} batch;

typedef struct slot {
	int64_t bucket; /* UNSET = empty */
	uint64_t count;
	batch b[LW_SURGE_BATCHES];
	uint64_t other;
} slot;

typedef struct agg {
	uint64_t h;
	uint64_t n;
	const char *id;
} agg;

struct lw_surge {
	lw_surge_config cfg;
	slot *ring;
	int64_t nring;
	int64_t back;	    /* buckets of look-back kept */
	int64_t ahead;	    /* buckets ahead of the next close kept */
	int64_t next_close; /* bucket to close next; UNSET before any */
	int64_t lo, hi;	    /* lowest and highest bucket ever counted */
	int64_t w, sn, bn;  /* the windows in buckets */
	int64_t sums_at;    /* the sums below hold for windows ending here */
	uint64_t wsum;	    /* [sums_at - w + 1, sums_at] */
	uint64_t ssum;	    /* [sums_at - sn + 1, sums_at] */
	uint64_t bsum;	    /* [sums_at - sn - bn + 1, sums_at - sn] */
	int active;
	int64_t start;
	lw_surge_stats st;
	agg *agg;
	size_t nagg;
	size_t id_bytes; /* batch ID copies */
};

void lw_surge_config_defaults(lw_surge_config *c)
{
	c->bucket_ms = 60000;
	c->window_ms = 24LL * 3600 * 1000;
	c->cap = 3000;
	c->short_ms = 3600LL * 1000;
	c->baseline_ms = 24LL * 3600 * 1000;
	c->factor = 10;
	c->min_count = 100;
	c->horizon_ms = 24LL * 3600 * 1000;
}

static int64_t div_floor(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static int64_t nb(const lw_surge *s, int64_t ms)
{
	int64_t n = (ms + s->cfg.bucket_ms - 1) / s->cfg.bucket_ms;
	return n > 0 ? n : 1;
}

lw_surge *lw_surge_new(const lw_surge_config *cfg)
{
	lw_surge *s = lw_xcalloc(1, sizeof *s);
	int64_t w, b;
	s->cfg = *cfg;
	if (s->cfg.bucket_ms <= 0)
		s->cfg.bucket_ms = 60000;
	w = nb(s, s->cfg.window_ms);
	b = nb(s, s->cfg.short_ms) + nb(s, s->cfg.baseline_ms);
	s->back = w > b ? w : b;
	s->ahead = nb(s, s->cfg.horizon_ms) + 1;
	s->nring = s->back + s->ahead;
	s->ring = lw_xcalloc((size_t)s->nring, sizeof *s->ring);
	for (int64_t i = 0; i < s->nring; i++)
		s->ring[i].bucket = UNSET;
	s->next_close = s->lo = s->hi = UNSET;
	s->w = nb(s, s->cfg.window_ms);
	s->sn = nb(s, s->cfg.short_ms);
	s->bn = nb(s, s->cfg.baseline_ms);
	s->sums_at = UNSET;
	return s;
}

static void slot_reset(lw_surge *s, slot *sl, int64_t bucket)
{
	for (int i = 0; i < LW_SURGE_BATCHES; i++)
		if (sl->b[i].id) {
			s->id_bytes -= strlen(sl->b[i].id) + 1;
			free(sl->b[i].id);
		}
	memset(sl, 0, sizeof *sl);
	sl->bucket = bucket;
}

void lw_surge_destroy(lw_surge *s)
{
	if (!s)
		return;
	for (int64_t i = 0; i < s->nring; i++)
		slot_reset(s, &s->ring[i], UNSET);
	free(s->ring);
	free(s->agg);
	free(s);
}

static slot *slot_of(lw_surge *s, int64_t bucket)
{
	int64_t i = bucket % s->nring;
	return &s->ring[i < 0 ? i + s->nring : i];
}

void lw_surge_add(lw_surge *s, int64_t sent_at, const char *batch_id,
		  size_t len)
{
	int64_t b = div_floor(sent_at, s->cfg.bucket_ms);
	slot *sl;
	if (s->next_close != UNSET) {
		if (b < s->next_close - s->back) {
			s->st.too_old++;
			return;
		}
		if (b >= s->next_close + s->ahead) {
			s->st.too_new++;
			return;
		}
	}
	sl = slot_of(s, b);
	if (sl->bucket != b)
		slot_reset(s, sl, b);
	sl->count++;
	s->st.counted++;
	/* A late one in a closed bucket joins the running sums it is in. */
	if (s->sums_at != UNSET && b <= s->sums_at) {
		int64_t L = s->sums_at;
		if (b > L - s->w)
			s->wsum++;
		if (b > L - s->sn)
			s->ssum++;
		else if (b > L - s->sn - s->bn)
			s->bsum++;
	}
	if (s->lo == UNSET || b < s->lo)
		s->lo = b;
	if (s->hi == UNSET || b > s->hi)
		s->hi = b;
	if (batch_id) {
		uint64_t h = lw_hash64(batch_id, len, 0x62617463ULL);
		for (int i = 0; i < LW_SURGE_BATCHES; i++) {
			batch *x = &sl->b[i];
			if (x->id && x->h == h) {
				x->n++;
				return;
			}
			if (!x->id) {
				x->h = h;
				x->n = 1;
				x->id = lw_xstrndup(batch_id, len);
				s->id_bytes += len + 1;
				return;
			}
		}
	}
	sl->other++;
}

static uint64_t sum(lw_surge *s, int64_t from, int64_t to)
{
	uint64_t n = 0;
	for (int64_t b = from; b <= to; b++) {
		const slot *sl = slot_of(s, b);
		if (sl->bucket == b)
			n += sl->count;
	}
	return n;
}

/* The first bucket >= from that has data, or `limit` if none before it:
 * windows over empty stretches cannot fire, so closing skips them (a stray
 * old event must not make closing walk from its bucket minute by minute). */
static int64_t next_data(const lw_surge *s, int64_t from, int64_t limit)
{
	int64_t best = limit;
	for (int64_t i = 0; i < s->nring; i++) {
		int64_t b = s->ring[i].bucket;
		if (b != UNSET && b >= from && b < best && s->ring[i].count)
			best = b;
	}
	return best;
}

static uint64_t count_of(lw_surge *s, int64_t b)
{
	const slot *sl = slot_of(s, b);
	return sl->bucket == b ? sl->count : 0;
}

/* Moves the running window sums to windows ending at b: one step from b - 1,
 * else from scratch (after a skip or at the first close). */
static void sums_to(lw_surge *s, int64_t b)
{
	if (s->sums_at != b - 1) {
		int64_t L = b - 1;
		s->wsum = sum(s, L - s->w + 1, L);
		s->ssum = sum(s, L - s->sn + 1, L);
		s->bsum = sum(s, L - s->sn - s->bn + 1, L - s->sn);
	}
	s->wsum += count_of(s, b) - count_of(s, b - s->w);
	s->ssum += count_of(s, b) - count_of(s, b - s->sn);
	s->bsum += count_of(s, b - s->sn) - count_of(s, b - s->sn - s->bn);
	s->sums_at = b;
}

static int cmp_agg_h(const void *x, const void *y)
{
	const agg *a = x, *b = y;
	return (a->h > b->h) - (a->h < b->h);
}

static int cmp_agg_n(const void *x, const void *y)
{
	const agg *a = x, *b = y;
	if (a->n != b->n)
		return a->n < b->n ? 1 : -1;
	return strcmp(a->id, b->id);
}

/* Batches over buckets [from, to], most notifications first. */
static size_t batches(lw_surge *s, int64_t from, int64_t to)
{
	size_t n = 0, m = 0;
	size_t cap = (size_t)(to - from + 1) * LW_SURGE_BATCHES;
	s->agg = lw_xrealloc(s->agg, (cap ? cap : 1) * sizeof *s->agg);
	for (int64_t b = from; b <= to; b++) {
		const slot *sl = slot_of(s, b);
		if (sl->bucket != b)
			continue;
		for (int i = 0; i < LW_SURGE_BATCHES && sl->b[i].id; i++)
			s->agg[n++] =
			    (agg){sl->b[i].h, sl->b[i].n, sl->b[i].id};
	}
	qsort(s->agg, n, sizeof *s->agg, cmp_agg_h);
	for (size_t i = 0; i < n; i++) {
		if (m && s->agg[m - 1].h == s->agg[i].h)
			s->agg[m - 1].n += s->agg[i].n;
		else
			s->agg[m++] = s->agg[i];
	}
	qsort(s->agg, m, sizeof *s->agg, cmp_agg_n);
	return m;
}

static void fire_alert(lw_surge *s, int64_t b, int cap_hit, uint64_t count,
		       uint64_t limit, int64_t from, lw_surge_fire_fn fire,
		       void *opaque)
{
	lw_alert a;
	lw_hasher h;
	size_t nbat = batches(s, from, b), len;
	int64_t end = (b + 1) * s->cfg.bucket_ms;
	memset(&a, 0, sizeof a);
	lw_hasher_init(&h, 0x6c6162776174ULL);
	lw_hasher_add_str(&h, "VOLUME_SURGE");
	lw_hasher_add_i64(&h, s->start * s->cfg.bucket_ms);
	lw_hasher_hex128(&h, a.alert_id);
	a.key = lw_hex_low64(a.alert_id);
	a.revision = 1;
	a.rule = LW_RULE_VOLUME_SURGE;
	a.severity = LW_SEV_HIGH;
	a.specimen_id = "";
	a.recorded_version = LW_NO_VERSION;
	a.stated_version = LW_NO_VERSION;
	a.recipient_count = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
	a.batch_id = nbat ? s->agg[0].id : NULL;
	a.event_time = end - 1;
	a.fired_at = end - 1;
	a.detected_at = end - 1;
	a.evidence_omitted = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
	len = (size_t)snprintf(
	    a.summary, sizeof a.summary,
	    "%llu notifications in the %lld min before %lld, %s %llu%s",
	    (unsigned long long)count,
	    (long long)((b - from + 1) * s->cfg.bucket_ms / 60000),
	    (long long)end, cap_hit ? "over the cap of" : "over the baseline x",
	    (unsigned long long)limit, nbat ? "; batches:" : "");
	for (size_t i = 0; i < nbat && i < 5 && len < sizeof a.summary; i++)
		len += (size_t)snprintf(a.summary + len, sizeof a.summary - len,
					" %s (%llu)", s->agg[i].id,
					(unsigned long long)s->agg[i].n);
	s->st.surges++;
	fire(opaque, &a);
}

static void close_bucket(lw_surge *s, int64_t b, lw_surge_fire_fn fire,
			 void *opaque)
{
	int64_t w = s->w, sn = s->sn, bn = s->bn;
	uint64_t wc = 0, sc = 0, limit = 0;
	int cap_hit = 0, base_hit = 0;
	sums_to(s, b);
	if (s->cfg.cap) {
		wc = s->wsum;
		cap_hit = wc > s->cfg.cap;
	}
	if (!cap_hit && s->cfg.factor > 0 && s->lo <= b - sn - bn + 1) {
		double mean = (double)s->bsum * (double)sn / (double)bn;
		sc = s->ssum;
		base_hit =
		    sc >= s->cfg.min_count && (double)sc > s->cfg.factor * mean;
		limit = (uint64_t)(s->cfg.factor * mean);
	}
	if ((cap_hit || base_hit) && !s->active) {
		s->active = 1;
		s->start = b;
		if (cap_hit)
			fire_alert(s, b, 1, wc, s->cfg.cap, b - w + 1, fire,
				   opaque);
		else
			fire_alert(s, b, 0, sc, limit, b - sn + 1, fire,
				   opaque);
	} else if (!cap_hit && !base_hit) {
		s->active = 0;
	}
}

size_t lw_surge_advance(lw_surge *s, int64_t now, lw_surge_fire_fn fire,
			void *opaque)
{
	size_t closed = 0;
	int64_t target;
	if (now == UNSET)
		return 0;
	/* Buckets whose last millisecond is <= now. */
	target = div_floor(now + 1, s->cfg.bucket_ms);
	if (s->next_close == UNSET) {
		if (s->lo == UNSET)
			return 0;
		s->next_close = s->lo;
	}
	while (s->next_close < target) {
		if (s->next_close > s->hi + s->back) {
			/* no data left in any window */
			s->active = 0;
			s->next_close = target;
			break;
		}
		close_bucket(s, s->next_close, fire, opaque);
		s->next_close++;
		closed++;
		if (!s->active && s->next_close < target &&
		    (s->back == s->w ? s->wsum : s->ssum + s->bsum) == 0)
			s->next_close = next_data(s, s->next_close, target);
	}
	return closed;
}

void lw_surge_get_stats(const lw_surge *s, lw_surge_stats *out)
{
	*out = s->st;
	out->active = s->active;
}

size_t lw_surge_bytes(const lw_surge *s)
{
	return sizeof *s + (size_t)s->nring * sizeof *s->ring + s->id_bytes;
}
