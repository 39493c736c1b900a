#!/usr/bin/env bash
# The loose-label evidence of docs/loose-labels.md, on phantoms (examples/loose-labels/phantoms.yaml), every model
# scored with rachis predict + rachis evaluate on one held-out test set with full labels (test.yaml):
#   missing   segmentation Dice against the share of missing structure labels (FRACTIONS), without and with one
#             round of MC-dropout confidence relabeling (rachis relabel at THRESHOLD, then training again from scratch
#             on the relabelled file, for RELABEL_FRACTIONS)
#   boxes     annotation modes full:box 1:3 by recipe weight (with seed 3100: 2 full and 14 box subjects, 2 + 8 in the
#             training split): boxes used (loss.boxes) or ignored; full:descriptors 1:3 (the same 2 full subjects, 14
#             descriptor-only ones) with loss.descriptors; against all 16 with full masks (missing, fraction 0)
#   descriptors  16 descriptor-only phantoms (no voxel labels at all), loss.descriptors with the config's defaults
#   classes   per-vertebra classification on a mix of loose annotations (full, partial, box, raters, class only): the
#             classifier (with the identification head, which gives the regions of vertebrae without labels) with and
#             without the auxiliary segmentation trained from the loose labels
# Results: one line per model in $OUT/results.tsv (default out/loose-labels). EPOCHS (default 20) and THREADS
# (default 2) set the training length and libtorch's threads; PARTS picks the experiments; SEEDS (default "1") the
# training seeds (initialisation, crops, augmentation, dropout; the phantoms are the same for every seed): every part
# runs for the first seed, then for the next, and each run's name ends in -s<seed>. COUNT (default 16, the recipe's)
# sets the number of training phantoms.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-out/loose-labels}"
epochs="${EPOCHS:-20}"
threads="${THREADS:-2}"
fractions="${FRACTIONS:-0 0.3 0.5 0.7 0.9}"
relabel_fractions="${RELABEL_FRACTIONS:-$fractions}"
threshold="${THRESHOLD:-0.9}"
parts="${PARTS:-missing boxes descriptors classes}"
seeds="${SEEDS:-1}"
count="${COUNT:-16}"
rachis() { .build/release/rachis "$@"; }
mkdir -p "$out"
results="$out/results.tsv"
[ -f "$results" ] || printf 'experiment\tsetting\tseed\trun\tforegroundDice\tbodyDice\tdiscDice\tcanalDice\tposteriorDice\tbalancedAccuracy\tseconds\n' > "$results"

synth() {  # name annotationModes partialFraction
    sed -e "s/^annotationModes: .*/annotationModes: $2/" -e "s/^partialFraction: .*/partialFraction: $3/" -e "s/^count: .*/count: $count/" \
        examples/loose-labels/phantoms.yaml > "$out/$1.yaml"
    rachis dataset synth --recipe "$out/$1.yaml" --out "$out/$1.h5" --force > /dev/null
}
train() {  # run dataset settings...
    local name=$1 data=$2; shift 2
    rm -rf "$out/$name"
    local start=$SECONDS
    rachis train --data "$data" --config examples/loose-labels/train.yaml --run "$out/$name" --threads "$threads" \
        --seed "$seed" --set train.epochs="$epochs" "$@" > "$out/$name.log" 2>&1
    echo $((SECONDS - start)) > "$out/$name/seconds"
}
score() {  # experiment setting run: predict and evaluate on the test set, append a line to results.tsv
    local run=$3
    rachis predict --checkpoint "$out/$run/checkpoint_last.h5" --data "$out/test.h5" --part all --out "$out/$run/test" \
        --threads "$threads" --log-level error > /dev/null
    rachis evaluate --predictions "$out/$run/test" --data "$out/test.h5" > /dev/null
    jq -r --arg e "$1" --arg s "$2" --arg seed "$seed" --arg r "$run" --arg t "$(cat "$out/$run/seconds")" '
        def f: if . == null then "n/a" else (. * 1000 | round / 1000 | tostring) end;
        def dice($n): (.aggregate.segmentation.perStructure[] | select(.name == $n) | .meanDice) // null;
        [$e, $s, $seed, $r, (.aggregate.segmentation.foregroundMeanDice | f), (dice("vertebral body") | f), (dice("intervertebral disc") | f),
         (dice("spinal canal") | f), (dice("posterior elements") | f), (.aggregate.classification.overall.balancedAccuracy | f), $t] | @tsv' \
        "$out/$run/test/evaluation.json" | tee -a "$results"
}

valscore() {  # experiment setting run: the last epoch's validation balanced accuracy and AUC (metrics.csv)
    python3 - "$1" "$2" "$seed" "$3" "$out/$3/metrics.csv" "$(cat "$out/$3/seconds")" <<'PY' | tee -a "$results"
import csv, sys
e, s, seed, r, path, t = sys.argv[1:]
row = list(csv.DictReader(open(path)))[-1]
f = lambda k: "n/a" if row.get(k, "nan") in ("", "nan") else "%.3f" % float(row[k])
print("\t".join([e, s + " (validation split; AUC " + f("val.metric.auc") + ")", seed, r, f("val.metric.dice"), "n/a", "n/a", "n/a", "n/a", f("val.metric.balancedAccuracy"), t]))
PY
}

rachis dataset synth --recipe examples/loose-labels/test.yaml --out "$out/test.h5" --force > /dev/null

synth_done=""
for seed in $seeds; do
for part in $parts; do
    case $part in
    missing)
        for f in $fractions; do
            case " $synth_done " in *" partial-$f "*) ;; *) synth "partial-$f" "{partial: 1}" "$f"; synth_done="$synth_done partial-$f" ;; esac
            train "missing-$f-s$seed" "$out/partial-$f.h5"
            score missing "$f" "missing-$f-s$seed"
        done
        for f in $relabel_fractions; do
            # f = 0 leaves no voxel unlabelled: relabeling has nothing to decide.
            [ "$f" = 0 ] && continue
            rachis relabel --checkpoint "$out/missing-$f-s$seed/checkpoint_last.h5" --data "$out/partial-$f.h5" \
                --out "$out/relabelled-$f-s$seed.h5" --threshold "$threshold" --samples 8 --threads "$threads" --force | tail -1
            train "relabel-$f-s$seed" "$out/relabelled-$f-s$seed.h5"
            score "missing+relabel" "$f" "relabel-$f-s$seed"
        done
        ;;
    boxes)
        synth boxes "{full: 1, box: 3}" 0.0
        train "boxes-ignored-s$seed" "$out/boxes.h5"
        score boxes "full:box 1:3, boxes ignored" "boxes-ignored-s$seed"
        train "boxes-used-s$seed" "$out/boxes.h5" --set loss.boxes.weight=1
        score boxes "full:box 1:3, loss.boxes" "boxes-used-s$seed"
        # The same anatomy and the same full subjects (the annotation mode is drawn with the same weights).
        synth descriptors "{full: 1, descriptors: 3}" 0.0
        train "descriptors-used-s$seed" "$out/descriptors.h5" --set loss.descriptors.weight=1
        score boxes "full:descriptors 1:3, loss.descriptors" "descriptors-used-s$seed"
        ;;
    descriptors)
        synth desconly "{descriptors: 1}" 0.0
        train "descriptors-only-s$seed" "$out/desconly.h5" --set loss.descriptors.weight=1
        score descriptors "descriptors only (16), loss.descriptors" "descriptors-only-s$seed"
        ;;
    classes)
        synth mixed "{full: 1, partial: 1, box: 1, raters: 1, classOnly: 2}" 0.5
        train "classes-multitask-s$seed" "$out/mixed.h5" --set model.heads.classification=true --set model.heads.identification=true \
            --set loss.boxes.weight=1 --set loss.raters.consensus=staple --set loss.descriptors.weight=0.1
        # Scored on the mixed file's validation split: test-set scoring (rachis predict) needs the localization head.
        valscore classes "classification + identification + loose-label segmentation" "classes-multitask-s$seed"
        train "classes-alone-s$seed" "$out/mixed.h5" --set model.heads.classification=true --set model.heads.identification=true \
            --set model.heads.segmentation=false
        valscore classes "classification + identification, no segmentation" "classes-alone-s$seed"
        ;;
    *) echo "unknown part $part (missing, boxes, descriptors, classes)" >&2; exit 2 ;;
    esac
done
done
