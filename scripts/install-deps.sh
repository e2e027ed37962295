#!/usr/bin/env bash
# Installs the system libraries Ember builds against, when they are missing:
# oneDNN (libdnnl-dev) for the CPU kernels, zlib (zlib1g-dev) for compressed data
# files, libjpeg-turbo's TurboJPEG (libturbojpeg0-dev) for JPEG images, Open MPI
# (libopenmpi-dev, and openmpi-bin for mpirun) for distributed training and its tests,
# iproute2 (ip) for the network namespaces of scripts/check-multihost.sh, and the
# link-time name of GNU OpenMP
# (libgomp.so, from GCC's libgcc-N-dev), whose thread pool oneDNN and Ember's kernels
# share; and curl, unzip and CA certificates for scripts/fetch-minilm.sh, which fetches
# the pretrained all-MiniLM-L6-v2 that the sentence-embedding tests and the W7 benchmark
# read; qemu-user, whose emulated older CPUs scripts/check-portable.sh runs Ember on, and
# binutils, whose objdump it reads the binary with; and Python with venv for
# scripts/check-serve.sh (schemathesis and tritonclient against ember serve).
# Needs root (or sudo) the first time.
set -euo pipefail

packages=(libdnnl-dev zlib1g-dev libturbojpeg0-dev libopenmpi-dev openmpi-bin iproute2 curl unzip ca-certificates qemu-user binutils python3 python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ! ls /usr/lib/gcc/*/*/libgomp.so >/dev/null 2>&1; then
    # The newest libgcc-N-dev the distribution offers (libgcc-12-dev on Debian 12).
    gcc_dev=$(apt-cache pkgnames libgcc- 2>/dev/null | grep -E '^libgcc-[0-9]+-dev$' | sort -t- -k2 -n | tail -n 1)
    missing+=("${gcc_dev:-libgcc-12-dev}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing ${missing[*]} ..."
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
