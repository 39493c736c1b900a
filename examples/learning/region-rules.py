#!/usr/bin/env python3
"""Which voxels of a vertebra should the classifier pool? A check without Rachis code (numpy, scipy, h5py, nibabel).

Features: the mean and the maximum of each z-scored image channel (what `model.poolImage` gives the classifier) over
a vertebra's region; a class-balanced logistic regression (ceilings.py's) fitted on the training split's exact truth
regions, scored on the validation subjects of a predictions folder, once over their true regions and once over the
predicted ones (the predicted vertebra map and segmentation). Regions: the whole vertebra, its body (body and lesion
voxels), or the vertebra grown by 1 or 2 voxels along H (into the discs).

    python3 examples/learning/region-rules.py phantoms.h5 run.val.pred      # a prediction of the validation split
"""
import glob
import json
import os
import sys

import h5py
import nibabel as nib
import numpy as np
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ceilings  # noqa: E402

BODY, LESION = 1, 4  # StructureLabel raw values


def zscore(image):
    image = image.astype(np.float64)
    for c in range(image.shape[0]):
        image[c] = (image[c] - image[c].mean()) / (image[c].std() + 1e-8)
    return image


def features(image, mask):
    return [x for c in range(image.shape[0]) for x in (image[c][mask].mean(), image[c][mask].max())]


def region(rule, vertebrae, structures, level):
    mask = vertebrae == level
    if rule == "body":
        mask &= np.isin(structures, [BODY, LESION])
    elif rule.startswith("grow"):
        h = int(rule[4:])
        element = np.zeros((1, 2 * h + 1, 1), bool)
        element[0, :, 0] = True
        mask = ndimage.binary_dilation(mask, element) & ~((vertebrae > 0) & (vertebrae != level))
    return mask


def training_set(f, split, rule):
    X, y = [], []
    for sid in [s.decode() for s in f[f"splits/{split}/train"][:]]:
        g = f[f"subjects/{sid}"]
        image, vertebrae, structures = zscore(g["image"][:]), g["truth/labels/vertebrae"][:], g["truth/labels/structures"][:]
        for level, cls in zip(g["truth/vertebrae/level_id"][:], g["truth/vertebrae/class"][:]):
            mask = region(rule, vertebrae, structures, level)
            if cls >= 0 and mask.sum() >= 20:
                X.append(features(image, mask))
                y.append(int(cls))
    return np.array(X), np.array(y)


def scored_set(f, predictions, rule, truth):
    X, y = [], []
    for path in sorted(glob.glob(os.path.join(predictions, "*.json"))):
        p = json.load(open(path))
        if "subjectID" not in p:
            continue
        g = f[f"subjects/{p['subjectID']}"]
        image = zscore(g["image"][:])

        def load(suffix):
            a = np.asarray(nib.load(path[:-5] + suffix).dataobj)
            return a if a.shape == image.shape[1:] else a.transpose(2, 1, 0)

        if truth:
            vertebrae, structures = g["truth/labels/vertebrae"][:], g["truth/labels/structures"][:]
        else:
            vertebrae, structures = load("_vertebrae.nii.gz"), load("_structures.nii.gz")
        classes = dict(zip(g["truth/vertebrae/level_id"][:], g["truth/vertebrae/class"][:]))
        for v in p["vertebrae"]:
            level = v["levelID"]
            mask = region(rule, vertebrae, structures, level)
            if classes.get(level, -1) >= 0 and mask.any():
                X.append(features(image, mask))
                y.append(int(classes[level]))
    return np.array(X), np.array(y)


def main():
    f = h5py.File(sys.argv[1], "r")
    predictions, split = sys.argv[2], "holdout"
    print("| region | scored over | vertebrae | balanced accuracy | macro AUC |\n| --- | --- | --- | --- | --- |")
    for rule in ["vertebra", "body", "grow1", "grow2"]:
        Xtr, ytr = training_set(f, split, rule)
        mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-8
        k = int(ytr.max() + 1)
        w, b = ceilings.fit((Xtr - mu) / sd, ytr, k)
        for truth in (True, False):
            X, y = scored_set(f, predictions, rule, truth)
            z = ((X - mu) / sd) @ w + b
            pred = z.argmax(1)
            ba = np.mean([(pred[y == c] == c).mean() for c in range(k) if (y == c).any()])
            auc = np.nanmean([ceilings.auc(z[:, c], y == c) for c in range(k)])
            print(f"| {rule} | {'true' if truth else 'predicted'} regions | {len(y)} | {ba:.3f} | {auc:.3f} |")


if __name__ == "__main__":
    main()
