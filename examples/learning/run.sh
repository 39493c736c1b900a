#!/usr/bin/env bash
# One learning experiment on the demo phantoms, scored on the VALIDATION split (the test split stays untouched while
# designs are chosen): trains with the given config overrides, predicts the validation subjects, evaluates them, and
# appends one row per run to $OUT/results.tsv.
#   NAME=meanmax SEED=1 EPOCHS=30 examples/learning/run.sh --set model.pooling=meanMax
#   PART=test ...   scores the test split instead (only for the final, chosen design)
# Needs a release build (CONFIG=release scripts/setup.sh); RACHIS=path runs another binary (e.g. a copy, so that a rebuild
# does not change a running experiment).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-out/learning}"
name="${NAME:-run}"
seed="${SEED:-1}"
epochs="${EPOCHS:-24}"
threads="${THREADS:-2}"
part="${PART:-val}"
config="${CONFIG_FILE:-examples/configs/base.yaml}"
rachis() { "${RACHIS:-.build/release/rachis}" "$@"; }
mkdir -p "$out"
data="$out/phantoms.h5"
[ -f "$data" ] || rachis dataset synth --recipe "${RECIPE:-datasets/default.yaml}" --out "$data"
run="$out/$name-s$seed"
rm -rf "$run" "$run.pred"
start=$(date +%s)
rachis train --data "$data" --config "$config" --run "$run" --seed "$seed" --threads "$threads" --set train.epochs="$epochs" "$@" 2> "$run.train.log"
seconds=$(( $(date +%s) - start ))
rachis predict --checkpoint "$run/checkpoint_best.h5" --data "$data" --part "$part" --out "$run.pred" --threads "$threads" > /dev/null 2>&1
rachis evaluate --predictions "$run.pred" --data "$data" > "$run.eval.txt"
python3 - "$run" "$run.pred/evaluation.json" "$name" "$seed" "$seconds" "$part" "$out/results.tsv" <<'PY'
import csv, json, sys
run, ev, name, seed, seconds, part, table = sys.argv[1:]
e = json.load(open(ev))["aggregate"]
rows = list(csv.DictReader(open(run + "/metrics.csv")))
last = rows[-1]
def f(x):
    return "nan" if x is None else f"{x:.3f}"
seg = {s["name"]: s for s in e["segmentation"]["perStructure"]}
loc, cls = e["localization"], e["classification"]["overall"]
cols = {
    "name": name, "seed": seed, "part": part, "epochs": last["epoch"], "train_s": seconds,
    "ident": f(loc.get("identificationRate")), "locMM": f(loc.get("meanDistanceMM")),
    "balAcc": f(cls.get("balancedAccuracy")), "auc": f(cls.get("macroAUC")),
    "dice": f(e["segmentation"].get("foregroundMeanDice")),
}
for k in ["vertebral body", "intervertebral disc", "spinal canal", "lesion", "posterior elements"]:
    cols[k.split()[-1]] = f(seg.get(k, {}).get("meanDice"))
new = not __import__("os").path.exists(table)
with open(table, "a") as t:
    if new: t.write("\t".join(cols) + "\n")
    t.write("\t".join(str(v) for v in cols.values()) + "\n")
print("\t".join(f"{k}={v}" for k, v in cols.items()))
PY
