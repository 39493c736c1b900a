#!/usr/bin/env bash
# Do the auxiliary tasks help classification when few subjects are labelled? (issue 16; docs/learning.md)
# Trains on examples/learning/few-labels.yaml (9 labelled training subjects, the rest image only) with
#   multitask   every head (segmentation and the autoencoder too; the autoencoder also learns from the unlabelled
#               volumes, 25 % of the samples)
#   main-only   localization, identification and classification only (no segmentation, no autoencoder; no
#               unlabelled samples, which would train nothing)
# Both see the same labelled samples per epoch, pool the decoded vertebra for the classifier
# (model.classifierRegion=vertebra: the shipped segmentedBody needs the segmentation head), and are scored from
# their last checkpoint on a 60-subject development set drawn from the demo recipe with another seed (no training
# run sees it). One row per run goes to $OUT/results.tsv.
#   OUT (default out/ablation), SEEDS (default "0 1 2"), EPOCHS (default 30), RACHIS (default .build/release/rachis)
# The two variants of a seed train side by side, one thread each.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-out/ablation}"
seeds="${SEEDS:-0 1 2}"
epochs="${EPOCHS:-30}"
rachis() { "${RACHIS:-.build/release/rachis}" "$@"; }
mkdir -p "$out"
[ -f "$out/few.h5" ] || rachis dataset synth --recipe examples/learning/few-labels.yaml --out "$out/few.h5"
[ -f "$out/dev.h5" ] || rachis dataset synth --recipe datasets/default.yaml --seed 777 --count 60 --out "$out/dev.h5"
train() {  # name seed settings...
    local name=$1 seed=$2; shift 2
    local run="$out/$name-s$seed" start
    rm -rf "$run" "$run.pred"
    start=$(date +%s)
    rachis train --data "$out/few.h5" --config examples/configs/base.yaml --run "$run" --seed "$seed" --threads 1 \
        --set train.epochs="$epochs" --set model.classifierRegion=vertebra "$@" 2> "$run.train.log"
    echo $(( $(date +%s) - start )) > "$run.seconds"
}
score() {  # name seed
    local run="$out/$1-s$2"
    rachis predict --checkpoint "$run/checkpoint_last.h5" --data "$out/dev.h5" --part all --out "$run.pred" --threads 2 > /dev/null 2>&1
    rachis evaluate --predictions "$run.pred" --data "$out/dev.h5" > "$run.eval.txt"
    python3 - "$run.pred/evaluation.json" "$1" "$2" "$(cat "$run.seconds")" "$out/results.tsv" <<'PY'
import json, os, sys
ev, name, seed, seconds, table = sys.argv[1:]
e = json.load(open(ev))["aggregate"]
c, l = e["classification"]["overall"], e["localization"]
f = lambda x: "nan" if x is None else f"{x:.3f}"
row = {"variant": name, "seed": seed, "train_s": seconds, "balAcc": f(c.get("balancedAccuracy")), "auc": f(c.get("macroAUC")),
       "ident": f(l.get("identificationRate"))}
new = not os.path.exists(table)
with open(table, "a") as t:
    if new: t.write("\t".join(row) + "\n")
    t.write("\t".join(row.values()) + "\n")
print("\t".join(f"{k}={v}" for k, v in row.items()))
PY
}
for seed in $seeds; do
    train multitask "$seed" &
    train main-only "$seed" --set model.heads.segmentation=false --set model.heads.autoencoder=false --set loader.unlabelledFraction=0 &
    wait
    score multitask "$seed"
    score main-only "$seed"
done
