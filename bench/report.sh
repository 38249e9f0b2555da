#!/usr/bin/env bash
# Benchmark report (not a test): builds release binaries, installs the peers when missing
# (AWS CLI in .venv, wrk, nftables), then runs bench/report.py, which prints a table of
# figures and ratios and writes docs/PERFORMANCE.md.  Root is needed for the port-sweep case
# (network namespaces); without it that row is skipped.
#   bench/report.sh            (BENCH_ITERATIONS=10 BENCH_POLL_SECONDS=30 BENCH_WRK_SECONDS=10)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p datasync-warden -p datasync-sim
[ -x .venv/bin/aws ] || { python3 -m venv .venv && .venv/bin/pip install -q "awscli==1.45.11" "botocore==1.43.11"; }
for tool in wrk nft; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk nftables >/dev/null; }
done
exec python3 bench/report.py
