#!/bin/bash
# Network-namespace lab for tests/netns.rs (issue 6, part 1: real network faults).
#
#   topology.sh up ID     create dw-host-ID, dw-agent-ID, dw-ep-ID and their links
#   topology.sh down ID   kill every process left in them, delete them (idempotent)
#   topology.sh deps      install nftables / iptables / iproute2 only when missing
#
# Addresses exist only inside these namespaces; no namespace has a default route, so nothing
# can leave them:
#
#   dw-host-ID  to-agent 10.199.1.1/24  <-veth->  dw-agent-ID eth0 10.199.1.2/24
#               to-ep    10.199.2.1/24  <-veth->  dw-ep-ID    eth0 10.199.2.2/24
#
# The veths are created inside the namespaces (`ip -n NS link add ... peer ... netns NS2`), so
# no interface ever appears in the root namespace. dw-agent-ID and dw-ep-ID each get an nftables
# table `inet dw` with an empty `input` chain (policy accept) where the test adds its faults.
set -euo pipefail

cmd=${1:-}
id=${2:-}

deps() {
    local missing=()
    command -v nft >/dev/null 2>&1 || missing+=(nftables)
    command -v iptables >/dev/null 2>&1 || missing+=(iptables)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    if ((${#missing[@]})); then
        echo "topology.sh: installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2
    fi
}

names() {
    [[ $id =~ ^[0-9a-z]+$ ]] || { echo "topology.sh: bad id '$id'" >&2; exit 2; }
    H=dw-host-$id A=dw-agent-$id E=dw-ep-$id
}

down() {
    local ns pid
    for ns in "$H" "$A" "$E"; do
        [[ -e /run/netns/$ns ]] || continue
        # Only processes inside a namespace this lab created.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
    done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local left=0
        for ns in "$H" "$A" "$E"; do
            [[ -e /run/netns/$ns ]] && [[ -n $(ip netns pids "$ns" 2>/dev/null) ]] && left=1
        done
        ((left)) || break
        sleep 0.1
    done
    for ns in "$H" "$A" "$E"; do
        [[ -e /run/netns/$ns ]] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        # Deleting a namespace deletes its veth ends, and with them their peers.
        ip netns del "$ns" 2>/dev/null || true
    done
}

up() {
    # Any failure half-way tears down what was built.
    trap 'rc=$?; if ((rc)); then echo "topology.sh: setup failed, tearing down" >&2; down; fi; exit $rc' EXIT
    for ns in "$H" "$A" "$E"; do
        if [[ -e /run/netns/$ns ]]; then echo "topology.sh: $ns already exists" >&2; exit 1; fi
    done
    ip netns add "$H"
    ip netns add "$A"
    ip netns add "$E"
    for ns in "$H" "$A" "$E"; do ip -n "$ns" link set lo up; done
    ip -n "$H" link add to-agent type veth peer name eth0 netns "$A"
    ip -n "$H" link add to-ep type veth peer name eth0 netns "$E"
    ip -n "$H" addr add 10.199.1.1/24 dev to-agent
    ip -n "$A" addr add 10.199.1.2/24 dev eth0
    ip -n "$H" addr add 10.199.2.1/24 dev to-ep
    ip -n "$E" addr add 10.199.2.2/24 dev eth0
    ip -n "$H" link set to-agent up
    ip -n "$H" link set to-ep up
    ip -n "$A" link set eth0 up
    ip -n "$E" link set eth0 up
    for ns in "$A" "$E"; do
        ip netns exec "$ns" nft -f - <<'NFT'
table inet dw {
    chain input {
        type filter hook input priority 0; policy accept;
    }
}
NFT
    done
    # veth carrier comes up asynchronously: wait until all four ends are up.
    for _ in $(seq 50); do
        if ip -n "$H" -br link show to-agent | grep -q LOWER_UP &&
            ip -n "$H" -br link show to-ep | grep -q LOWER_UP &&
            ip -n "$A" -br link show eth0 | grep -q LOWER_UP &&
            ip -n "$E" -br link show eth0 | grep -q LOWER_UP; then
            trap - EXIT
            echo "topology.sh: $H $A $E up"
            return 0
        fi
        sleep 0.1
    done
    echo "topology.sh: links did not come up" >&2
    exit 1
}

case $cmd in
deps) deps ;;
up) names; deps; up ;;
down) names; down ;;
*) echo "usage: $0 up|down ID | deps" >&2; exit 2 ;;
esac
