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
args=(--specimens "${LW_SPECIMENS:-2000}" --seed "${LW_SEED:-21}" --fault-rate 0.05 --bad-rate 0.005
	$(lw_gen_rule_args))
mapfile -t xargs < <(lw_labwatch_rule_args)

lw_gen truth-only --truth "$truth" --dump "$LW_TMP/in.dump" "${args[@]}"
LW_TRUTH_FILE=$truth
lw_truth_summary "$truth"

replay() { # replay NAME ARGS...
	local name=$1
	shift
	lw_fg "$LW_TMP/$name.jsonl" "$LW_TMP/$name.err" 60 "$LW_LABWATCH" replay -q "${xargs[@]}" "$@" ||
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
# detected_at is the event time at which the rule fired: the newest event
# involved (event_time) or, for a timer, its due time (later); the output is
# ordered by (detected_at, alert_id, revision).
awk '{ if (match($0, /"event_time":[0-9]+,"detected_at":[0-9]+/)) { s = substr($0, RSTART, RLENGTH);
	split(s, a, /[:,]/); if (a[4] < a[2]) bad++; if (a[4] != a[2]) timer++ } else bad++ }
	END { printf "%d alerts fired by a timer (detected_at > event_time)\n", timer; exit bad > 0 }' \
	"$LW_TMP/file1.jsonl" >"$LW_TMP/timer_count.txt" ||
	lw_fail "detected_at earlier than event_time in replay"
lw_log "$(cat "$LW_TMP/timer_count.txt")"
sed -E 's/.*"alert_id":"([0-9a-f]+)","revision":([0-9]+).*"detected_at":([0-9]+).*/\3 \1 \2/' "$LW_TMP/file1.jsonl" >"$LW_TMP/order.txt"
sort -k1,1n -k2,2 -k3,3n "$LW_TMP/order.txt" | cmp -s - "$LW_TMP/order.txt" ||
	lw_fail "replay output is not ordered by (detected_at, alert_id, revision)"

for parts in 1 4 16; do
	lw_mock_start "$parts"
	lw_gen "gen$parts" "${args[@]}"
	if ((parts == 4)); then
		# --produce: the same alerts, Avro, on the alerts topic
		replay "kafka$parts" -b "$LW_BOOTSTRAP" --produce
		lw_dump "$LW_TMP/produced.tsv" 300 || lw_fail "dump of the produced alerts failed"
		n=$(grep -c '^ALERT' "$LW_TMP/produced.tsv")
		lw_log "replay --produce wrote $n alert records (want $(wc -l <"$LW_TMP/kafka4.jsonl"))"
		((n == $(wc -l <"$LW_TMP/kafka4.jsonl"))) || lw_fail "replay --produce wrote $n alerts"
	else
		replay "kafka$parts" -b "$LW_BOOTSTRAP"
	fi
	# from given offsets: partition 0 of each topic starts half-way, so
	# fewer messages are read
	if ((parts == 16)); then
		replay "from$parts" -b "$LW_BOOTSTRAP" --from "lab.results:0:5,lab.notifications:0:5"
		a=$(sed -n 's/.*: \([0-9]*\) messages.*/\1/p' "$LW_TMP/kafka$parts.err" | head -n 1)
		b=$(sed -n 's/.*: \([0-9]*\) messages.*/\1/p' "$LW_TMP/from$parts.err" | head -n 1)
		lw_log "replay --from read $b messages, from the beginning $a"
		((b == a - 10)) || lw_fail "replay --from skipped $((a - b)) messages, want 10"
	fi
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
sed -E 's/.*"rule":"([A-Z_]+)","severity":"([A-Z]+)","specimen_id":"([^"]*)".*/\1\t\3\t\2/' \
	"$LW_TMP/file1.jsonl" | awk -F'\t' -v OFS='\t' '$2 == "" { $2 = "-" } { print }' |
	sort | awk -F'\t' '!seen[$1 FS $2]++' >"$LW_TMP/got.tsv"
lw_truth_alert_set "$truth" >"$LW_TMP/want.tsv"
missing=$(comm -23 "$LW_TMP/want.tsv" "$LW_TMP/got.tsv" | wc -l)
unexpected=$(comm -13 "$LW_TMP/want.tsv" "$LW_TMP/got.tsv" | wc -l)
lw_log "compare incidents with the truth: expected $(wc -l <"$LW_TMP/want.tsv"), got $(wc -l <"$LW_TMP/got.tsv"), missing $missing, unexpected $unexpected"
((missing == 0 && unexpected == 0)) || {
	lw_fail "replay incidents differ from the truth"
	comm -3 "$LW_TMP/want.tsv" "$LW_TMP/got.tsv" | head -n 10 | sed 's/^/    /'
}
exit 0
