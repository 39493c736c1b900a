#!/usr/bin/env bash
# The main job, end to end on the built-in default: installs what is missing, builds (release), synthesizes the
# default phantom dataset, trains the multitask model briefly (examples/configs/base.yaml), predicts the test
# subjects, evaluates the predictions, checks that the class decisions come from voxels of their vertebrae, and
# writes the HTML report. Outputs go to out/demo/ (or $OUT); EPOCHS (default 24, under 10 minutes of training on 2
# cores) sets the training length, SEED (default 0) the training seed.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=release scripts/setup.sh
out="${OUT:-out/demo}"
epochs="${EPOCHS:-24}"
seed="${SEED:-0}"
mkdir -p "$out"
rachis() { .build/release/rachis "$@"; }

echo "== engine"
rachis info | head -5
echo
echo "== dataset: synthesize the default phantom recipe and validate it"
rachis dataset synth --recipe datasets/default.yaml --out "$out/phantoms.h5" --force
rachis dataset validate "$out/phantoms.h5"
echo
echo "== training: the multitask model, $epochs epochs, seed $seed (progress on stderr; metrics.csv and progress.png in the run folder)"
rm -rf "$out/run"
start=$(date +%s)
rachis train --data "$out/phantoms.h5" --config examples/configs/base.yaml --run "$out/run" --seed "$seed" --set train.epochs="$epochs"
echo "training took $(( $(date +%s) - start )) s"
echo
echo "== predict the test subjects: vertebrae, levels (decoded jointly in anatomical order), classes"
rm -rf "$out/predictions" "$out/report"
rachis predict --checkpoint "$out/run/checkpoint_best.h5" --data "$out/phantoms.h5" --part test --out "$out/predictions"
echo
echo "== evaluate against the ground truth"
rachis evaluate --predictions "$out/predictions" --data "$out/phantoms.h5"
echo
echo "== attribution check: does each class decision come from its vertebra? (the first three test subjects)"
subjects=$(ls "$out/predictions" | sed -n 's/_vertebrae\.nii\.gz$//p' | head -3 | sed 's/^/--subject /')
status=0
# shellcheck disable=SC2086
rachis attribution validate --checkpoint "$out/run/checkpoint_best.h5" --predictions "$out/predictions" $subjects || status=$?
if [ "$status" -eq 2 ]; then
    echo "(exit 2: the check flagged decisions whose evidence lies outside their vertebra: rachis attribution validate gates a model in a pipeline; see docs/attribution.md)"
elif [ "$status" -ne 0 ]; then
    exit "$status"
fi
echo
echo "== report"
rachis report --predictions "$out/predictions" --evaluation "$out/predictions/evaluation.json" --out "$out/report"
echo
echo "Dataset:     $out/phantoms.h5"
echo "Run:         $out/run (metrics.csv, progress.png, checkpoint_best.h5)"
echo "Predictions: $out/predictions (evaluation.json, attribution/)"
echo "Report:      $out/report/index.html"
