#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser): installs it when missing and prints
# its path. Playwright's own browser download cannot run here; the tests drive this one.
# Idempotent: when chromium is already installed it only prints the path.
set -euo pipefail

find_chromium() {
  local name
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

if ! path=$(find_chromium); then
  if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    echo "chromium: not installed, and installing it needs root (apt-get install chromium)" >&2
    exit 1
  fi
  sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  echo "chromium: installing Debian's chromium (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >&2
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >&2
  path=$(find_chromium) || { echo "chromium: installed, but not on PATH" >&2; exit 1; }
fi
echo "$path"
