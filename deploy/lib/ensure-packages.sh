#!/usr/bin/env bash
# Ensure the Debian packages mkube's node tooling needs are installed.
# Usage: ensure-packages.sh [extra-package ...]
# Idempotent: only calls apt-get when something is missing; runs
# `apt-get update` once and retries when an install fails.
set -euo pipefail

MKUBE_BASE_PACKAGES=(containerd runc containernetworking-plugins busybox-static iproute2 nftables iptables)

ensure_packages() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-packages: missing ${missing[*]} and not root" >&2
    return 1
  fi
  echo "ensure-packages: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Serialise concurrent installers (several tests may call this at once).
  exec 9>/var/lock/mkube-ensure-packages.lock
  flock -w 600 9 || { echo "ensure-packages: timed out waiting for the install lock" >&2; return 1; }
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
  flock -u 9
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  ensure_packages "${MKUBE_BASE_PACKAGES[@]}" "$@"
fi
