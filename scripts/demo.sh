#!/usr/bin/env bash
# The main job, end to end on the built-in default: installs what is missing, builds (release), prints the engine's
# configuration, and trains a small 3D conv net on generated volumes, checking that the loss falls.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=release scripts/setup.sh
rachis() { .build/release/rachis "$@"; }
rachis info
echo
rachis selftest
