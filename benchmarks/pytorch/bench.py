"""PyTorch (eager) speed of Rachis's reference model and training step, for comparison with `rachis bench`.

    python benchmarks/pytorch/bench.py [--config examples/configs/base.yaml] [--threads N] [--channels-last]
        [--steps 20] [--warmup 3] [--batch 2] [--crop 24,96,64] [--volume 24,96,64] [--json out.json]

Times `--warmup` untimed then `--steps` timed training steps on one synthetic batch (rachis_train.TrainStep:
forward with every loss, backward, clipping and the optimizer step), then `--inference-repeats` no-grad forward
passes in evaluation mode on one full volume `[1, inChannels] + --volume` (the default phantom's shape,
datasets/default.yaml), after one untimed pass. Per-step times are medians over the timed steps;
samplesPerSecond is batch / median step time. peakRSSMB is the process's peak resident set (getrusage
ru_maxrss, KiB / 1024), interpreter and torch libraries included.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from rachis_model import SpineModel, load_config_file, ModelConfig, required_divisor, summary  # noqa: E402
from rachis_train import LossConfig, MultitaskLoss, TrainSettings, TrainStep, synthetic_batch  # noqa: E402

REPO = HERE.parents[1]
# Vertebrae per class used for the "balanced" class weights (roughly the default phantoms' training split at the
# classPrevalence of datasets/default.yaml). Only the weights' values depend on it, not the cost.
CLASS_COUNTS = [170, 70, 42]


def triple(text: str) -> list[int]:
    values = [int(x) for x in text.replace("x", ",").split(",")]
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected D,H,W, got {text}")
    return values


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "examples/configs/base.yaml"),
                        help="Rachis training config (model, loss, train and loader sections are read)")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (default: torch's default)")
    parser.add_argument("--channels-last", action="store_true",
                        help="model and input in torch.channels_last_3d (default: the config's train.channelsLast)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: the config's loader.batchSize)")
    parser.add_argument("--crop", type=triple, default=None, help="training crop D,H,W (default: the config's loader.crop)")
    parser.add_argument("--volume", type=triple, default=[24, 96, 64],
                        help="inference volume D,H,W (default: the default phantom's 24,96,64)")
    parser.add_argument("--inference-repeats", type=int, default=None, help="timed inference passes (default: --steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--trace", metavar="FILE",
                        help="write the timed steps' operators to this Chrome trace (torch.profiler; it slows the steps, "
                             "so a traced run's timings are not the benchmark's); benchmarks/ops.py sums it per operator")
    args = parser.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = load_config_file(args.config)
    model_config = ModelConfig.from_section(config.get("model"), source=args.config)
    loss_config = LossConfig.from_section(config.get("loss"))
    settings = TrainSettings.from_section(config.get("train"))
    loader = config.get("loader") or {}
    batch_size = args.batch or int(loader.get("batchSize", 2))
    crop = args.crop or [int(x) for x in loader.get("crop", [24, 96, 64])]
    channels_last = args.channels_last or bool(settings.channelsLast)
    divisor = required_divisor(model_config)
    for name, shape in (("--crop", crop), ("--volume", args.volume)):
        if any(s % d for s, d in zip(shape, divisor)):
            parser.error(f"{name} {shape} must be divisible by {divisor}")

    model = SpineModel(model_config)
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    model.train()
    loss = MultitaskLoss(loss_config, CLASS_COUNTS[:model_config.classes] + [50] * max(0, model_config.classes - 3))
    step = TrainStep(model, loss, settings, channels_last)
    batch = synthetic_batch(batch_size, model_config.inChannels, crop, model_config.structureClasses,
                            model_config.classes, spacing_mm=model_config.spacingMM,
                            sigma_mm=loss_config.heatmapSigmaMM, seed=args.seed)
    parameters = sum(p.numel() for p in model.parameters())

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, channels-last {channels_last}; "
          f"{Path(args.config).name}: {parameters:,} parameters; batch {batch_size} x {crop}", flush=True)
    for i in range(args.warmup):
        r = step(batch)
        print(f"  warm-up {i + 1}/{args.warmup}: {r['step']:.3f} s, loss {r['loss']:.4f}", flush=True)
    steps = []
    profiler = None
    if args.trace:
        profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
        profiler.__enter__()
    for i in range(args.steps):
        r = step(batch)
        steps.append(r)
        print(f"  step {i + 1}/{args.steps}: {r['step']:.3f} s (forward {r['forward']:.3f}, backward "
              f"{r['backward']:.3f}, optimizer {r['optimizer']:.3f}), loss {r['loss']:.4f}", flush=True)
    if profiler is not None:
        profiler.__exit__(None, None, None)
        profiler.export_chrome_trace(args.trace)
        print(f"trace written to {args.trace}", flush=True)
    train_rss = peak_rss_mb()

    model.eval()
    volume = torch.randn([1, model_config.inChannels] + list(args.volume), generator=torch.Generator().manual_seed(1))
    if channels_last:
        volume = volume.contiguous(memory_format=torch.channels_last_3d)
    repeats = args.inference_repeats if args.inference_repeats is not None else args.steps
    inference = []
    with torch.no_grad():
        model(volume)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(volume)
            inference.append(time.perf_counter() - t0)

    peak_rss = peak_rss_mb()
    # Forward FLOPs of one sample at the training crop, by rachis model summary's formula (after the peak RSS read).
    forward_flops = summary(model, crop, 1)["totalFLOPs"]

    def median(key):
        return statistics.median(s[key] for s in steps) if steps else float("nan")

    step_seconds = median("step")
    result = {
        "samplesPerSecond": batch_size / step_seconds if steps else float("nan"),
        "stepSeconds": step_seconds,
        "forwardSeconds": median("forward"),
        "backwardSeconds": median("backward"),
        "optimizerSeconds": median("optimizer"),
        "inferenceSeconds": statistics.median(inference) if inference else float("nan"),
        "peakRSSMB": peak_rss,
        "threads": torch.get_num_threads(),
        "channelsLast": channels_last,
        "torchVersion": torch.__version__,
        # Context, beyond the shared fields.
        "implementation": "pytorch-eager",
        "pythonVersion": platform.python_version(),
        "config": str(args.config),
        "batch": batch_size,
        "crop": crop,
        "inferenceShape": list(volume.shape),
        "steps": args.steps,
        "warmup": args.warmup,
        "inferenceRepeats": repeats,
        "parameters": parameters,
        "forwardFLOPsPerSample": forward_flops,
        "trainingPeakRSSMB": train_rss,
        "meanStepSeconds": statistics.fmean(s["step"] for s in steps) if steps else float("nan"),
        "stepSecondsAll": [s["step"] for s in steps],
        "firstLoss": steps[0]["loss"] if steps else None,
        "lastLoss": steps[-1]["loss"] if steps else None,
    }

    rows = [("samples/s", f"{result['samplesPerSecond']:.3f}"),
            ("step (median)", f"{step_seconds:.4f} s"),
            ("  forward + losses", f"{result['forwardSeconds']:.4f} s"),
            ("  backward", f"{result['backwardSeconds']:.4f} s"),
            ("  optimizer + clipping", f"{result['optimizerSeconds']:.4f} s"),
            (f"inference {list(volume.shape)}", f"{result['inferenceSeconds']:.4f} s"),
            ("peak RSS", f"{result['peakRSSMB']:.1f} MiB"),
            ("threads", str(result["threads"])),
            ("channels-last", str(channels_last)),
            ("torch", torch.__version__)]
    width = max(len(k) for k, _ in rows)
    print("-" * (width + 20))
    print(f"PyTorch eager, {Path(args.config).name}, batch {batch_size} x {crop}, {args.steps} steps")
    for k, v in rows:
        print(f"{k:<{width}}  {v:>16}")
    print("-" * (width + 20))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
