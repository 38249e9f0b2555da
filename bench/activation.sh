#!/usr/bin/env bash
# Benchmark (not a test): wall time to activate one DataSync agent, two ways, against the
# same datasync-sim binary on loopback:
#   warden: target/release/datasync-warden activate --config CONFIG
#   manual: the article's way, curl for the key, then `aws datasync create-agent`
# Usage: bench/activation.sh [-n N]   (N also from BENCH_ITERATIONS; default 10)
set -euo pipefail

cd "$(dirname "$0")/.."
N=${BENCH_ITERATIONS:-10}
while getopts 'n:h' opt; do
  case $opt in
    n) N=$OPTARG ;;
    *) echo "usage: $0 [-n N]" >&2; exit 2 ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "bench: -n needs a positive integer, got '$N'" >&2; exit 2; }

WARDEN=${CARGO_TARGET_DIR:-target}/release/datasync-warden
SIM=${CARGO_TARGET_DIR:-target}/release/datasync-sim
AWS=.venv/bin/aws
VPCE=vpce-0123456789abcdef0 ENDPOINT_IP=172.16.1.10
SUBNET=arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0123456789abcdef0
SG=arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0
ARN_RE='arn:aws:datasync:us-east-1:[0-9]{12}:agent/agent-[0-9a-f]{17}'

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-activation.XXXXXX")
SIM_PID=
stop_sim() {
  [[ -z $SIM_PID ]] || { kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; }
  SIM_PID=
}
trap 'stop_sim; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM # route signals through the EXIT trap
die() { echo "bench: FAILED: $*" >&2; exit 1; }

# --- setup (not timed) ---------------------------------------------------------------
echo "building (release)..." >&2
cargo build --release -q -p datasync-warden -p datasync-sim
if [[ ! -x $AWS ]]; then
  echo "creating .venv with awscli 1.45.11..." >&2
  python3 -m venv .venv && .venv/bin/pip install -q 'awscli==1.45.11'
fi

# A sealed AWS environment: dummy static credentials (the simulator checks no signature),
# no profile, no IMDS lookup, no ~/.aws files, no pager. HOME is a temp dir for the same
# reason (the CLI also looks in ~/.aws for models and plugins). No proxy for loopback.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION \
  AWS_ENDPOINT_URL AWS_ENDPOINT_URL_DATASYNC AWS_CA_BUNDLE
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=x AWS_EC2_METADATA_DISABLED=true \
  AWS_CONFIG_FILE=$WORK/no-aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/no-aws-credentials \
  AWS_PAGER= HOME=$WORK/home NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
mkdir "$HOME"

# A fresh simulator per run: it allows one activation per process (CreateAgent closes the
# agent port). Sets AGENT_PORT and API_URL from the JSON line it prints once bound.
start_sim() {
  : >"$WORK/sim.out"
  "$SIM" --agent-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 >"$WORK/sim.out" 2>"$WORK/sim.err" &
  SIM_PID=$!
  local line='' i
  for ((i = 0; i < 200; i++)); do # up to 10 s
    IFS= read -r line <"$WORK/sim.out" || true
    [[ $line == *'}' ]] && break
    kill -0 "$SIM_PID" 2>/dev/null || die "datasync-sim exited: $(cat "$WORK/sim.err")"
    sleep 0.05
  done
  [[ $line =~ \"agent\":\"127\.0\.0\.1:([0-9]+)\".*\"api\":\"(http://127\.0\.0\.1:[0-9]+)\" ]] ||
    die "datasync-sim did not print its ports (got '$line')"
  AGENT_PORT=${BASH_REMATCH[1]} API_URL=${BASH_REMATCH[2]}
}

# Each run_* times only the activation itself and appends milliseconds to a file.
run_warden() {
  local d=$WORK/warden-$1 t0 t1 rc=0
  mkdir "$d"
  cat >"$d/config.toml" <<EOF
[agent]
address = "127.0.0.1"
name = "bench"
activation_port = $AGENT_PORT
[endpoint]
region = "us-east-1"
vpc_endpoint_id = "$VPCE"
ip = "$ENDPOINT_IP"
subnet_arn = "$SUBNET"
security_group_arn = "$SG"
[aws]
endpoint_url = "$API_URL"
[state]
dir = "$d/state"
EOF
  t0=$(date +%s%N)
  "$WARDEN" activate --config "$d/config.toml" >"$d/out" 2>"$d/err" || rc=$?
  t1=$(date +%s%N)
  ((rc == 0)) || die "warden iteration $1 exited $rc: $(cat "$d/err")"
  [[ $(<"$d/out") =~ ^$ARN_RE$ ]] || die "warden iteration $1 printed no ARN: $(cat "$d/out" "$d/err")"
  echo $(((t1 - t0) / 1000)) >>"$WORK/warden.us"
}

run_manual() {
  local d=$WORK/manual-$1 t0 t1 key rc=0
  mkdir "$d"
  t0=$(date +%s%N)
  key=$(curl -s -G --data-urlencode activationRegion=us-east-1 --data-urlencode gatewayType=SYNC \
    --data-urlencode endpointType=PRIVATE_LINK --data-urlencode privateLinkEndpoint=$ENDPOINT_IP \
    --data-urlencode no_redirect "http://127.0.0.1:$AGENT_PORT/") || rc=$?
  ((rc == 0)) || die "curl iteration $1 exited $rc"
  "$AWS" datasync create-agent --endpoint-url "$API_URL" --region us-east-1 \
    --activation-key "$key" --agent-name bench --vpc-endpoint-id "$VPCE" \
    --subnet-arns "$SUBNET" --security-group-arns "$SG" >"$d/out" 2>"$d/err" || rc=$?
  t1=$(date +%s%N)
  ((rc == 0)) || die "aws iteration $1 (key '$key') exited $rc: $(cat "$d/err")"
  grep -Eq "\"AgentArn\": \"$ARN_RE\"" "$d/out" || die "aws iteration $1 returned no AgentArn: $(cat "$d/out")"
  echo $(((t1 - t0) / 1000)) >>"$WORK/manual.us"
}

# --- header ----------------------------------------------------------------------------
model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
echo "machine:  $(nproc) CPUs, ${model:-unknown CPU}, $(uname -sr)"
echo "tools:    $("$WARDEN" --version) | $("$AWS" --version 2>&1) | $(curl --version | head -1 | cut -d' ' -f1-3)"
echo "command:  bench/activation.sh -n $N   (fresh datasync-sim per run, start-up not timed)"
echo "  warden: $WARDEN activate --config CONFIG"
echo "  manual: curl -s -G --data-urlencode activationRegion=us-east-1 --data-urlencode gatewayType=SYNC" \
  "--data-urlencode endpointType=PRIVATE_LINK --data-urlencode privateLinkEndpoint=$ENDPOINT_IP" \
  "--data-urlencode no_redirect http://127.0.0.1:PORT/"
echo "          && $AWS datasync create-agent --endpoint-url API --region us-east-1 --activation-key KEY" \
  "--agent-name bench --vpc-endpoint-id $VPCE --subnet-arns $SUBNET --security-group-arns $SG"

# --- runs: alternate which method goes first, so neither always gets the warmer caches ---
for ((i = 1; i <= N; i++)); do
  if ((i % 2)); then order='warden manual'; else order='manual warden'; fi
  for m in $order; do
    start_sim
    "run_$m" "$i"
    stop_sim
  done
  printf '  iteration %d/%d: warden %s ms, manual %s ms\n' "$i" "$N" \
    "$(tail -1 "$WORK/warden.us" | awk '{printf "%.1f", $1/1000}')" \
    "$(tail -1 "$WORK/manual.us" | awk '{printf "%.1f", $1/1000}')"
done

# --- summary -----------------------------------------------------------------------------
# Prints "median min max" in ms for a file of microsecond samples.
stats() {
  sort -n "$1" | awk '{v[NR] = $1} END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f %.1f %.1f\n", m / 1000, v[1] / 1000, v[NR] / 1000 }'
}
read -r wmed wmin wmax < <(stats "$WORK/warden.us")
read -r mmed mmin mmax < <(stats "$WORK/manual.us")
echo
printf '%-16s %10s %10s %10s   (n=%d each)\n' method 'median ms' 'min ms' 'max ms' "$N"
printf '%-16s %10s %10s %10s\n' datasync-warden "$wmed" "$wmin" "$wmax"
printf '%-16s %10s %10s %10s\n' 'curl + aws cli' "$mmed" "$mmin" "$mmax"
awk -v m="$mmed" -v w="$wmed" 'BEGIN {
  if (m >= w) printf "datasync-warden is %.1fx faster (median)\n", m / w
  else printf "datasync-warden is %.1fx slower (median)\n", w / m }'
