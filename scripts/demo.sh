#!/usr/bin/env bash
# The main job, end to end on the built-in default: installs what is missing, builds (release), prints the engine's
# configuration, synthesizes the default phantom dataset, validates and summarises it, and trains the multitask
# model on it briefly (examples/configs/base.yaml, 4 epochs). Outputs go to out/demo/ (or $OUT).
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
echo "== model"
rachis model summary --config examples/configs/base.yaml | tail -4
echo
echo "== training: the multitask model, 4 epochs (progress on stderr; metrics.csv and progress.png in the run folder)"
rm -rf "$out/run"
rachis train --data "$out/phantoms.h5" --config examples/configs/base.yaml --run "$out/run" --set train.epochs=4
echo
echo "Dataset: $out/phantoms.h5 (rachis dataset inspect $out/phantoms.h5)"
echo "Run:     $out/run (metrics.csv, progress.png, checkpoint_best.h5)"
