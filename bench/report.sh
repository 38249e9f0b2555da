#!/usr/bin/env bash
# Benchmark report (not a test): builds release binaries (the daemon, the simulator and the
# bare-SDK floor bench/floor; CARGO_TARGET_DIR honoured), installs the peers when missing (AWS
# CLI and boto3 in .venv, wrk, prometheus-node-exporter, nftables, valgrind), then runs bench/report.py,
# which prints a table of figures and ratios and writes docs/PERFORMANCE.md.  Root is needed
# for the port-sweep case (network namespaces); without it that row is skipped.
#   bench/report.sh   (BENCH_ITERATIONS=10 BENCH_POLL_SECONDS=60 BENCH_WRK_SECONDS=10 BENCH_CALLGRIND_POLLS=20)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q --locked -p datasync-warden -p datasync-sim -p datasync-warden-bench-floor
# The same pins as scripts/test, plus boto3 for the warm-client peer (bench/boto3_poll.py).
PY_PINS=("awscli==1.45.11" "botocore==1.43.11" "boto3==1.43.11")
if ! .venv/bin/python -c 'import boto3, awscli' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "${PY_PINS[@]}"
fi
missing=()
for pair in wrk:wrk nft:nftables prometheus-node-exporter:prometheus-node-exporter valgrind:valgrind; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
exec python3 bench/report.py
