#!/usr/bin/env bash
# The main job, end to end on the built-in default: installs what is missing, builds (release), prints the engine's
# configuration, synthesizes the default phantom dataset, validates and summarises it, and trains a small 3D conv
# net on generated volumes, checking that the loss falls. Outputs go to out/demo/ (or $OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=release scripts/setup.sh
out="${OUT:-out/demo}"
mkdir -p "$out"
rachis() { .build/release/rachis "$@"; }

echo "== engine"
rachis info | head -5
echo
echo "== dataset: synthesize the default phantom recipe, validate, summarise"
rachis dataset synth --recipe datasets/default.yaml --out "$out/phantoms.h5" --force
rachis dataset validate "$out/phantoms.h5"
rachis dataset inspect "$out/phantoms.h5" | tail -6
echo
echo "== engine check: a short training of a small 3D conv net"
rachis selftest
echo
echo "Dataset: $out/phantoms.h5 (rachis dataset inspect $out/phantoms.h5)"
