"""Checks that rachis_model.SpineModel is Rachis's model: the same leaf layers in the same order, with the same
names, types, output shapes, parameter counts and FLOPs, and the same totals, as `rachis model summary --json`.

    python benchmarks/pytorch/check_model.py --rachis .build/release/rachis [--config examples/configs/base.yaml]
        [--crop 24,96,64] [--batch 1] [--variants]

With --variants it also checks a few other model configs written to a temporary folder (other widths, block
counts, norms, spacings, heads switched off, and the classifier and decoder options: poolings, the local branch,
image pooling and noise gauge, the lateral region, either full-resolution decoder block). Exits 1 on any
difference.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rachis_model  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

VARIANTS = {
    "blocks-1111-instance": {"width": 8, "blocksPerStage": [1, 1, 1, 1], "norm": "instance", "featureChannels": 8},
    "stages3-thick": {"width": 4, "stages": 3, "blocksPerStage": [0, 2, 1], "normGroups": 2,
                      "spacingMM": [5.0, 1.0, 1.0], "dropout": 0.1, "featureChannels": 6},
    "batchnorm-mult3-noheads": {"width": 6, "stages": 3, "blocksPerStage": [1, 1, 1], "channelMultiplier": 3,
                                "norm": "batch", "inChannels": 1, "classes": 4,
                                "heads": {"autoencoder": False, "localization": False}},
    "local-max-noise-lateral": {"width": 8, "normGroups": 4, "featureChannels": 8, "classifierFeatures": "local",
                                "pooling": "max", "poolImageNoise": True, "regionLateral": True,
                                "fullResolutionDecoder": "residual", "identificationGradient": 0.5,
                                "minimumClassRegionShare": 0.3, "classifierRegion": "body"},
    "single-inside-mean-instance": {"width": 4, "stages": 3, "blocksPerStage": [0, 1, 2], "norm": "instance",
                                    "featureChannels": 6, "spacingMM": [1.0, 1.0, 3.0], "pooling": "mean",
                                    "fullResolutionDecoder": "single", "classifierFeatures": "localInside",
                                    "poolImage": True, "poolImageNoise": True, "regionLateral": True,
                                    "regionTrainingVoxels": "segmentedBone", "identificationGradient": 0.0,
                                    "heads": {"autoencoder": False}},
    "single-batchnorm-decoder-noid": {"width": 6, "stages": 3, "blocksPerStage": [1, 1, 1], "norm": "batch",
                                      "fullResolutionDecoder": "single", "poolImage": True, "dropout": 0.2,
                                      "classifierRegion": "segmentedBody", "heads": {"identification": False}},
}


def find_rachis(explicit: str | None) -> str:
    candidates = [explicit, os.environ.get("RACHIS"), REPO / ".build/release/rachis", REPO / ".build/debug/rachis",
                  "/work/main/.build/release/rachis", "/work/main/.build/debug/rachis", shutil.which("rachis")]
    for c in candidates:
        if c and Path(c).is_file():
            return str(c)
    sys.exit("no rachis binary found: pass --rachis PATH (swift build -c release --product rachis)")


def rachis_summary(rachis: str, config: Path, crop: str, batch: int) -> dict:
    out = subprocess.run([rachis, "model", "summary", "--config", str(config), "--crop", crop, "--batch", str(batch),
                          "--json"], check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    return data.get("summary", data)


def compare(config_path: Path, rachis: str, crop: str, batch: int) -> bool:
    theirs = rachis_summary(rachis, config_path, crop, batch)
    model = rachis_model.SpineModel(rachis_model.load_model_config(config_path))
    ours = rachis_model.summary(model, [int(x) for x in crop.split(",")], batch)
    problems = []
    if len(theirs["layers"]) != len(ours["layers"]):
        problems.append(f"{len(ours['layers'])} layers, rachis has {len(theirs['layers'])}")
    for i, (a, b) in enumerate(zip(ours["layers"], theirs["layers"])):
        for key in ("name", "type", "outputShape", "parameters", "flops"):
            if a[key] != b[key]:
                problems.append(f"layer {i} {b['name']}: {key} {a[key]} here, {b[key]} in rachis")
    for key in ("inputShape", "totalParameters", "totalFLOPs", "activationBytes", "parameterBytes"):
        if ours[key] != theirs[key]:
            problems.append(f"{key}: {ours[key]} here, {theirs[key]} in rachis")
    # Parameter names: the state dict keys Rachis uses in checkpoints (property paths).
    names = sorted(n for n, _ in model.named_parameters())
    status = "OK" if not problems else "DIFFERENT"
    print(f"{status:9} {config_path.name}: {len(ours['layers'])} layers, {ours['totalParameters']:,} parameters "
          f"(rachis {theirs['totalParameters']:,}), {ours['totalFLOPs'] / 1e9:.3f} GFLOPs forward "
          f"(rachis {theirs['totalFLOPs'] / 1e9:.3f}), {len(names)} parameter tensors, input {ours['inputShape']}")
    for p in problems[:40]:
        print("    " + p)
    return not problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rachis", help="path to the rachis binary (default: $RACHIS, then .build/{release,debug})")
    parser.add_argument("--config", default=str(REPO / "examples/configs/base.yaml"))
    parser.add_argument("--crop", default="24,96,64")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--variants", action="store_true", help="also check other model configs")
    args = parser.parse_args()
    rachis = find_rachis(args.rachis)
    ok = compare(Path(args.config), rachis, args.crop, args.batch)
    if args.variants:
        with tempfile.TemporaryDirectory() as tmp:
            for name, section in VARIANTS.items():
                path = Path(tmp) / f"{name}.json"
                path.write_text(json.dumps({"model": section}))
                crop = {"stages3-thick": "20,32,32", "single-inside-mean-instance": "16,32,36"}.get(name, "16,32,32")
                ok = compare(path, rachis, crop, 2) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
