#!/usr/bin/env bash
# valgrind.sh BUILD_DIR: a small e2e with the processor under valgrind.
#
# Same pipeline and comparisons as e2e.sh on a small scenario (default 300
# specimens, 10% faulty, 2% bad, so that most rules and reasons occur),
# with labwatch run by memcheck: any memory error, or a definite leak at
# exit, makes valgrind exit 99. After SIGTERM the exit status must be 0.
# The default build links jemalloc, hence --soname-synonyms so that
# memcheck still sees every allocation.
# Env: LW_SPECIMENS, LW_SEED, LW_FAULT_RATE, LW_BAD_RATE, LW_PARTITIONS;
# LW_LABWATCH_ARGS is appended to labwatch's arguments (e.g.
# "-X fanout.threshold=100" to see the test fail).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lw_init "${1:-}" 160
command -v valgrind >/dev/null || lw_die "valgrind is not installed"
truth=$LW_TMP/truth.tsv
vglog=$LW_TMP/valgrind.log

lw_mock_start "${LW_PARTITIONS:-2}"
lw_gen gen --truth "$truth" --specimens "${LW_SPECIMENS:-300}" --seed "${LW_SEED:-5}" \
	--fault-rate "${LW_FAULT_RATE:-0.1}" --bad-rate "${LW_BAD_RATE:-0.02}" $(lw_gen_rule_args)
LW_TRUTH_FILE=$truth
# A small scenario need not hit every rule; some alerts and dead letters
# are enough for memcheck to walk the paths that exist.
LW_RULES="" lw_truth_summary "$truth"
produced=$(lw_input_count)
lw_log "input topics hold $produced messages"
((produced > 0)) || lw_die "labwatch-gen produced nothing"

lw_spawn labwatch valgrind --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite --soname-synonyms=somalloc=*jemalloc* \
	--log-file="$vglog" \
	"$LW_LABWATCH" run -b "$LW_BOOTSTRAP" -g lw-valgrind \
	-X commit.interval.ms=500 -X stats.interval.ms=1000 $(lw_labwatch_rule_args) ${LW_LABWATCH_ARGS:-}
pid=$LW_PID
lw_wait_settled "$pid" labwatch "$produced" 110 2 "$truth" ||
	lw_fail "the processor (under valgrind) did not finish the input in time"

lw_stop "$pid" 45
lw_log "labwatch under valgrind: exit status $LW_RC; $(grep -h 'ERROR SUMMARY' "$vglog" | tail -n 1)"
grep -h -A1 'definitely lost:' "$vglog" | head -n 2 | sed 's/^/    /'
if ((LW_RC != 0)); then
	if ((LW_RC == 99)); then
		lw_log "valgrind reported errors:"
		grep -v '^==[0-9]*== *$' "$vglog" | sed -n '/Invalid\|uninitialised\|definitely lost in\|Mismatched\|overlap\|Syscall param/,+14p' |
			head -n 80 | sed 's/^/    /'
	else
		tail -n 20 "$LW_TMP/labwatch.err" | sed 's/^/    /'
	fi
	lw_fail "labwatch under valgrind exited with $LW_RC after SIGTERM, want 0"
fi
consumed=$(lw_consumed "$LW_TMP/labwatch.err")
lw_log "compare consumed: input $produced, processor consumed=${consumed:-?}"
if [ -z "$consumed" ] || ((consumed < produced)); then
	lw_fail "the processor consumed ${consumed:-?} of $produced input messages"
fi

lw_dump "$LW_TMP/final.tsv" 1500 || lw_fail "final dump of the output topics failed"
lw_compare_all "$truth" "$LW_TMP/final.tsv" exact
exit 0
