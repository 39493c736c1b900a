#!/usr/bin/env python3
"""What the classifier's errors are: how much of each misclassified vertebra's lesion is in view (docs/learning.md).

    python3 examples/learning/class-errors.py DATA.h5 PRED_FOLDER [PRED_FOLDER ...] [--few 7]

DATA.h5 is a phantom dataset with exact truth (/subjects/<id>/truth); each PRED_FOLDER holds `rachis predict` output
scored by `rachis evaluate` (evaluation.json). For every vertebra `evaluate` paired with a prediction, counts the truth
lesion voxels inside the true vertebra, and prints per folder the errors (true class -> decision) split into: no
lesion voxel in view (for an abnormal vertebra, its lesion lies outside the field of view), at most --few lesion
voxels, and more; and how many abnormal vertebrae of each kind there are. For normal vertebrae called abnormal it
also says whether the vertebra touches the field of view's first or last row along the spine (H). Needs h5py and
numpy.
"""
import argparse
import collections
import json

import h5py
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("data")
parser.add_argument("predictions", nargs="+")
parser.add_argument("--few", type=int, default=7)
args = parser.parse_args()

with h5py.File(args.data, "r") as f:
    names = [str(n, "utf-8") if isinstance(n, bytes) else str(n) for n in f.attrs["structure_names"]]
    lesion_label = names.index("lesion")
    lesions, at_edge = {}, {}
    for sid in f["subjects"]:
        truth = f[f"subjects/{sid}/truth"]
        vertebrae = truth["labels/vertebrae"][()]
        lesion = truth["labels/structures"][()] == lesion_label
        counts = np.bincount(vertebrae[lesion].ravel(), minlength=256)
        rows = vertebrae.shape[1]
        edge = set(np.unique(vertebrae[:, [0, rows - 1], :]).tolist())
        for level in truth["vertebrae/level_id"][()]:
            lesions[(sid, int(level))] = int(counts[level])
            at_edge[(sid, int(level))] = int(level) in edge


def kind(n):
    return "no lesion voxel in view" if n == 0 else f"1-{args.few} lesion voxels" if n <= args.few else f"more than {args.few}"


for folder in args.predictions:
    evaluation = json.load(open(f"{folder}/evaluation.json"))
    errors, abnormal, paired = collections.Counter(), collections.Counter(), 0
    for subject in evaluation["subjects"]:
        for pair in subject["classification"]["pairs"]:
            key = (subject["subjectID"], pair["levelID"])
            if key not in lesions:
                continue
            paired += 1
            true, decided, n = pair["trueClass"], pair["decision"], lesions[key]
            if true != 0:
                abnormal[kind(n)] += 1
            if true == decided:
                continue
            where = (", at the top or bottom row" if at_edge[key] else ", inside") if true == 0 else ": " + kind(n)
            errors[f"{true} -> {decided}{where}"] += 1
    print(f"{folder}: {paired} paired vertebrae, {sum(errors.values())} errors")
    for label, count in sorted(errors.items()):
        print(f"  {label:45s} {count}")
    print("  abnormal vertebrae: " + ", ".join(f"{k} {v}" for k, v in sorted(abnormal.items())))
