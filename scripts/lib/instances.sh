# shellcheck shell=bash
# The template unit in the container test (issue 13): two instances of datasync-warden@.service
# activate and monitor two agents at once beside the main unit, with no cross-talk. Sourced by
# scripts/package-test and run inside its step_container, whose helpers it uses (ct, eq, ok,
# fail, wait_until, sim, py, now, secs_since, figure, journal_json).
#
# Each instance has an agent of its own, as on a real host: a simulator per instance (an agent
# closes its activation port once activated, so one agent cannot be activated three times), on
# ports of its own; the main unit's simulator must see no call from them.

OFFLINE_ID=c461c33282a842d7ade9471a05c9bd24
RECOVERED_ID=c47865908b1b4e6994bc19945525338c

iunit() { echo "datasync-warden@$1.service"; }
# Ports of instance NAME: its agent, its simulator's API, its health endpoint.
iport() {
  case "$1:$2" in
  a:agent) echo 8090 ;; a:api) echo 8091 ;; a:health) echo 9501 ;;
  b:agent) echo 8092 ;; b:api) echo 8093 ;; b:health) echo 9502 ;;
  esac
}
# isim NAME PATH [curl args]: instance NAME's simulator admin API.
isim() { ct curl -fsS "http://127.0.0.1:$(iport "$1" api)$2" "${@:3}"; }
iprop() { ct systemctl show -p "$2" --value "$(iunit "$1")"; }
istatus_is() { [[ "$(iprop "$1" StatusText)" == $2 ]]; }
# The ARN in instance NAME's state file (root reads it through /var/lib/private).
istate_arn() { ct cat "/var/lib/private/datasync-warden-$1/state.json" | py 'd["agent_arn"]'; }
# The units (one per line, sorted) that logged the journal entry MESSAGE_ID for the agent ARN.
units_logging() {
  journal_json "MESSAGE_ID=$1" "AGENT_ARN=$2" | python3 -c 'import json, sys
print("\n".join(sorted({json.loads(l).get("_SYSTEMD_UNIT", "?") for l in sys.stdin if l.strip()})))'
}

logged() { [ -n "$(units_logging "$1" "$2")" ]; }

# instances_check MAIN_ARN: configures instances a and b (the main unit's fragment plus a health
# port each), starts them, and checks what each one does and does not see.
instances_check() {
  local main_arn=$1 t0 n host
  t0=$(now)
  host=$(ct cat /proc/sys/kernel/hostname)

  # An instance without configuration is skipped like the unconfigured main unit.
  ct systemctl start "$(iunit c)" || fail "systemctl start $(iunit c)"
  eq "ConditionResult of an unconfigured instance" "$(iprop c ConditionResult)" no
  eq "ActiveState of an unconfigured instance" "$(iprop c ActiveState)" inactive
  ok "instance c without /etc/datasync-warden/c/config.d: condition unmet, inactive"

  local main_keys main_alerts
  main_keys=$(sim /_sim/agent/requests | py 'len(d)')
  main_alerts=$(sim /_sim/alerts | py 'len(d)')
  for n in a b; do
    ct sh -c "cat >/etc/systemd/system/datasync-sim-$n.service" <<EOF
[Unit]
Description=DataSync simulator for instance $n (test peer on loopback)
[Service]
ExecStart=/usr/local/bin/datasync-sim --agent-listen 127.0.0.1:$(iport "$n" agent) --api-listen 127.0.0.1:$(iport "$n" api) --region us-east-1
EOF
    ct systemctl daemon-reload
    ct systemctl start "datasync-sim-$n.service"
    wait_until 10 "instance $n's simulator" isim "$n" /_sim/calls || fail "instance $n's simulator is not up"
    # The main unit's fragment, pointed at this instance's agent and API, plus its health port.
    ct mkdir -p "/etc/datasync-warden/$n/config.d"
    ct sh -c "sed -e 's/^activation_port = 8080\$/activation_port = $(iport "$n" agent)/' \
      -e 's|^endpoint_url = \"http://127.0.0.1:8081\"\$|endpoint_url = \"http://127.0.0.1:$(iport "$n" api)\"|' \
      /etc/datasync-warden/config.d/50-instance.toml >/etc/datasync-warden/$n/config.d/50-instance.toml &&
      printf '[health]\nlisten = \"127.0.0.1:$(iport "$n" health)\"\n' >>/etc/datasync-warden/$n/config.d/50-instance.toml"
    ct grep -q "activation_port = $(iport "$n" agent)" "/etc/datasync-warden/$n/config.d/50-instance.toml" &&
      ct grep -q "127.0.0.1:$(iport "$n" api)" "/etc/datasync-warden/$n/config.d/50-instance.toml" ||
      fail "instance $n's fragment does not name its agent and API: $(ct cat "/etc/datasync-warden/$n/config.d/50-instance.toml")"
    ct sh -c "umask 077; cp /etc/datasync-warden/environment /etc/datasync-warden/$n/environment"
    # Alert destinations are per instance: each posts to its own simulator's receiver.
    ct sh -c "printf '[[alerts.destinations]]\nformat = \"json\"\nurl = \"http://127.0.0.1:$(iport "$n" api)/_sim/alerts/hook-$n\"\n' \
      >/etc/datasync-warden/$n/config.d/60-alerts.toml"
  done
  ct systemctl enable --now "$(iunit a)" "$(iunit b)" >/dev/null 2>&1 || fail "systemctl enable --now $(iunit a) $(iunit b)"
  for n in a b; do
    wait_until 30 "instance $n ONLINE" istatus_is "$n" "instance $n: monitoring agent-*: ONLINE" ||
      fail "instance $n: StatusText is '$(iprop "$n" StatusText)'"
  done
  ok "instances a and b: enabled, activated and ONLINE in $(secs_since "$t0")s"

  arn_a=$(istate_arn a)
  arn_b=$(istate_arn b)
  [ "$arn_a" != "$arn_b" ] && [ "$arn_a" != "$main_arn" ] && [ "$arn_b" != "$main_arn" ] ||
    fail "the three states do not hold three agents: main $main_arn, a $arn_a, b $arn_b"
  for n in a b; do
    local arn_n agents
    arn_n=$([ "$n" = a ] && echo "$arn_a" || echo "$arn_b")
    agents=$(isim "$n" /_sim/agents)
    eq "agents of instance $n's simulator" "$(py 'len(d)' <<<"$agents")" 1
    eq "instance $n's agent" "$(py 'd[0]["arn"]' <<<"$agents")" "$arn_n"
    eq "name of instance $n's agent" "$(py 'd[0]["name"]' <<<"$agents")" "$host-$n"
    eq "CreateAgent calls of instance $n" "$(isim "$n" /_sim/calls | py 'd.get("CreateAgent", 0)')" 1
  done
  eq "key requests to the main unit's agent while the instances started" "$(sim /_sim/agent/requests | py 'len(d)')" "$main_keys"
  eq "CreateAgent calls of the main unit's simulator" "$(sim /_sim/calls | py 'd.get("CreateAgent", 0)')" 1
  eq "agents in the main unit's simulator" "$(sim /_sim/agents | py 'len(d)')" 1
  ok "three agents, three states: $host-a ($arn_a), $host-b ($arn_b) beside the main unit's, whose agent and simulator saw no instance"

  instances_check_views
  instances_check_isolation
  instances_check_offline "$main_arn"
  figure "container: two instances" "$(secs_since "$t0")s"
}

# Each instance's metrics, status and CLI name its own agent and not the other's.
instances_check_views() {
  local m n own other port st
  for n in a b; do
    own=$([ "$n" = a ] && echo "$arn_a" || echo "$arn_b")
    other=$([ "$n" = a ] && echo "$arn_b" || echo "$arn_a")
    port=$(iport "$n" health)
    m=$(ct curl -fsS "http://127.0.0.1:$port/metrics") || fail "instance $n: no /metrics on 127.0.0.1:$port"
    grep -q "^datasync_warden_agent_info{agent_arn=\"$own\"" <<<"$m" ||
      fail "instance $n: agent_info does not name $own: $(grep agent_info <<<"$m")"
    [ -n "$own" ] && [ -n "$other" ] || fail "instance $n: no ARNs to compare ('$own', '$other')"
    grep -q "$other" <<<"$m" && fail "instance $n's metrics name the other instance's agent $other"
    # Captured, not piped into head: under pipefail a SIGPIPE'd systemctl would fail the check.
    st=$(ct systemctl status -n 0 --no-pager "$(iunit "$n")") || true
    [[ ${st%%$'\n'*} == *"(instance $n)"* ]] || fail "systemctl status $(iunit "$n") does not name the instance: ${st%%$'\n'*}"
    m=$(ct datasync-warden --instance "$n" status) || fail "datasync-warden --instance $n status"
    grep -q "$own" <<<"$m" || fail "datasync-warden --instance $n status does not name $own: $m"
    grep -q "$other" <<<"$m" && fail "datasync-warden --instance $n status names $other"
  done
  ok "each instance's /metrics (9501, 9502), systemctl status and CLI status name its own agent only"
}

# One dynamic user for all (systemd names it after the unit's prefix), yet an instance reaches
# only its own state: checked as instance a's user inside a's mount namespace (docs/SECURITY.md).
instances_check_isolation() {
  local pa ua
  pa=$(iprop a MainPID)
  ua=$(ct ps -o uid= -p "$pa" | tr -d ' ')
  eq "uid of instance b (the one dynamic user)" "$(ct ps -o uid= -p "$(iprop b MainPID)" | tr -d ' ')" "$ua"
  eq "uid of the main unit (the one dynamic user)" "$(ct ps -o uid= -p "$(prop MainPID)" | tr -d ' ')" "$ua"
  as_a() { ct nsenter -t "$pa" -m -S "$ua" -G "$ua" "$@"; }
  as_a test -w /var/lib/datasync-warden-a/state.json || fail "instance a cannot write its own state"
  local other
  for other in /var/lib/private/datasync-warden-b /var/lib/datasync-warden-b /var/lib/private/datasync-warden /var/lib/datasync-warden; do
    as_a test -r "$other/state.json" && fail "instance a can read $other/state.json"
    as_a sh -c ": >'$other/intruder'" 2>/dev/null && fail "instance a can write in $other"
  done
  # The main unit's LoadCredential= copies (the test's drop-in loads "hook").
  ct test -r /run/credentials/datasync-warden.service/hook || fail "the main unit's credential is not where the check looks"
  as_a test -r /run/credentials/datasync-warden.service/hook && fail "instance a can read the main unit's credential"
  ok "one dynamic user (uid $ua) for main, a and b; a's user in a's namespace can neither read nor write b's or the main unit's state, nor read the main unit's credentials"
}

# The agent of instance b goes OFFLINE: b alerts and says so; a and the main unit do not.
instances_check_offline() {
  local main_arn=$1 t0 main_alerts_before_offline
  t0=$(now)
  main_alerts_before_offline=$(sim /_sim/alerts | py 'len(d)')
  isim b /_sim/agents/status -X POST -d "{\"arn\":\"$arn_b\",\"status\":\"OFFLINE\"}" >/dev/null
  wait_until 30 "instance b's offline alert" logged "$OFFLINE_ID" "$arn_b" ||
    fail "no offline entry for $arn_b"
  wait_until 10 "instance b OFFLINE" istatus_is b 'instance b: monitoring agent-*: OFFLINE since *' ||
    fail "instance b: StatusText is '$(iprop b StatusText)'"
  eq "units that logged $arn_b offline" "$(units_logging "$OFFLINE_ID" "$arn_b")" "$(iunit b)"
  wait_until 20 "instance b's offline alert at its destination" sh -c \
    "nsenter -t $(cat "$work/init.pid") -a curl -fsS http://127.0.0.1:$(iport b api)/_sim/alerts | grep -q '\"event\":\"offline\"'" ||
    fail "instance b's destination got no offline alert: $(isim b /_sim/alerts)"
  isim b /_sim/alerts | py 'next(a for a in d if a["body"]["event"] == "offline")' | grep -q "'path': '/_sim/alerts/hook-b'" ||
    fail "instance b's alert did not go to its own destination: $(isim b /_sim/alerts)"
  isim b /_sim/alerts | grep -q "$arn_b" || fail "instance b's alert does not name $arn_b"
  eq "alerts at instance a's destination" "$(isim a /_sim/alerts | py 'len(d)')" 0
  eq "alerts at the main unit's destination" "$(sim /_sim/alerts | py 'len(d)')" "$main_alerts_before_offline"
  eq "offline entries of instance a" "$(journal_json -u "$(iunit a)" "MESSAGE_ID=$OFFLINE_ID" | wc -l)" 0
  istatus_is a 'instance a: monitoring agent-*: ONLINE' || fail "instance a: StatusText is '$(iprop a StatusText)'"
  status_is 'monitoring agent-*: ONLINE' || fail "main unit: StatusText is '$(prop StatusText)'"
  isim b /_sim/agents/status -X POST -d "{\"arn\":\"$arn_b\",\"status\":\"ONLINE\"}" >/dev/null
  wait_until 30 "instance b ONLINE again" istatus_is b 'instance b: monitoring agent-*: ONLINE' ||
    fail "instance b: StatusText is '$(iprop b StatusText)'"
  wait_until 30 "instance b's recovered alert" logged "$RECOVERED_ID" "$arn_b" || fail "no recovered entry for $arn_b"
  eq "units that logged $arn_b recovered" "$(units_logging "$RECOVERED_ID" "$arn_b")" "$(iunit b)"
  ok "instance b's agent OFFLINE: only b alerted (journal of $(iunit b), AGENT_ARN; its own destination) and recovered in $(secs_since "$t0")s; a and main stayed ONLINE"
}

# MainPID of each instance, "a b" order, for the upgrade check.
instances_pids() { echo "$(iprop a MainPID) $(iprop b MainPID)"; }

# instances_after_upgrade "PID_A PID_B": postinst restarted both instances on the new binary.
instances_after_upgrade() {
  local before i=0 n
  read -r -a before <<<"$1"
  for n in a b; do
    wait_until 20 "instance $n restarted by the upgrade" sh -c \
      "p=\$(nsenter -t $(cat "$work/init.pid") -a systemctl show -p MainPID --value $(iunit "$n")); [ \"\$p\" != 0 ] && [ \"\$p\" != ${before[$i]} ]" ||
      fail "instance $n was not restarted by the upgrade (MainPID $(iprop "$n" MainPID))"
    wait_until 20 "instance $n ONLINE after the upgrade" istatus_is "$n" "instance $n: monitoring agent-*: ONLINE" ||
      fail "instance $n after the upgrade: StatusText is '$(iprop "$n" StatusText)'"
    i=$((i + 1))
  done
  for n in a b; do
    eq "CreateAgent calls of instance $n after the upgrade" "$(isim "$n" /_sim/calls | py 'd.get("CreateAgent", 0)')" 1
  done
  ok "upgrade: both instances restarted on the new binary, ONLINE, no new activation"
}

# After dpkg -r: instances stopped (package-test checks no datasync-warden process is left),
# their states kept.
instances_after_remove() {
  local n
  for n in a b; do
    eq "instance $n after dpkg -r" "$(iprop "$n" ActiveState)" inactive
    ct test -f "/var/lib/private/datasync-warden-$n/state.json" || fail "instance $n's state removed by dpkg -r"
  done
  # Not ours, purge must leave them: an operator's copy of a's state (state.json and all) and
  # another DynamicUser unit's state whose name starts like an instance's.
  ct sh -c 'cp -a /var/lib/private/datasync-warden-a /var/lib/datasync-warden-backup &&
    mkdir -p /var/lib/private/datasync-warden-exporter && echo keep >/var/lib/private/datasync-warden-exporter/data'
  # b no longer enabled (the template is gone, so `systemctl disable` of systemd 252 would refuse:
  # the link goes by hand): purge still knows b from /etc/datasync-warden/b/.
  ct rm -f "/etc/systemd/system/multi-user.target.wants/$(iunit b)"
  ct test -e "/etc/systemd/system/multi-user.target.wants/$(iunit b)" -o -L "/etc/systemd/system/multi-user.target.wants/$(iunit b)" &&
    fail "$(iunit b) still enabled"
  # A directory whose name has a space and an instance's name in it: not an instance, nor two.
  ct sh -c 'mkdir -p "/etc/datasync-warden/a backup/config.d"'
  ok "dpkg -r: both instances stopped, their states kept"
}

# After dpkg -P: instance states and enablement gone.
instances_after_purge() {
  local n
  for n in a b; do
    ct test -e "/var/lib/private/datasync-warden-$n" && fail "/var/lib/private/datasync-warden-$n left after purge"
    ct test -e "/var/lib/datasync-warden-$n" -o -L "/var/lib/datasync-warden-$n" && fail "/var/lib/datasync-warden-$n left after purge"
    ct test -e "/etc/systemd/system/multi-user.target.wants/$(iunit "$n")" && fail "enablement of $(iunit "$n") left after purge"
  done
  ct test -f /var/lib/datasync-warden-backup/state.json || fail "purge removed /var/lib/datasync-warden-backup (a copy of a's state), which is not the package's"
  ct test -f /var/lib/private/datasync-warden-exporter/data || fail "purge removed /var/lib/private/datasync-warden-exporter, another unit's state"
  ok "dpkg -P: the states of instances a (enabled) and b (disabled, configured) and their enablement removed; kept: a copy of a's state in /var/lib/datasync-warden-backup (despite a directory /etc/datasync-warden/a backup/) and another unit's /var/lib/private/datasync-warden-exporter"
}
