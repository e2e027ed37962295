#!/usr/bin/env bash
# Installs the system libraries Ember builds against, when they are missing:
# oneDNN (libdnnl-dev) for the CPU kernels. Needs root (or sudo) the first time.
set -euo pipefail

packages=(libdnnl-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing ${missing[*]} ..."
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
