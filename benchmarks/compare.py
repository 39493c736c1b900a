#!/usr/bin/env python3
"""Rachis against PyTorch eager on the same model, training step and threads: runs `rachis bench run` and
benchmarks/pytorch/bench.py, each in the default memory format and in channels-last-3d, and prints the ratios the
issue sets targets for.

    python3 benchmarks/compare.py --rachis .build-torch2/release/rachis --python /opt/torch2/bin/python \
        --data default.h5 --threads 2 --steps 10 --warmup 2 --out results/

The Rachis side's training rate is its rate without data waits (`computeSamplesPerSecond`), since the PyTorch step
reuses one synthetic batch; its inference figure is the model's forward on the whole volume, as in bench.py; memory
is the peak resident set after training on both sides (PyTorch's includes the Python interpreter).
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(command, out_file):
    print("+ " + " ".join(str(c) for c in command), file=sys.stderr, flush=True)
    subprocess.run([str(c) for c in command], check=True, stdout=subprocess.DEVNULL)
    return json.loads(Path(out_file).read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rachis", default=str(REPO / ".build/release/rachis"), help="rachis binary (a release build)")
    parser.add_argument("--python", default=sys.executable, help="a Python with torch 2.x")
    parser.add_argument("--data", required=True, help="dataset file for rachis bench run (rachis dataset synth --recipe datasets/default.yaml)")
    parser.add_argument("--config", default=str(REPO / "examples/configs/base.yaml"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", default=".", help="folder for the four JSON results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    results = {}
    for layout, flag in (("default", []), ("channels-last", ["--channels-last"])):
        rachis_file = out / f"rachis-{layout}.json"
        results[("rachis", layout)] = run(
            [args.rachis, "bench", "run", "--config", args.config, "--data", args.data, "--threads", args.threads,
             "--steps", args.steps, "--warmup", args.warmup, "--inference-repeats", max(3, args.steps // 2),
             "--output", rachis_file] + flag, rachis_file)
        torch_file = out / f"pytorch-{layout}.json"
        results[("pytorch", layout)] = run(
            [args.python, REPO / "benchmarks/pytorch/bench.py", "--config", args.config, "--threads", args.threads,
             "--steps", args.steps, "--warmup", args.warmup, "--inference-repeats", max(3, args.steps // 2),
             "--json", torch_file] + flag, torch_file)

    def rate(side, layout):
        r = results[(side, layout)]
        return r["computeSamplesPerSecond"] if side == "rachis" else r["samplesPerSecond"]

    def inference(side, layout):
        r = results[(side, layout)]
        return r["inferenceForwardSeconds"]["median"] if side == "rachis" else r["inferenceSeconds"]

    def memory(side, layout):
        r = results[(side, layout)]
        return r["peakRSSMBAfterTraining"] if side == "rachis" else r["trainingPeakRSSMB"]

    r0 = results[("rachis", "default")]
    p0 = results[("pytorch", "default")]
    print(f"Rachis (libtorch {r0['libtorch']}) against PyTorch {p0['torchVersion']} eager, {args.threads} threads, "
          f"batch {r0['batchSize']}, crop {'x'.join(map(str, r0['crop']))}, {args.steps} steps after {args.warmup} warm-up")
    print()
    print(f"{'':28}{'samples/s':>10}{'fwd ms':>9}{'bwd ms':>9}{'opt ms':>9}{'infer s':>9}{'RSS MiB':>9}")
    for side in ("rachis", "pytorch"):
        for layout in ("default", "channels-last"):
            r = results[(side, layout)]
            if side == "rachis":
                fwd, bwd, opt = (r[k]["median"] * 1000 for k in ("forwardSeconds", "backwardSeconds", "optimizerSeconds"))
            else:
                fwd, bwd, opt = (r[k] * 1000 for k in ("forwardSeconds", "backwardSeconds", "optimizerSeconds"))
            print(f"{side + ' ' + layout:28}{rate(side, layout):10.3f}{fwd:9.0f}{bwd:9.0f}{opt:9.0f}"
                  f"{inference(side, layout):9.3f}{memory(side, layout):9.0f}")

    best_rachis = max(("default", "channels-last"), key=lambda k: rate("rachis", k))
    best_torch = max(("default", "channels-last"), key=lambda k: rate("pytorch", k))
    ratios = {
        "trainingVsPyTorchDefault": rate("rachis", best_rachis) / rate("pytorch", "default"),
        "trainingVsPyTorchBest": rate("rachis", best_rachis) / rate("pytorch", best_torch),
        "inferenceSpeedupVsPyTorchBest": min(inference("pytorch", k) for k in ("default", "channels-last"))
        / inference("rachis", best_rachis),
        "memoryVsPyTorch": memory("rachis", best_rachis) / memory("pytorch", "default"),
    }
    print()
    print(f"Rachis at its best layout ({best_rachis}); PyTorch's best layout: {best_torch}")
    print(f"  training throughput / PyTorch default layout  {ratios['trainingVsPyTorchDefault']:.2f}x  (target >= 1.2)")
    print(f"  training throughput / PyTorch best layout     {ratios['trainingVsPyTorchBest']:.2f}x  (target >= 1.0)")
    print(f"  inference speed / PyTorch best                {ratios['inferenceSpeedupVsPyTorchBest']:.2f}x  (target >= 1.0)")
    print(f"  peak memory / PyTorch                         {ratios['memoryVsPyTorch']:.2f}x  (target <= 1.0)")
    (out / "comparison.json").write_text(json.dumps(
        {"ratios": ratios, "rachisLayout": best_rachis, "pytorchLayout": best_torch,
         "results": {f"{s}-{l}": v for (s, l), v in results.items()}}, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
