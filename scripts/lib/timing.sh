# shellcheck shell=bash
# Step timings for the CI log, shared by scripts/test, scripts/fuzz, scripts/package and
# scripts/package-test (sourced, never run).
#
# Every timed step appends one line "start|depth|status|seconds|name" to the file $DSW_TIMINGS.
# The outermost script (the one that finds DSW_TIMINGS unset) creates the file and prints the
# table at exit, failure included; a script it runs appends to the same file one level deeper, so
# scripts/test's summary shows scripts/package-test's and scripts/package's own steps indented
# under the step that ran them, and a script run alone still prints its own table.

timing_now() { date +%s.%N; }
timing_since() { awk -v a="$1" -v b="$(timing_now)" 'BEGIN { printf "%.1f", b - a }'; }

# Once, near the top of a script, before any step.
timing_init() {
  TIMING_T0=$(timing_now)
  if [ -z "${DSW_TIMINGS:-}" ]; then
    DSW_TIMINGS=$(mktemp /tmp/dsw-timings.XXXXXX)
    DSW_TIMING_DEPTH=0
    TIMING_OWNER=1
    export DSW_TIMINGS DSW_TIMING_DEPTH
  else
    TIMING_OWNER=0
  fi
}

# timing_record START STATUS NAME: a step that began at START (timing_now) ended with STATUS
# (PASS, FAIL, SKIP).
timing_record() {
  printf '%s|%s|%s|%s|%s\n' "$1" "${DSW_TIMING_DEPTH:-0}" "$2" "$(timing_since "$1")" "$3" >>"$DSW_TIMINGS"
}

# timed NAME COMMAND...: runs COMMAND in a subshell with errexit in force (so a shell function
# works as a step; never call `timed` inside `if`, `||` or `&&`, where bash ignores errexit),
# records its time and status, and returns its exit status.
timed() {
  local name=$1 t0 rc status=PASS
  shift
  t0=$(timing_now)
  set +e
  (
    set -euo pipefail
    DSW_TIMING_DEPTH=$((${DSW_TIMING_DEPTH:-0} + 1))
    "$@"
  )
  rc=$?
  set -e
  [ "$rc" = 0 ] || status=FAIL
  timing_record "$t0" "$status" "$name"
  return "$rc"
}

# timing_skip NAME WHY: a step with nothing to do (a tool already installed), shown as SKIP.
timing_skip() { timing_record "$(timing_now)" SKIP "$1 ($2)"; }

# The table, in start order, nested steps indented; only the outermost script prints it.
timing_summary() {
  [ "${TIMING_OWNER:-0}" = 1 ] || return 0
  [ -f "$DSW_TIMINGS" ] || return 0
  local title=$1
  echo
  echo "================================ timings: $title ================================"
  sort -t'|' -k1,1n "$DSW_TIMINGS" | while IFS='|' read -r _ depth status secs name; do
    printf '%-4s %8ss  %*s%s\n' "$status" "$secs" $((depth * 2)) '' "$name"
  done
  echo "total ${title}: $(timing_since "$TIMING_T0")s wall clock"
  rm -f "$DSW_TIMINGS" "$DSW_TIMINGS".*
}
