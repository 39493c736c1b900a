#!/usr/bin/env bash
# How the training step's time and peak memory grow with the volume (crop) size and with the batch size, on the
# reference config: `rachis bench run` once per point, a table at the end (benchmarks/README.md has the results).
#   RACHIS=.build/release/rachis THREADS=2 benchmarks/scaling.sh [OUT]
# Volume sizes: phantoms of each shape are synthesized (4 subjects each) and trained on whole (crop = volume).
set -euo pipefail
cd "$(dirname "$0")/.."
rachis=${RACHIS:-.build/release/rachis}
threads=${THREADS:-$(nproc)}
steps=${STEPS:-3}
out=${1:-benchmarks/results/scaling}
mkdir -p "$out"

point() { # name dataset extra-args...
    local name=$1 data=$2
    shift 2
    "$rachis" bench run --config examples/configs/base.yaml --data "$data" --threads "$threads" --steps "$steps" --warmup 1 \
        --loader-batches 2 --inference-repeats 1 --output "$out/$name.json" "$@" >/dev/null
}

# Batch size, at the reference crop on the default phantoms.
"$rachis" dataset synth --recipe datasets/default.yaml --out "$out/default.h5" --force --count 8 >/dev/null
for batch in 1 2 4; do
    echo "scaling: batch $batch" >&2
    point "batch-$batch" "$out/default.h5" --set loader.batchSize=$batch
done

# Volume size, batch 1, whole volumes.
for shape in 24,96,64 32,128,96 48,160,128 64,192,160; do
    echo "scaling: volume $shape" >&2
    "$rachis" dataset synth --recipe datasets/default.yaml --out "$out/v$shape.h5" --force --count 4 --shape "$shape" >/dev/null
    point "volume-$shape" "$out/v$shape.h5" --set loader.batchSize=1 --set "loader.crop=[$shape]"
done

python3 - "$out" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print(f"{'point':22}{'voxels':>12}{'batch':>7}{'step s':>9}{'fwd s':>8}{'bwd s':>8}{'samples/s':>11}{'GFLOP/s':>9}{'peak RSS MiB':>14}")
for f in sorted(out.glob("*.json"), key=lambda p: (p.name.split("-")[0], json.loads(p.read_text())["batchSize"] * 10**9 + eval("*".join(map(str, json.loads(p.read_text())["crop"]))))):
    r = json.loads(f.read_text())
    voxels = r["crop"][0] * r["crop"][1] * r["crop"][2]
    print(f"{f.stem:22}{voxels:12,}{r['batchSize']:7}{r['stepSeconds']['median']:9.2f}{r['forwardSeconds']['median']:8.2f}"
          f"{r['backwardSeconds']['median']:8.2f}{r['computeSamplesPerSecond']:11.3f}{r['achievedGFLOPs']:9.1f}{r['peakRSSMBAfterTraining']:14.0f}")
EOF
