# shellcheck shell=bash
# The cargo-installed tools of the test scripts (cargo-deb, cargo-fuzz),
# installed only when missing. Sourced after scripts/lib/timing.sh.
#
# They run once per CI run on small inputs, so they are built for build time, not speed: no LTO,
# 16 codegen units, opt-level 1 (measured in CHANGELOG.md, issue 11: opt-level 0 saves little more
# and leaves the packers' compression code slow), no debug info, no incremental state. All of
# them share one target directory, so the dependencies they have in common (clap, serde, ...)
# compile once per run, and a rerun on the same machine finds them built.
TOOLS_TARGET_DIR=${TOOLS_TARGET_DIR:-$(pwd)/target/tools}

# cargo_tool CRATE: `cargo install CRATE --locked` with the profile above, timed.
cargo_tool() {
  timed "cargo install $1" env \
    CARGO_TARGET_DIR="$TOOLS_TARGET_DIR" \
    CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_INCREMENTAL=false \
    cargo install "$1" --locked
}

# need_cargo_tool CRATE CHECK...: installs CRATE unless the command CHECK... succeeds.
need_cargo_tool() {
  local crate=$1
  shift
  if "$@" >/dev/null 2>&1; then
    timing_skip "cargo install $crate" present
  else
    printf '\n==> cargo install %s\n' "$crate"
    cargo_tool "$crate"
  fi
}

# apt_install PACKAGE...: apt-get update (once per run) and install. One at a time: scripts/test
# runs installs in the background beside others, and dpkg takes no second writer.
APT_LOCK=/run/lock/datasync-warden-apt.lock
apt_install() {
  printf 'apt-get install %s\n' "$*"
  local stamp=${DSW_TIMINGS:-/nonexistent}.apt-updated
  flock "$APT_LOCK" sh -ec '
    stamp=$1
    shift
    if [ ! -e "$stamp" ]; then apt-get update -qq; : >"$stamp" 2>/dev/null || true; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "$@" >/dev/null' sh "$stamp" "$@"
}
