#!/usr/bin/env bash
# Iterative confidence relabeling (docs/loose-labels.md): train on partial labels, relabel with a falling confidence
# threshold, train again on each round's output. DATA (default: phantoms with half the structures unlabelled, made
# here), THRESHOLDS (default "0.95 0.9 0.85"), EPOCHS (default 10), SEED (default 1), THREADS (default: all cores) and
# OUT (default out/relabel-rounds). Every round's model is scored on the full-label test phantoms of
# examples/loose-labels/test.yaml (rachis predict + rachis evaluate): one line per round in $OUT/rounds.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-out/relabel-rounds}"
epochs="${EPOCHS:-10}"
thresholds="${THRESHOLDS:-0.95 0.9 0.85}"
seed="${SEED:-1}"
threads=(); [ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
rachis() { .build/release/rachis "$@"; }
mkdir -p "$out"
data="${DATA:-}"
if [ -z "$data" ]; then
    sed -e 's/^annotationModes: .*/annotationModes: {partial: 1}/' -e 's/^partialFraction: .*/partialFraction: 0.5/' \
        examples/loose-labels/phantoms.yaml > "$out/partial.yaml"
    rachis dataset synth --recipe "$out/partial.yaml" --out "$out/partial.h5" --force
    data="$out/partial.h5"
fi
rachis dataset synth --recipe examples/loose-labels/test.yaml --out "$out/test.h5" --force > /dev/null
printf 'round\tthreshold\tpseudoLabels\tforegroundDice\tbodyDice\tdiscDice\tcanalDice\n' > "$out/rounds.tsv"
train() {  # run dataset threshold pseudo-labels: train, then score on the test phantoms
    rm -rf "$out/$1"
    rachis train --data "$2" --config examples/loose-labels/train.yaml --run "$out/$1" --seed "$seed" --set train.epochs="$epochs" ${threads[@]+"${threads[@]}"}
    rachis predict --checkpoint "$out/$1/checkpoint_last.h5" --data "$out/test.h5" --part all --out "$out/$1/test" --log-level error ${threads[@]+"${threads[@]}"} > /dev/null
    rachis evaluate --predictions "$out/$1/test" --data "$out/test.h5" > /dev/null
    jq -r --arg r "$1" --arg t "$3" --arg p "$4" '
        def f: if . == null then "n/a" else (. * 1000 | round / 1000 | tostring) end;
        def dice($n): (.aggregate.segmentation.perStructure[] | select(.name == $n) | .meanDice) // null;
        [$r, $t, $p, (.aggregate.segmentation.foregroundMeanDice | f), (dice("vertebral body") | f), (dice("intervertebral disc") | f),
         (dice("spinal canal") | f)] | @tsv' "$out/$1/test/evaluation.json" | tee -a "$out/rounds.tsv"
}
train round-0 "$data" - 0
previous="$data"
round=0
for threshold in $thresholds; do
    round=$((round + 1))
    # Each round relabels the previous round's file: its pseudo-labels are dropped and decided again from the
    # ground truth, at this round's threshold, by the model trained on that file.
    summary=$(rachis relabel --checkpoint "$out/round-$((round - 1))/checkpoint_last.h5" --data "$previous" \
        --out "$out/round-$round.h5" --threshold "$threshold" --samples 8 --force ${threads[@]+"${threads[@]}"} | tail -1)
    echo "$summary"
    rachis dataset validate "$out/round-$round.h5"
    train "round-$round" "$out/round-$round.h5" "$threshold" "$(echo "$summary" | grep -oE '[0-9][0-9 ]* pseudo-labels' | head -1 | tr -d ' a-z-')"
    previous="$out/round-$round.h5"
done
