#!/usr/bin/env bash
# replay.sh BUILD_DIR: `labwatch replay` gives the same alerts every time,
# from a dump file and from Kafka, however the topics are partitioned.
#
# One generated scenario (with faults and bad messages) is
#   - replayed twice from a dump file: the two outputs must be identical,
#     byte for byte;
#   - produced to a mock cluster with 1 partition per topic, and again to
#     fresh ones with 4 and 16, and replayed from Kafka each time: with the
#     evidence's partition and offset removed, both outputs must be
#     identical to each other and to the file replay;
#   - and the incidents (rule, specimen_id, most severe severity) must equal
#     the generator's ground truth.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lw_init "${1:-}" 150
truth=$LW_TMP/truth.tsv
args=(--specimens "${LW_SPECIMENS:-2000}" --seed "${LW_SEED:-21}" --fault-rate 0.05 --bad-rate 0.005)

lw_gen truth-only --truth "$truth" --dump "$LW_TMP/in.dump" "${args[@]}"
lw_truth_summary "$truth"

replay() { # replay NAME ARGS...
	local name=$1
	shift
	lw_fg "$LW_TMP/$name.jsonl" "$LW_TMP/$name.err" 60 "$LW_LABWATCH" replay -q "$@" ||
		lw_die "labwatch replay $* failed: $(tail -n 3 "$LW_TMP/$name.err" | tr '\n' ' ')"
	lw_log "$name: $(grep 'labwatch replay:' "$LW_TMP/$name.err")"
}
strip() { # the evidence's partition and offset are allowed to differ
	sed -E 's/"partition":-?[0-9]+,"offset":-?[0-9]+,//g' "$1"
}

replay file1 --file "$LW_TMP/in.dump"
replay file2 --file "$LW_TMP/in.dump"
lines=$(wc -l <"$LW_TMP/file1.jsonl")
lw_log "compare two file replays: $lines alert lines"
((lines > 0)) || lw_fail "the file replay wrote no alerts"
cmp -s "$LW_TMP/file1.jsonl" "$LW_TMP/file2.jsonl" ||
	lw_fail "two replays of the same file differ: $(cmp "$LW_TMP/file1.jsonl" "$LW_TMP/file2.jsonl")"
grep -q '"detected_at":1[0-9]\{12\}' "$LW_TMP/file1.jsonl" || lw_fail "no detected_at in the output"
awk '{ if (match($0, /"event_time":[0-9]+,"detected_at":[0-9]+/)) { s = substr($0, RSTART, RLENGTH);
	split(s, a, /[:,]/); if (a[2] != a[4]) bad++ } } END { exit bad > 0 }' "$LW_TMP/file1.jsonl" ||
	lw_fail "detected_at differs from event_time in replay"

for parts in 1 4 16; do
	lw_mock_start "$parts"
	lw_gen "gen$parts" "${args[@]}"
	replay "kafka$parts" -b "$LW_BOOTSTRAP"
	lw_stop "$LW_MOCK_PID" 10
done
strip "$LW_TMP/file1.jsonl" >"$LW_TMP/file.stripped"
for parts in 1 4 16; do
	strip "$LW_TMP/kafka$parts.jsonl" >"$LW_TMP/kafka$parts.stripped"
	lw_log "compare Kafka replay over $parts partition(s) with the file replay (partition/offset removed)"
	if ! cmp -s "$LW_TMP/file.stripped" "$LW_TMP/kafka$parts.stripped"; then
		lw_fail "Kafka replay over $parts partition(s) differs from the file replay"
		diff "$LW_TMP/file.stripped" "$LW_TMP/kafka$parts.stripped" | head -n 6 | cut -c1-300 | sed 's/^/    /'
	fi
done

# incidents vs ground truth: (rule, specimen, most severe severity)
sed -E 's/.*"rule":"([A-Z_]+)","severity":"([A-Z]+)","specimen_id":"([^"]+)".*/\1\t\3\t\2/' \
	"$LW_TMP/file1.jsonl" | sort | awk -F'\t' '!seen[$1 FS $2]++' >"$LW_TMP/got.tsv"
lw_truth_alert_set "$truth" >"$LW_TMP/want.tsv"
missing=$(comm -23 "$LW_TMP/want.tsv" "$LW_TMP/got.tsv" | wc -l)
unexpected=$(comm -13 "$LW_TMP/want.tsv" "$LW_TMP/got.tsv" | wc -l)
lw_log "compare incidents with the truth: expected $(wc -l <"$LW_TMP/want.tsv"), got $(wc -l <"$LW_TMP/got.tsv"), missing $missing, unexpected $unexpected"
((missing == 0 && unexpected == 0)) || {
	lw_fail "replay incidents differ from the truth"
	comm -3 "$LW_TMP/want.tsv" "$LW_TMP/got.tsv" | head -n 10 | sed 's/^/    /'
}
exit 0
