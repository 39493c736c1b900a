#!/usr/bin/env bash
# Iterative confidence relabeling (docs/loose-labels.md): train on partial labels, relabel with a falling confidence
# threshold, train again on each round's output. DATA (default: phantoms with half the structures unlabelled, made
# here), THRESHOLDS (default "0.95 0.9 0.85"), EPOCHS (default 10) and OUT (default out/relabel-rounds).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-out/relabel-rounds}"
epochs="${EPOCHS:-10}"
thresholds="${THRESHOLDS:-0.95 0.9 0.85}"
rachis() { .build/release/rachis "$@"; }
mkdir -p "$out"
data="${DATA:-}"
if [ -z "$data" ]; then
    sed -e 's/^annotationModes: .*/annotationModes: {partial: 1}/' -e 's/^partialFraction: .*/partialFraction: 0.5/' \
        examples/loose-labels/phantoms.yaml > "$out/partial.yaml"
    rachis dataset synth --recipe "$out/partial.yaml" --out "$out/partial.h5" --force
    data="$out/partial.h5"
fi
train() {  # run dataset
    rm -rf "$out/$1"
    rachis train --data "$2" --config examples/loose-labels/train.yaml --run "$out/$1" --seed 1 --set train.epochs="$epochs"
}
train round-0 "$data"
previous="$data"
round=0
for threshold in $thresholds; do
    round=$((round + 1))
    # Each round relabels the previous round's file: its pseudo-labels are dropped and decided again from the
    # ground truth, at this round's threshold, by the model trained on that file.
    rachis relabel --checkpoint "$out/round-$((round - 1))/checkpoint_last.h5" --data "$previous" \
        --out "$out/round-$round.h5" --threshold "$threshold" --samples 8 --force | tail -1
    rachis dataset validate "$out/round-$round.h5"
    train "round-$round" "$out/round-$round.h5"
    previous="$out/round-$round.h5"
done
