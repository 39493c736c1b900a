#!/usr/bin/env bash
# The shortcut experiment of docs/attribution.md with the multitask model itself (examples/configs/base.yaml, every
# head on), as issue 16 asks: models trained on phantoms whose bright cue in front of each vertebra follows its
# class 90 % of the time (datasets/shortcut.yaml): (a) the classifier pooling the decoder's features, unconstrained;
# (b) the same with the attribution constraint (loss.attribution.weight); (c) the classifier pooling its local
# branch's features (model.classifierFeatures: local), no penalty; (d) the local branch over each vertebra's body
# alone (localInside, base.yaml's since 4 December), no penalty. Each is checked on the test set where
# the cue no longer follows the class (examples/attribution/shortcut-test.yaml): the attribution check on the
# reference regions, and the classification (balanced accuracy, AUC) of `predict` + `evaluate` on the same subjects.
#   OUT (default out/attribution-multitask), EPOCHS (24), WEIGHT (1), THREADS (1 each: the runs go side by side),
#   SEED (0), RUNS (default "a-unconstrained b-constrained c-local d-localInside"), RACHIS (default .build/release/rachis).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-out/attribution-multitask}"
epochs="${EPOCHS:-24}"
weight="${WEIGHT:-1}"
threads="${THREADS:-1}"
seed="${SEED:-0}"
rachis() { "${RACHIS:-.build/release/rachis}" "$@"; }
mkdir -p "$out"
[ -f "$out/shortcut.h5" ] || rachis dataset synth --recipe datasets/shortcut.yaml --out "$out/shortcut.h5"
[ -f "$out/test.h5" ] || rachis dataset synth --recipe examples/attribution/shortcut-test.yaml --out "$out/test.h5"
train() {  # name extra-settings...
    local name=$1; shift
    rm -rf "$out/$name"
    /usr/bin/time -f "$name: %e s wall, %M KB peak" "${RACHIS:-.build/release/rachis}" train --data "$out/shortcut.h5" \
        --config examples/configs/base.yaml --run "$out/$name" --seed "$seed" --threads "$threads" --set train.epochs="$epochs" "$@" \
        2> "$out/$name.train.log"
}
runs="${RUNS:-a-unconstrained b-constrained c-local d-localInside}"
for name in $runs; do
    case "$name" in
        a-unconstrained) train "$name" --set model.classifierFeatures=decoder & ;;
        b-constrained) train "$name" --set model.classifierFeatures=decoder --set loss.attribution.weight="$weight" & ;;
        c-local) train "$name" --set model.classifierFeatures=local & ;;
        d-localInside) train "$name" --set model.classifierFeatures=localInside & ;;
        *) echo "unknown run $name (a-unconstrained, b-constrained, c-local, d-localInside)" >&2; exit 1 ;;
    esac
done
wait
for name in $runs; do
    echo "== $name ($(tail -1 "$out/$name.train.log"))"
    rm -rf "$out/$name.pred"
    rachis predict --checkpoint "$out/$name/checkpoint_best.h5" --data "$out/test.h5" --part all --out "$out/$name.pred" --threads 2 > /dev/null
    rachis evaluate --predictions "$out/$name.pred" --data "$out/test.h5" | grep -E "balanced accuracy|macro AUC|identification rate"
    rachis attribution validate --checkpoint "$out/$name/checkpoint_best.h5" --data "$out/test.h5" --part all \
        --out "$out/$name/attribution" --no-maps || true
done
