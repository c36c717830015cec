/* test_codes: the result-code intern table (codes.h).
 *
 * Normalization (trim, upper-case, runs of white space and '_' as one
 * space), the positive/negative spellings, NULL, the 63-byte limit and the
 * LW_CODES_MAX bound (both map to LW_CODE_OVERFLOW and are counted), and
 * that IDs and names stay stable while the table grows. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "codes.h"

static lw_codes *codes;

static void setup(void)
{
	codes = lw_codes_new();
}

static void teardown(void)
{
	lw_codes_destroy(codes);
	codes = NULL;
}

TestSuite(codes, .init = setup, .fini = teardown);

static uint16_t in(const char *s)
{
	return lw_codes_intern(codes, s, strlen(s));
}

Test(codes, null_is_the_null_code)
{
	cr_assert_eq(lw_codes_intern(codes, NULL, 0), LW_CODE_NULL);
	cr_assert_eq(lw_codes_intern(codes, NULL, 5), LW_CODE_NULL);
	cr_assert_str_eq(lw_codes_name(codes, LW_CODE_NULL), "");
	cr_assert_eq(lw_codes_polarity(codes, LW_CODE_NULL), 0);
	cr_assert_eq(lw_codes_count(codes), 0);
	cr_assert_neq(in("NEG"), LW_CODE_NULL);
}

Test(codes, normalization)
{
	uint16_t neg = in("NEG");
	cr_assert_neq(neg, LW_CODE_NULL);
	cr_assert_neq(neg, LW_CODE_OVERFLOW);
	cr_assert_eq(in(" neg "), neg);
	cr_assert_eq(in("Neg"), neg);
	cr_assert_eq(in("\tneg\r\n"), neg);
	cr_assert_str_eq(lw_codes_name(codes, neg), "NEG");

	uint16_t nd = in("NOT DETECTED");
	cr_assert_eq(in("not_detected"), nd);
	cr_assert_eq(in("Not Detected"), nd);
	cr_assert_eq(in("  not \t  detected  "), nd);
	cr_assert_eq(in("not__detected"), nd);
	cr_assert_eq(in("not _ detected"), nd);
	cr_assert_eq(in("_not_detected_"), nd);
	cr_assert_str_eq(lw_codes_name(codes, nd), "NOT DETECTED");

	/* only the length given counts */
	cr_assert_eq(lw_codes_intern(codes, "NEGATIVE", 3), neg);

	/* different codes stay different */
	cr_assert_neq(in("NOTDETECTED"), nd);
	cr_assert_neq(in("NEG."), neg);
	cr_assert_neq(in("POS"), neg);
	cr_assert_eq(lw_codes_count(codes), 5);
}

Test(codes, polarity)
{
	static const char *const pos[] = {"POS", "positive", " Detected ",
					  "reactive"};
	static const char *const neg[] = {
	    "neg",	    "Negative",	    "not detected",
	    "NOT_DETECTED", "nonreactive",  "non-reactive",
	    "non reactive", "Non_Reactive", "undetected"};
	static const char *const neither[] = {"IND",  "A1",   "EQUIVOCAL",
					      "POSS", "NEGA", "DETECTED?"};
	for (size_t i = 0; i < sizeof pos / sizeof *pos; i++)
		cr_assert_eq(lw_codes_polarity(codes, in(pos[i])), 1, "%s",
			     pos[i]);
	for (size_t i = 0; i < sizeof neg / sizeof *neg; i++)
		cr_assert_eq(lw_codes_polarity(codes, in(neg[i])), -1, "%s",
			     neg[i]);
	for (size_t i = 0; i < sizeof neither / sizeof *neither; i++)
		cr_assert_eq(lw_codes_polarity(codes, in(neither[i])), 0, "%s",
			     neither[i]);
	cr_assert_eq(lw_codes_polarity(codes, LW_CODE_OVERFLOW), 0);
	cr_assert_eq(lw_codes_polarity(codes, 60000), 0); /* never issued */
}

Test(codes, too_long_overflows)
{
	char s[128];
	memset(s, 'A', 63);
	s[63] = '\0';
	uint16_t ok = in(s);
	cr_assert_neq(ok, LW_CODE_OVERFLOW, "63 bytes is a code");
	cr_assert_str_eq(lw_codes_name(codes, ok), s);
	cr_assert_eq(lw_codes_overflows(codes), 0);

	memset(s, 'A', 64);
	s[64] = '\0';
	cr_assert_eq(in(s), LW_CODE_OVERFLOW);
	cr_assert_eq(lw_codes_overflows(codes), 1);
	cr_assert_eq(in(s), LW_CODE_OVERFLOW);
	cr_assert_eq(lw_codes_overflows(codes), 2);
	cr_assert_eq(lw_codes_count(codes), 1);
	cr_assert_neq(lw_codes_name(codes, LW_CODE_OVERFLOW)[0], '\0');

	/* the limit is on the normalized form */
	snprintf(s, sizeof s, "%40s%63s%20s", "", "", "");
	memset(s + 40, 'a', 63);
	cr_assert_neq(in(s), LW_CODE_OVERFLOW, "padding is trimmed");
	cr_assert_eq(in(s), ok, "same code upper-cased");
	snprintf(s, sizeof s, "A%100sB", "");
	cr_assert_neq(in(s), LW_CODE_OVERFLOW, "inner runs collapse");
	cr_assert_str_eq(lw_codes_name(codes, in(s)), "A B");
}

Test(codes, ids_stable_while_the_table_grows)
{
	uint16_t ids[3000];
	char s[32];
	for (int i = 0; i < 3000; i++) {
		snprintf(s, sizeof s, "code-%d", i);
		ids[i] = in(s);
		cr_assert_neq(ids[i], LW_CODE_NULL);
		cr_assert_neq(ids[i], LW_CODE_OVERFLOW);
		for (int j = (i > 50 ? i - 50 : 0); j < i; j++)
			cr_assert_neq(ids[j], ids[i]);
	}
	cr_assert_eq(lw_codes_count(codes), 3000);
	for (int i = 0; i < 3000; i++) {
		snprintf(s, sizeof s, " Code-%d ", i);
		cr_assert_eq(in(s), ids[i], "%s", s);
		snprintf(s, sizeof s, "CODE-%d", i);
		cr_assert_str_eq(lw_codes_name(codes, ids[i]), s);
	}
	cr_assert_eq(lw_codes_count(codes), 3000);
}

/* "past LW_CODES_MAX distinct codes every new one maps to
 * LW_CODE_OVERFLOW": LW_CODES_MAX codes fit, the next does not, and the
 * known ones still resolve. */
Test(codes, bounded_at_codes_max)
{
	char s[32];
	uint16_t first = 0, last = 0;
	for (int i = 0; i < LW_CODES_MAX; i++) {
		uint16_t id;
		snprintf(s, sizeof s, "C%d", i);
		id = in(s);
		cr_assert_neq(id, LW_CODE_OVERFLOW, "code %d of %d", i + 1,
			      LW_CODES_MAX);
		if (i == 0)
			first = id;
		last = id;
	}
	cr_assert_eq(lw_codes_count(codes), LW_CODES_MAX);
	cr_assert_eq(lw_codes_overflows(codes), 0);
	cr_assert_eq(in("one more"), LW_CODE_OVERFLOW);
	cr_assert_eq(in("and another"), LW_CODE_OVERFLOW);
	cr_assert_eq(lw_codes_overflows(codes), 2);
	cr_assert_eq(in("c0"), first);
	snprintf(s, sizeof s, "C%d", LW_CODES_MAX - 1);
	cr_assert_eq(in(s), last);
	cr_assert_eq(lw_codes_overflows(codes), 2);
}

Test(codes, two_tables_agree_on_names_not_ids)
{
	lw_codes *other = lw_codes_new();
	uint16_t a = in("pos"), b = in("neg");
	uint16_t b2 = lw_codes_intern(other, "NEG", 3);
	uint16_t a2 = lw_codes_intern(other, "POS", 3);
	cr_assert_str_eq(lw_codes_name(codes, a), lw_codes_name(other, a2));
	cr_assert_str_eq(lw_codes_name(codes, b), lw_codes_name(other, b2));
	cr_assert_neq(a, b);
	lw_codes_destroy(other);
}

/* A result_code is an Avro string and may contain U+0000. Whatever the
 * table does with it, it must not make a code that differs from "POS"
 * look like "POS" (an alert "recorded POS, stated POS"), nor disturb the
 * ID of "POS" itself. */
Test(codes, embedded_nul_is_not_another_spelling)
{
	uint16_t odd = lw_codes_intern(codes, "POS\0X", 5);
	uint16_t pos = in("POS");
	cr_assert_neq(odd, pos);
	cr_assert_str_eq(lw_codes_name(codes, pos), "POS");
	cr_assert_str_neq(lw_codes_name(codes, odd), "POS",
			  "two different codes both named POS");
	cr_assert_eq(in("POS"), pos);
	cr_assert_eq(lw_codes_intern(codes, "POS\0X", 5), odd);
}

/* The spelling cache in front of the table: 600 raw spellings (case,
 * padding, '_' for ' ', lengths around the cache's 29-byte limit) of 60
 * codes, looked up in rounds in a scrambled order, so that spellings
 * share cache slots and evict each other. Every answer must be the ID of
 * the spelling's normalized name; a cache that trusted a slot without
 * comparing the bytes would hand out a neighbour's ID. */
Test(codes, cached_spellings_never_answer_for_another)
{
	char raw[600][48], want[600][48];
	uint16_t id[600];
	for (int i = 0; i < 600; i++) {
		int code = i % 60, v = i / 60;
		char base[40];
		/* 10 to 34 bytes before padding */
		snprintf(base, sizeof base, "res %d %.*s", code, code % 25,
			 "xxxxxxxxxxxxxxxxxxxxxxxxx");
		snprintf(want[i], sizeof want[i], "RES %d %.*s", code,
			 code % 25, "XXXXXXXXXXXXXXXXXXXXXXXXX");
		if (code % 25 == 0)
			want[i][strlen(want[i]) - 1] =
			    '\0'; /* no trailing ' ' */
		snprintf(raw[i], sizeof raw[i], "%*s%s%*s", v % 3, "", base,
			 v / 3 % 2, "");
		for (char *p = raw[i]; *p; p++) {
			if (v & 1 && *p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
			if (v >= 6 && *p == ' ' && p != raw[i] &&
			    p[-1] != ' ' && p[1] && p[1] != ' ')
				*p = '_';
		}
	}
	for (int round = 0; round < 4; round++)
		for (int k = 0; k < 600; k++) {
			int i = (k * 7 + round * 131) % 600;
			uint16_t got = in(raw[i]);
			cr_assert_str_eq(lw_codes_name(codes, got), want[i],
					 "\"%s\" in round %d", raw[i], round);
			if (round == 0 && i < 60)
				id[i] = got;
			if (round > 0)
				cr_assert_eq(got, id[i % 60], "\"%s\"", raw[i]);
		}
	cr_assert_eq(lw_codes_count(codes), 60);
}
