#!/usr/bin/env bash
# pause.sh BUILD_DIR: the input stops, time goes on, then the input resumes.
#
# The first part of a scenario (every fault kind) is produced and consumed;
# the input then stays silent for a few seconds, so the stream time goes on
# with the wall clock (time.idle.timeout.ms=1000) and timers fire with no
# input; then the rest is produced at once. When it comes, one partition
# can be read to its end before another's backlog is fetched: the stream
# time must not jump ahead with the first, or timers fire early (a false
# MISSING_NOTIFICATION for every result whose notification is in the
# backlog). Checked: alerts and dead letters equal the truth, and the events
# behind the stream time at the resume are counted as late (exit stats).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lw_init "${1:-}" 150
truth=$LW_TMP/truth.tsv
genargs=(--specimens "${LW_SPECIMENS:-3000}" --seed "${LW_SEED:-7}" --fault-rate 0.05
	--bad-rate 0.005 $(lw_gen_rule_args))

lw_mock_start "${LW_PARTITIONS:-4}"
lw_gen truth-only --truth "$truth" "${genargs[@]}"
LW_TRUTH_FILE=$truth
lw_truth_summary "$truth"
total=$(sed -n 's/^# complete messages=\([0-9]*\).*/\1/p' "$truth" | head -n 1)
[ -n "$total" ] || lw_die "no '# complete messages=N' in the truth"
K=$((total / 2))

lw_gen gen1 "${genargs[@]}" --to "$K"
lw_spawn labwatch "$LW_LABWATCH" run -b "$LW_BOOTSTRAP" -g lw-pause \
	-X commit.interval.ms=500 -X stats.interval.ms=1000 $(lw_labwatch_rule_args) ${LW_LABWATCH_ARGS:-}
pid=$LW_PID
lw_wait_settled "$pid" labwatch "$K" 60 2 || lw_fail "the first part was not consumed in time"
sleep 3 # silence: the stream time follows the wall clock
lw_gen gen2 "${genargs[@]}" --from "$K"
lw_wait_settled "$pid" labwatch "$total" 60 2 "$truth" ||
	lw_fail "the processor did not finish the input in time"
lw_stop "$pid" 30
((LW_RC == 0)) || lw_fail "labwatch exited with $LW_RC after SIGTERM, want 0"
lw_log "exit stats: $(grep 'exit: stream_time' "$LW_TMP/labwatch.err" | tail -n 1 | cut -d' ' -f4-7)"
late=$(grep -o 'exit: stream_time=[-0-9]* late=[0-9]*' "$LW_TMP/labwatch.err" | tail -n 1 | sed 's/.*late=//')
[ -n "$late" ] || lw_fail "no late= in the exit stats"

lw_dump "$LW_TMP/final.tsv" 1500 || lw_fail "final dump of the output topics failed"
lw_compare_all "$truth" "$LW_TMP/final.tsv" exact
exit 0
