# shellcheck shell=bash
# Step timings for the CI log, shared by scripts/test, scripts/fuzz, scripts/package and
# scripts/package-test (sourced, never run).
#
# Every timed step appends one line "key|depth|status|seconds|name|cpu" to the file $DSW_TIMINGS,
# where key is the start times of the step's ancestors and its own, joined by "/" (sorting by it
# puts each step right under the one that ran it, siblings in start order, background jobs
# included), and then wall-clock seconds and the CPU seconds (user + system) of the processes it ran.
# The CPU column does not grow when another job shares the 2 cores; wall time does, so both are
# shown (a background step's wall time overlaps the foreground's).
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
    DSW_TIMING_PARENT=
    TIMING_OWNER=1
    export DSW_TIMINGS DSW_TIMING_DEPTH DSW_TIMING_PARENT
  else
    TIMING_OWNER=0
  fi
}

# timing_record START STATUS NAME [CPU]: a step that began at START (timing_now) ended with
# STATUS (PASS, FAIL, SKIP) after CPU seconds of processing (empty: not measured).
timing_record() {
  printf '%s|%s|%s|%s|%s|%s\n' "${DSW_TIMING_PARENT:-}/$1" "${DSW_TIMING_DEPTH:-0}" "$2" "$(timing_since "$1")" "$3" "${4:-}" >>"$DSW_TIMINGS"
}

# timing_cpu FILE: writes the user + system seconds of this shell's reaped children (the `times`
# builtin's second line) to FILE. `times` must run in this shell, not in a pipe or $(...): a
# forked subshell starts with no children's time.
timing_cpu() {
  times >"$1.times"
  awk 'NR == 2 { gsub(/[ms]/, " "); printf "%.1f", $1 * 60 + $2 + $3 * 60 + $4 }' "$1.times" >"$1"
  rm -f "$1.times"
}

# timed NAME COMMAND...: runs COMMAND in a subshell with errexit in force (so a shell function
# works as a step; never call `timed` inside `if`, `||` or `&&`, where bash ignores errexit),
# records its time and status, and returns its exit status.
timed() {
  local name=$1 t0 rc status=PASS cpu_file errexit=$-
  shift
  t0=$(timing_now)
  cpu_file=$(mktemp "${DSW_TIMINGS}.cpu.XXXXXX")
  set +e
  (
    set -euo pipefail
    trap 'timing_cpu "$cpu_file"' EXIT
    DSW_TIMING_DEPTH=$((${DSW_TIMING_DEPTH:-0} + 1))
    DSW_TIMING_PARENT=${DSW_TIMING_PARENT:-}/$t0
    "$@"
  )
  rc=$?
  [[ $errexit != *e* ]] || set -e
  [ "$rc" = 0 ] || status=FAIL
  timing_record "$t0" "$status" "$name" "$(cat "$cpu_file" 2>/dev/null)"
  rm -f "$cpu_file"
  return "$rc"
}

# timing_skip NAME WHY: a step with nothing to do (a tool already installed), shown as SKIP.
timing_skip() { timing_record "$(timing_now)" SKIP "$1 ($2)"; }

# The table, nested steps indented under their parent; only the outermost script prints it.
timing_summary() {
  [ "${TIMING_OWNER:-0}" = 1 ] || return 0
  [ -f "$DSW_TIMINGS" ] || return 0
  local title=$1
  echo
  echo "================================ timings: $title ================================"
  # at: when the step started, in seconds since this script did.
  printf '%-4s %8s %9s %9s  %s\n' "" at wall cpu step
  LC_ALL=C sort -t'|' -k1,1 "$DSW_TIMINGS" | while IFS='|' read -r key depth status secs name cpu; do
    printf '%-4s %7ss %8ss %8s%s  %*s%s\n' "$status" \
      "$(awk -v a="$TIMING_T0" -v b="${key##*/}" 'BEGIN { printf "%.0f", b - a }')" \
      "$secs" "${cpu:--}" "${cpu:+s}" $((depth * 2)) '' "$name"
  done
  timing_cpu "$DSW_TIMINGS.total"
  echo "total ${title}: $(timing_since "$TIMING_T0")s wall clock, $(cat "$DSW_TIMINGS.total")s CPU"
  rm -f "$DSW_TIMINGS" "$DSW_TIMINGS".*
}
