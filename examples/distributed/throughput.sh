#!/usr/bin/env bash
# Training across processes on this machine (README, "Training across processes and machines"): one process against
# two processes on loopback, with the same global batch (2) and config (examples/configs/base.yaml on the default
# phantoms), STEPS steps (default 12) of one epoch. Prints each run's training throughput (samples/s over all ranks,
# from training.log) and the two-process run's mean all-reduce time per step (train.allreduceSeconds in metrics.csv).
# Outputs in $OUT (default out/distributed); PORT (default 29500) is the rendezvous port on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-out/distributed}"
steps="${STEPS:-12}"
port="${PORT:-29500}"
rachis=.build/release/rachis
mkdir -p "$out"
[ -f "$out/phantoms.h5" ] || $rachis dataset synth --recipe datasets/default.yaml --out "$out/phantoms.h5"
common=(--data "$out/phantoms.h5" --config examples/configs/base.yaml --set train.epochs=1 --set train.stepsPerEpoch="$steps")
rm -rf "$out/one" "$out/two"
/usr/bin/time -f "one process: %e s wall" $rachis train "${common[@]}" --run "$out/one" --threads 2 --set loader.batchSize=2 >/dev/null
# Both ranks name the same --run folder; only rank 0 writes it.
pids=()
for rank in 1 0; do
    /usr/bin/time -f "two processes, rank $rank: %e s wall" $rachis train "${common[@]}" --run "$out/two" --threads 1 \
        --set loader.batchSize=1 --world-size 2 --rank $rank --master 127.0.0.1:"$port" >/dev/null &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
echo "one process:   $(grep -o '[0-9.]* samples/s' "$out/one/training.log" | tail -1)"
echo "two processes: $(grep -o '[0-9.]* samples/s' "$out/two/training.log" | tail -1)," \
     "all-reduce $(grep -o 'train.allreduceSeconds=[0-9.e-]*' "$out/two/training.log" | tail -1 | cut -d= -f2) s per step"
