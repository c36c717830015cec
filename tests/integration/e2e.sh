#!/usr/bin/env bash
# e2e.sh BUILD_DIR: the whole pipeline once, without faults in the pipeline.
#
# A mock cluster; labwatch-gen writes a scenario (default 3000 specimens,
# 5% faulty with every fault kind, timer rules included, 0.5% bad
# messages) to the input topics and its truth file;
# labwatch consumes it; when the processor has consumed every input message
# and its output stopped growing, it gets SIGTERM and must exit 0. Then:
#   - (rule, specimen_id, max severity per alert_id) of the alerts topic
#     must equal the truth's ALERT lines (missing = an injected fault not
#     alerted, unexpected = an alert on clean traffic or a wrong severity);
#   - (reason, source_topic, key) of the dead letters must equal the truth's
#     DLQ lines, one for one (no crash here, so no duplicates);
#   - every rule has at least one truth line, so each comparison can fail;
#   - the exit summary's consumed=N must cover every input message.
# Env: LW_SPECIMENS, LW_SEED, LW_FAULT_RATE, LW_BAD_RATE, LW_PARTITIONS;
# LW_LABWATCH_ARGS is appended to labwatch's arguments (e.g.
# "-X fanout.threshold=100" to see the test fail).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lw_init "${1:-}" 150
truth=$LW_TMP/truth.tsv

# The command line: a stray word (a mistyped subcommand, "help") is an
# error with usage, exit 64, and starts nothing; --help lists every
# subcommand and exits 0. (Before, "labwatch help" started a consumer.)
rc=0
timeout 10 "$LW_LABWATCH" help >/dev/null 2>"$LW_TMP/cli.err" || rc=$?
((rc == 64)) || lw_fail "labwatch help: exit $rc, want 64"
grep -q "unknown command or argument 'help'" "$LW_TMP/cli.err" ||
	lw_fail "labwatch help: no error naming the word"
"$LW_LABWATCH" --help >"$LW_TMP/cli.out" || lw_fail "labwatch --help failed"
for cmd in run demo replay mock; do
	grep -q "^ *labwatch $cmd\b\|^usage: labwatch \[$cmd\]" "$LW_TMP/cli.out" ||
		lw_fail "labwatch --help does not list $cmd"
done

lw_mock_start "${LW_PARTITIONS:-4}"
lw_gen gen --truth "$truth" --specimens "${LW_SPECIMENS:-3000}" --seed "${LW_SEED:-7}" \
	--fault-rate "${LW_FAULT_RATE:-0.05}" --bad-rate "${LW_BAD_RATE:-0.005}" $(lw_gen_rule_args)
LW_TRUTH_FILE=$truth
lw_truth_summary "$truth"
produced=$(lw_input_count)
lw_log "input topics hold $produced messages"
((produced > 0)) || lw_die "labwatch-gen produced nothing"

lw_spawn labwatch "$LW_LABWATCH" run -b "$LW_BOOTSTRAP" -g lw-e2e \
	-X commit.interval.ms=500 -X stats.interval.ms=1000 $(lw_labwatch_rule_args) ${LW_LABWATCH_ARGS:-}
pid=$LW_PID
lw_wait_settled "$pid" labwatch "$produced" 100 2 "$truth" ||
	lw_fail "the processor did not finish the input in time"

lw_stop "$pid" 30
lw_log "labwatch exit status $LW_RC; exit stats: $(grep 'consumed=' "$LW_TMP/labwatch.err" | tail -n 1)"
if ((LW_RC != 0)); then
	tail -n 20 "$LW_TMP/labwatch.err" | sed 's/^/    /'
	lw_fail "labwatch exited with $LW_RC after SIGTERM, want 0"
fi
consumed=$(lw_consumed "$LW_TMP/labwatch.err")
lw_log "compare consumed: input $produced, processor consumed=${consumed:-?}"
if [ -z "$consumed" ]; then
	lw_fail "no consumed=N in the processor's exit summary"
elif ((consumed < produced)); then
	lw_fail "the processor consumed $consumed of $produced input messages"
elif ((consumed > produced)); then
	lw_log "note: consumed $consumed > $produced input messages (re-reads?)"
fi

lw_dump "$LW_TMP/final.tsv" 1500 || lw_fail "final dump of the output topics failed"
lw_compare_all "$truth" "$LW_TMP/final.tsv" exact
exit 0
