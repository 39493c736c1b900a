#!/usr/bin/env python3
"""How much of the identification rate the field of view's edge slivers cost (docs/learning.md).

    python3 examples/learning/slivers.py DATA.h5 PRED_FOLDER [PRED_FOLDER ...] [--min-voxels 200]

DATA.h5 is a phantom dataset with exact truth (/subjects/<id>/truth); each PRED_FOLDER holds `rachis predict` output
scored by `rachis evaluate` (evaluation.json). A true vertebra counts as identified when `evaluate` paired it with a
prediction of the same level (its pairs); this matches the VerSe rule's count on these folders up to the 20 mm
distance test. Prints, per folder, the rate over every true vertebra and over those with at least --min-voxels voxels
in view, and how many true vertebrae fall below that size (cut to a sliver by the field of view's top or bottom).
Needs h5py and numpy.
"""
import argparse
import json

import h5py
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("data")
parser.add_argument("predictions", nargs="+")
parser.add_argument("--min-voxels", type=int, default=200)
args = parser.parse_args()

sizes = {}
with h5py.File(args.data, "r") as f:
    for sid in f["subjects"]:
        truth = f[f"subjects/{sid}/truth"]
        counts = np.bincount(truth["labels/vertebrae"][()].ravel(), minlength=256)
        for level in truth["vertebrae/level_id"][()]:
            sizes[(sid, int(level))] = int(counts[level])
for folder in args.predictions:
    evaluation = json.load(open(f"{folder}/evaluation.json"))
    hit = {}
    for subject in evaluation["subjects"]:
        for pair in subject["classification"]["pairs"]:
            hit[(subject["subjectID"], pair["levelID"])] = pair["level"] == pair["predictedLevel"]
    scored = {s["subjectID"] for s in evaluation["subjects"]}
    truth = {key: n for key, n in sizes.items() if key[0] in scored}
    large = [key for key, n in truth.items() if n >= args.min_voxels]
    all_hits = sum(hit.get(key, False) for key in truth)
    large_hits = sum(hit.get(key, False) for key in large)
    print(f"{folder}: {len(scored)} subjects, {len(truth)} true vertebrae, {len(truth) - len(large)} with fewer than "
          f"{args.min_voxels} voxels in view (ceiling if none of those is found: {len(large) / len(truth):.3f}); "
          f"identified: all {all_hits}/{len(truth)} = {all_hits / len(truth):.3f}, "
          f">= {args.min_voxels} voxels {large_hits}/{len(large)} = {large_hits / len(large):.3f}")
