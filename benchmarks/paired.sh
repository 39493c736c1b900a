#!/usr/bin/env bash
# Paired runs for a noisy machine: three rounds, each running Rachis, PyTorch eager and PyTorch eager with Rachis's
# malloc settings back to back, all in channels-last-3d; prints samples/s, forward ms, backward ms, peak RSS MiB.
#   DATA=default.h5 OUT=results/ RACHIS=.build-torch2/release/rachis PYTHON="${PYTHON:-python3}" benchmarks/paired.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p "${OUT:-.}"
for i in 1 2 3; do
  "${RACHIS:-.build-torch2/release/rachis}" bench run --config examples/configs/base.yaml --data ${DATA:-default.h5} --threads 2 --steps 10 --warmup 3 --inference-repeats 1 --loader-batches 20 --channels-last --json 2>/dev/null > ${OUT:-.}/paired-$i-r.json
  python3 -c "import json;d=json.load(open('${OUT:-.}/paired-$i-r.json'));print('rachis        ', round(d['computeSamplesPerSecond'],3), round(d['forwardSeconds']['median']*1000), round(d['backwardSeconds']['median']*1000), round(d['peakRSSMBAfterTraining']))"
  "${PYTHON:-python3}" benchmarks/pytorch/bench.py --threads 2 --steps 10 --warmup 3 --inference-repeats 1 --channels-last --json ${OUT:-.}/paired-$i-p.json > /dev/null 2>&1
  python3 -c "import json;d=json.load(open('${OUT:-.}/paired-$i-p.json'));print('pytorch       ', round(d['samplesPerSecond'],3), round(d['forwardSeconds']*1000), round(d['backwardSeconds']*1000), round(d['trainingPeakRSSMB']))"
  MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456 "${PYTHON:-python3}" benchmarks/pytorch/bench.py --threads 2 --steps 10 --warmup 3 --inference-repeats 1 --channels-last --json ${OUT:-.}/paired-$i-q.json > /dev/null 2>&1
  python3 -c "import json;d=json.load(open('${OUT:-.}/paired-$i-q.json'));print('pytorch+malloc', round(d['samplesPerSecond'],3), round(d['forwardSeconds']*1000), round(d['backwardSeconds']*1000), round(d['trainingPeakRSSMB']))"
done
