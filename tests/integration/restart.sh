#!/usr/bin/env bash
# restart.sh BUILD_DIR: a crash (kill -9) in the middle of the stream.
#
# The scenario is split at produce index K (about half of the messages).
# Phase 1 produces [0, K); labwatch (commit.interval.ms=200) runs until it
# has alerted every truth incident with trigger_idx < K, gets ~1.5 s more
# to commit, and is killed with SIGKILL. Phase 2 produces [K, end) and
# starts labwatch again in the same group; it must restore its join state
# from the input it committed, so that incidents whose result came before
# the crash and whose wrong notification came after it (result_idx < K <=
# trigger_idx; the truth must have at least 3) are still alerted. After it
# settles: SIGTERM, exit 0, and the alert and DLQ sets must equal the truth
# (duplicate records are allowed: alerts may repeat after a crash).
# Env: LW_SPECIMENS, LW_SEED, LW_FAULT_RATE, LW_BAD_RATE, LW_PARTITIONS;
# LW_LABWATCH_ARGS is appended to labwatch's arguments (e.g. "-X restore=false"
# to see the test fail).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lw_init "${1:-}" 160
truth=$LW_TMP/truth.tsv
group=lw-restart
genargs=(--specimens "${LW_SPECIMENS:-3000}" --seed "${LW_SEED:-11}"
	--fault-rate "${LW_FAULT_RATE:-0.05}" --bad-rate "${LW_BAD_RATE:-0.005}"
	$(lw_gen_rule_args))

lw_mock_start "${LW_PARTITIONS:-4}"

# The truth covers the whole scenario whatever --from/--to say; a first run
# without -b writes only it ("# complete messages=N", or without that line,
# the highest index it mentions, gives the total).
lw_gen truth-only --truth "$truth" "${genargs[@]}"
LW_TRUTH_FILE=$truth
lw_truth_summary "$truth"
total=$(sed -n 's/^# complete messages=\([0-9]*\).*/\1/p' "$truth" | head -n 1)
if [ -z "$total" ]; then
	total=$(awk -F'\t' '$1 == "ALERT" && $6 != "-" && $6 > m { m = $6 } $1 == "DLQ" && $5 > m { m = $5 } END { print m + 1 }' "$truth")
fi
# K: the crash point in the middle third covered by the most incidents whose
# result comes before it and whose trigger comes at or after it (those
# need the restored state), so that restoring is really tested.
K=$(awk -F'\t' -v lo=$((total / 3)) -v hi=$((2 * total / 3)) '
	$1 == "ALERT" && $5 != "-" && $6 != "-" && $6 > $5 { for (k = $5 + 1; k <= $6; k++) c[k]++ }
	END { best = int((lo + hi) / 2); for (k = lo; k <= hi; k++) if (c[k] > c[best]) best = k; print best }' "$truth")
straddle=$(awk -F'\t' -v k="$K" '$1 == "ALERT" && $5 != "-" && $6 != "-" && $5 < k && $6 >= k' "$truth" | wc -l)
lw_log "scenario of $total messages, split at K=$K: $straddle incidents have result_idx < K <= trigger_idx"
((straddle >= 3)) || lw_fail "fewer than 3 incidents straddle the crash: the test would not test restoring"

# Phase 1.
lw_gen gen1 --truth "$LW_TMP/truth1.tsv" "${genargs[@]}" --from 0 --to "$K"
cmp -s "$truth" "$LW_TMP/truth1.tsv" || lw_fail "the truth changed between runs of the same scenario"
produced1=$(lw_input_count)
lw_log "phase 1: input topics hold $produced1 messages (want $K)"
((produced1 == K)) || lw_fail "labwatch-gen --from 0 --to $K produced $produced1 messages"
want1=$(awk -F'\t' -v k="$K" '$1 == "ALERT" && $6 != "-" && $6 < k { print $2 "\t" $3 }' "$truth" | sort -u | wc -l)

# A short session timeout: after the SIGKILL the group coordinator holds
# the dead member's partitions until its session expires (45 s by default).
lwargs=(-b "$LW_BOOTSTRAP" -g "$group" -X commit.interval.ms=200 -X stats.interval.ms=500
	-X consumer.session.timeout.ms=6000 -X consumer.heartbeat.interval.ms=500
	$(lw_labwatch_rule_args) ${LW_LABWATCH_ARGS:-})
lw_spawn labwatch1 "$LW_LABWATCH" run "${lwargs[@]}"
pid=$LW_PID
end=$((SECONDS + $(lw_cap 60)))
ok=0
while ((SECONDS < end)); do
	lw_alive "$pid" labwatch1
	lw_dump "$LW_TMP/poll1.tsv" 300 || { sleep 1; continue; }
	consumed=$(lw_consumed "$LW_TMP/labwatch1.err")
	have=$(awk -F'\t' '$1 == "ALERT" { print $2 "\t" $3 }' "$LW_TMP/poll1.tsv" | sort -u | wc -l)
	lw_log "  poll: $have of $want1 (rule, specimen) with trigger_idx < K alerted; consumed=${consumed:-?}/$produced1"
	if lw_alerts_present "$truth" "$LW_TMP/poll1.tsv" "$K" &&
		{ [ -z "$consumed" ] || ((consumed >= produced1)); }; then
		ok=1
		break
	fi
	sleep 1
done
if ((!ok)); then
	comm -23 "$LW_TMP/cmp/present.expected" "$LW_TMP/cmp/present.actual" | head -n 20 | sed 's/^/    missing before the crash: /'
	lw_fail "phase 1: not every incident with trigger_idx < K was alerted within 60 s"
fi
sleep 1.5 # > commit.interval.ms: the offsets of what it did are committed
lw_kill9 "$pid"
lw_log "phase 1: labwatch1 killed with SIGKILL; $(grep -c '^ALERT' "$LW_TMP/poll1.tsv") alert records so far"
# Without a commit before the kill the restart would be a fresh start and
# test nothing about restoring.
committed=$(lw_committed "$group")
lw_log "phase 1: group $group had committed input offsets summing to $committed (of $K messages)"
((committed > 0)) || lw_fail "nothing was committed before the kill"

# Phase 2.
lw_gen gen2 --truth "$LW_TMP/truth2.tsv" "${genargs[@]}" --from "$K"
cmp -s "$truth" "$LW_TMP/truth2.tsv" || lw_fail "the truth changed between runs of the same scenario"
produced=$(lw_input_count)
lw_log "phase 2: input topics hold $produced messages"

lw_spawn labwatch2 "$LW_LABWATCH" run "${lwargs[@]}"
pid=$LW_PID
# consumed= after a restart may or may not count the re-read for the
# restore; ask for at least the new messages and 3 stable polls.
lw_wait_settled "$pid" labwatch2 $((produced - K)) 90 3 "$truth" ||
	lw_fail "the restarted processor did not finish the input in time"
lw_stop "$pid" 30
lw_log "labwatch2 exit status $LW_RC; exit stats: $(grep 'consumed=' "$LW_TMP/labwatch2.err" | tail -n 1)"
if ((LW_RC != 0)); then
	tail -n 20 "$LW_TMP/labwatch2.err" | sed 's/^/    /'
	lw_fail "labwatch2 exited with $LW_RC after SIGTERM, want 0"
fi
if grep -qi restore "$LW_TMP/labwatch2.err"; then
	lw_log "restore, as the processor logged it ($(grep -ci 'assigned.*restore' "$LW_TMP/labwatch2.err") partitions re-read):"
	{ grep -i restore "$LW_TMP/labwatch2.err" | grep -vi 'assigned' | head -n 3
	  grep -i 'assigned.*restore' "$LW_TMP/labwatch2.err" | head -n 1; } | sed 's/^/    /'
else
	lw_log "(the processor logged no line with 'restore')"
fi

lw_dump "$LW_TMP/final.tsv" 1500 || lw_fail "final dump of the output topics failed"
lw_compare_all "$truth" "$LW_TMP/final.tsv"

# The incidents that need the restored state, on their own.
awk -F'\t' -v k="$K" '$1 == "ALERT" && $5 != "-" && $6 != "-" && $5 < k && $6 >= k { print $2 "\t" $3 "\t" $4 }' "$truth" |
	sort -u >"$LW_TMP/cmp/straddle.expected"
got=$(comm -12 "$LW_TMP/cmp/straddle.expected" "$LW_TMP/cmp/alerts.actual" | wc -l)
lw_log "incidents across the crash alerted: $got of $(wc -l <"$LW_TMP/cmp/straddle.expected")"
dups=$(awk -F'\t' '$1 == "ALERT" { n[$5 "\t" $6]++ } END { d = 0; for (k in n) if (n[k] > 1) d++; print d }' "$LW_TMP/final.tsv")
lw_log "(alert_id, revision) pairs written more than once: $dups (allowed after a crash)"
exit 0
