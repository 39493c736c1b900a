#!/usr/bin/env bash
# The demo phantom set re-rendered at three other spacings over the same field of view (84 x 192 x 128 mm; the
# anatomy depends only on millimetres), its test subjects predicted with a checkpoint (no flag: predict resamples
# to the training spacing) and evaluated, beside the set at the training spacing (docs/resampling.md).
#   benchmarks/resampling-spacings.sh CHECKPOINT [WORK_FOLDER]
set -euo pipefail
checkpoint=$(realpath "$1")
work=${2:-out/resampling-spacings}
recipe=$(realpath datasets/default.yaml)
rachis=${RACHIS:-$(realpath .build/release/rachis)}
mkdir -p "$work" && cd "$work"
declare -A shape=([s3.5x2x2]=24,96,64 [s3x1x1]=28,192,128 [s4x0.8x0.8]=21,240,160 [s1.5x1.5x1.5]=56,128,85)
declare -A spacing=([s3.5x2x2]=3.5,2,2 [s3x1x1]=3,1,1 [s4x0.8x0.8]=4,0.8,0.8 [s1.5x1.5x1.5]=1.5,1.5,1.5)
for name in s3.5x2x2 s3x1x1 s4x0.8x0.8 s1.5x1.5x1.5; do
    "$rachis" dataset synth --recipe "$recipe" --shape "${shape[$name]}" --spacing "${spacing[$name]}" -o "$name.h5" --force | tail -1
    "$rachis" predict --checkpoint "$checkpoint" --data "$name.h5" --part test --out "pred-$name" --force --log-level warning > /dev/null
    echo "$name:"
    "$rachis" evaluate --predictions "pred-$name" --data "$name.h5" | grep -E "identification rate|balanced accuracy"
done
