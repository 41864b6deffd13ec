#!/usr/bin/env bash
# wrk, the HTTP load generator of `python -m bench http`: installs the Debian package when it
# is missing (needs root and apt-get), then prints the path of the binary.
#
#   scripts/wrk.sh
set -euo pipefail

die() { echo "wrk: $*" >&2; exit 1; }

if ! command -v wrk >/dev/null; then
  command -v apt-get >/dev/null \
    || die "not installed and there is no apt-get here; install wrk (https://github.com/wg/wrk)"
  [[ $EUID -eq 0 ]] || die "not installed; install it as root: apt-get install -y wrk"
  echo "installing wrk (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  out=$(apt-get update -qq 2>&1) || { echo "$out" | tail -n 20 >&2; die "apt-get update failed"; }
  # Wait for a concurrent apt/dpkg (e.g. `make services` installing) instead of failing.
  out=$(apt-get install -y -qq -o DPkg::Lock::Timeout=300 wrk 2>&1) \
    || { echo "$out" | tail -n 20 >&2; die "apt-get install -y wrk failed"; }
  command -v wrk >/dev/null || die "apt-get installed wrk, but it is not on PATH"
fi
command -v wrk
