#!/usr/bin/env python3
"""How well levels are numbered in subjects with a 13th thoracic vertebra (docs/learning.md, twenty-fourth round).

    rachis dataset synth --recipe examples/learning/transitional.yaml --out transitional.h5
    rachis predict --checkpoint C.h5 --data transitional.h5 --part all --out PRED
    python3 examples/learning/transitional-levels.py transitional.h5 PRED [PRED ...] [-v]

DATA.h5 is a phantom dataset with exact truth (/subjects/<id>/truth); each PRED folder holds `rachis predict` output
(<id>.json). Every true vertebra is paired with the nearest predicted centroid within 20 mm (VerSe's identification
rule) and counts as identified when that prediction has its level. Prints per folder the identification of the
vertebrae of subjects with a T13, how many of those subjects have every vertebra right, the identification of the
other subjects' vertebrae, and how many subjects without a T13 were given one; -v also lists every subject with an
error or a T13 (true and predicted levels, cranial to caudal). Needs h5py and numpy.
"""
import argparse
import json
import os

import h5py
import numpy as np


def name(level_id):
    if level_id <= 7:
        return f"C{level_id}"
    if level_id <= 19:
        return f"T{level_id - 7}"
    if level_id == 28:
        return "T13"
    if level_id <= 25:
        return f"L{level_id - 19}"
    return "S"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("predictions", nargs="+")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    data = h5py.File(args.data, "r")
    for folder in args.predictions:
        vertebrae = {True: [0, 0], False: [0, 0]}
        subjects = {True: [0, 0], False: [0, 0]}
        false_t13 = 0
        for sid in sorted(data["subjects"]):
            path = os.path.join(folder, sid + ".json")
            if not os.path.exists(path):
                continue
            truth = data["subjects"][sid]["truth/vertebrae"]
            levels, centroids = list(truth["level_id"][()]), truth["centroid_mm"][()]
            predicted = [(v["levelID"], np.array(v["centroidMM"])) for v in json.load(open(path))["vertebrae"]]
            hits = 0
            for level, centroid in zip(levels, centroids):
                if not predicted:
                    break
                distances = [np.linalg.norm(centroid - c) for _, c in predicted]
                j = int(np.argmin(distances))
                hits += distances[j] <= 20 and predicted[j][0] == level
            has_t13 = 28 in levels
            vertebrae[has_t13][0] += hits
            vertebrae[has_t13][1] += len(levels)
            subjects[has_t13][0] += hits == len(levels)
            subjects[has_t13][1] += 1
            given_t13 = any(level == 28 for level, _ in predicted)
            false_t13 += given_t13 and not has_t13
            if args.verbose and (has_t13 or given_t13 or hits < len(levels)):
                print(f"  {sid}: truth {' '.join(name(l) for l in levels)} | predicted "
                      f"{' '.join(name(l) for l, _ in predicted)} ({hits}/{len(levels)})")
        def rate(counts):
            return f"{counts[0]}/{counts[1]} = {counts[0] / max(1, counts[1]):.3f}"
        print(f"{folder}: T13 subjects' vertebrae {rate(vertebrae[True])} (subjects all right {subjects[True][0]} of "
              f"{subjects[True][1]}); other subjects' vertebrae {rate(vertebrae[False])}; subjects without a T13 "
              f"given one: {false_t13}")


if __name__ == "__main__":
    main()
