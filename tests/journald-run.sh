#!/usr/bin/env bash
# Runs a command with its stdout/stderr connected to a private systemd-journald, the way systemd
# runs a service, and prints what that journald recorded as `journalctl -o json` lines.
#
#   journald-run.sh STORE STOP_FILE LIMIT_SECONDS -- COMMAND [ARG...]
#
# Needs root. Everything happens in a private mount namespace (unshare -m): tmpfs on /run/systemd
# and /run/log, STORE bound on /var/log/journal, so neither the host's journal (if any) nor its
# /run is touched, and the mounts vanish with the namespace. The network namespace is the host's,
# so COMMAND reaches loopback services of the caller.
#
# COMMAND runs under `systemd-cat` (stdout/stderr on journald's stream socket) with JOURNAL_STREAM
# set to stderr's dev:inode, as systemd sets it for a service: systemd-cat itself (systemd 252)
# does not set it. It is stopped with SIGTERM once STOP_FILE exists or after LIMIT_SECONDS; then
# journald is flushed to STORE and stopped, and the journal is printed on stdout. The exit code
# is COMMAND's. The caller should run this in its own process group and kill the group if it
# gives up, so that no journald outlives it.
set -euo pipefail

if [ "$#" -lt 5 ] || [ "$4" != "--" ]; then
  echo "usage: $0 STORE STOP_FILE LIMIT_SECONDS -- COMMAND [ARG...]" >&2
  exit 2
fi
store=$1 stop_file=$2 limit=$3
shift 4

if [ "${JOURNALD_RUN_IN_NAMESPACE:-}" != 1 ]; then
  exec env JOURNALD_RUN_IN_NAMESPACE=1 unshare -m --propagation private -- bash "$0" "$store" "$stop_file" "$limit" -- "$@"
fi
unset JOURNALD_RUN_IN_NAMESPACE

journald_pid= cmd_pid=
cleanup() {
  [ -n "$cmd_pid" ] && kill -KILL "$cmd_pid" 2>/dev/null
  [ -n "$journald_pid" ] && kill -KILL "$journald_pid" 2>/dev/null
  return 0
}
trap cleanup EXIT

mkdir -p /run/systemd /run/log /var/log/journal
mount -t tmpfs -o mode=0755 tmpfs /run/systemd
mount -t tmpfs -o mode=0755 tmpfs /run/log
mount --bind "$store" /var/log/journal

/lib/systemd/systemd-journald &
journald_pid=$!
for _ in $(seq 200); do
  [ -S /run/systemd/journal/socket ] && [ -S /run/systemd/journal/stdout ] && break
  kill -0 "$journald_pid" 2>/dev/null || { echo "journald-run: journald died" >&2; exit 1; }
  sleep 0.025
done
[ -S /run/systemd/journal/stdout ] || { echo "journald-run: journald did not start" >&2; exit 1; }

# shellcheck disable=SC2016 # expanded by the inner bash, after systemd-cat connected fd 2
systemd-cat --identifier=datasync-warden -- bash -c \
  'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) && export JOURNAL_STREAM && exec "$@"' \
  journald-run "$@" &
cmd_pid=$!

deadline=$((SECONDS + limit))
while [ ! -e "$stop_file" ] && [ "$SECONDS" -lt "$deadline" ] && kill -0 "$cmd_pid" 2>/dev/null; do
  sleep 0.05
done
[ -e "$stop_file" ] || echo "journald-run: no stop file; stopping after ${limit}s or on exit" >&2
kill -TERM "$cmd_pid" 2>/dev/null || true
rc=0
wait "$cmd_pid" || rc=$?
cmd_pid=

journalctl --flush >&2
kill -TERM "$journald_pid"
wait "$journald_pid" || true
journald_pid=

journalctl -D "$store/$(cat /etc/machine-id)" -o json --no-pager
exit "$rc"
