#!/usr/bin/env bash
# Installs what Rachis needs on Debian 12 (system packages through apt-get, Python packages the tests use through
# pip) and builds it. Safe to run again: it installs only what is missing.
#   CONFIG=release scripts/setup.sh     build the release configuration (default: debug)
#   LIBTORCH=/path scripts/setup.sh     build against another libtorch (see README)
set -euo pipefail
cd "$(dirname "$0")/.."

# libgloo-dev: the Gloo headers that libtorch's c10d ProcessGroupGloo.hpp includes (training across processes).
# libopenblas0-openmp: Debian's libtorch calls the generic libblas.so.3, which is netlib's reference BLAS unless an
# optimised one is installed; OpenBLAS (its OpenMP build, sharing libtorch's threads) takes that name through
# update-alternatives. With the reference BLAS, perf put a fifth of `rachis model summary --time` in its sgemm, and
# inference over one 24x96x64 volume took 0.24 s against 0.18 s with OpenBLAS (`rachis bench run`, 5 December).
packages=(libtorch-dev libgloo-dev libhdf5-dev libopenblas0-openmp pkg-config zlib1g-dev libpng-dev python3-pip)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "setup: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Files written by other tools (nibabel, SimpleITK, h5py) check Rachis's readers and writers in the tests.
if ! python3 -c 'import nibabel, SimpleITK, h5py' 2>/dev/null; then
    echo "setup: installing nibabel, SimpleITK and h5py from PyPI" >&2
    python3 -m pip install --quiet --disable-pip-version-check nibabel SimpleITK h5py \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages nibabel SimpleITK h5py
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "setup: swift is not on PATH. Install Swift 6 (https://www.swift.org/install/linux/) and run this again." >&2
    exit 1
fi

# RACHIS_SWIFT_FLAGS: extra build flags (scripts/test.sh: warnings as errors, for the project's targets and the
# dependencies alike; SwiftPM keeps the dependencies' warnings quiet).
# shellcheck disable=SC2086
swift build -c "${CONFIG:-debug}" ${RACHIS_SWIFT_FLAGS:-}
