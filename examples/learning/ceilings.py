#!/usr/bin/env python3
"""Reference points for docs/learning.md, computed from a phantom dataset without any Rachis code.

Classification ceiling: hand-made intensity features over each vertebra's labelled voxels (subjects whose labels
are voxel-exact: full and partial) (per channel, z-scored per
subject: percentiles, max, mean, spread, share of voxels far above the subject's marrow) and a class-balanced
multinomial logistic regression (numpy, L2), fitted on the training split and scored on another part.

Identification baselines: (1) the position prior: every subject gets the most frequent level at each rank from the
top of the field of view; (2) counting with the true spinal regions (thoracic, T13, lumbar, sacral): what a perfect
spinal-region head gives the sequence decoder.

    python3 examples/learning/ceilings.py out/learning/phantoms.h5 [--part val|test]
"""
import argparse
import collections
import sys

import h5py
import numpy as np

THORACIC = set(range(8, 20)) | {28}
ORDER = list(range(1, 20)) + [28] + list(range(20, 27))


def region(level):
    return "T13" if level == 28 else "C" if level <= 7 else "T" if level in THORACIC else "L" if level <= 25 else "S"


def features(image, mask, reference):
    rows = []
    for c in range(image.shape[0]):
        v = image[c][mask]
        q = np.percentile(v, [5, 25, 50, 75, 95, 99])
        rows += list(q) + [v.max(), v.mean(), v.std(), float((v > reference[c]).mean())]
    return rows


def load(path, split, part):
    f = h5py.File(path, "r")
    ids = [x.decode() if isinstance(x, bytes) else x for x in f[f"splits/{split}/{part}"][:]]
    X, y, subjects = [], [], []
    for sid in ids:
        g = f[f"subjects/{sid}"]
        # Voxel-exact labels only: a box, an eroded or dilated mask, or a raters' majority is not the vertebra.
        if "labels/vertebrae" not in g or g.attrs["annotation_mode"] not in ("full", "partial"):
            continue
        image = g["image"][:].astype(np.float64)
        for c in range(image.shape[0]):
            image[c] = (image[c] - image[c].mean()) / (image[c].std() + 1e-8)
        labels = g["labels/vertebrae"][:]
        known = g["annotated/vertebrae"][:] > 0
        body = (labels > 0) & known
        if not body.any():
            continue
        reference = [np.percentile(image[c][body], 90) for c in range(image.shape[0])]
        for level, cls in zip(g["vertebrae/level_id"][:], g["vertebrae/class"][:]):
            mask = (labels == level) & known
            if cls < 0 or mask.sum() < 20:
                continue
            X.append(features(image, mask, reference))
            y.append(int(cls))
        subjects.append(sid)
    return np.array(X), np.array(y)


def fit(X, y, k, l2=1e-2, steps=4000, lr=0.1):
    w = np.zeros((X.shape[1], k)); b = np.zeros(k)
    counts = np.bincount(y, minlength=k).astype(float)
    weight = (len(y) / (k * np.maximum(counts, 1)))[y]
    Y = np.eye(k)[y]
    for _ in range(steps):
        z = X @ w + b
        p = np.exp(z - z.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
        g = (p - Y) * weight[:, None] / weight.sum()
        w -= lr * (X.T @ g + l2 * w); b -= lr * g.sum(0)
    return w, b


def auc(scores, positive):
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    return float(np.mean([(p > neg).mean() + 0.5 * (p == neg).mean() for p in pos]))


def classification(path, split, part):
    Xtr, ytr = load(path, split, "train")
    Xte, yte = load(path, split, part)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-8
    k = int(max(ytr.max(), yte.max()) + 1)
    w, b = fit((Xtr - mu) / sd, ytr, k)
    z = ((Xte - mu) / sd) @ w + b
    p = np.exp(z - z.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    pred = p.argmax(1)
    recalls = [(pred[yte == c] == c).mean() for c in range(k) if (yte == c).any()]
    aucs = [auc(p[:, c], yte == c) for c in range(k)]
    print(f"classification ceiling ({part}, {len(yte)} vertebrae, trained on {len(ytr)}): "
          f"balanced accuracy {np.mean(recalls):.3f}, macro AUC {np.nanmean(aucs):.3f}")


def identification(path, split, part):
    f = h5py.File(path, "r")
    train = [x.decode() if isinstance(x, bytes) else x for x in f[f"splits/{split}/train"][:]]
    ids = [x.decode() if isinstance(x, bytes) else x for x in f[f"splits/{split}/{part}"][:]]
    def levels(sid):
        ls = list(f[f"subjects/{sid}/vertebrae/level_id"][:])
        return sorted(ls, key=ORDER.index)
    by_rank = collections.defaultdict(collections.Counter)
    for sid in train:
        for r, l in enumerate(levels(sid)):
            by_rank[r][l] += 1
    prior_hits = counting_hits = total = 0
    for sid in ids:
        truth = levels(sid)
        total += len(truth)
        prior_hits += sum(by_rank[r].most_common(1)[0][0] == l for r, l in enumerate(truth) if by_rank[r])
        # Counting with perfect spinal regions (what a perfect region head gives the sequence decoder): from the
        # thoracolumbar junction when it is in view (the first lumbar is L1, numbered down; the last thoracic is T12,
        # or T13 when its region says so, numbered up), else up from the sacrum (L5 above it).
        regions = [region(l) for l in truth]
        guess = [None] * len(truth)
        if "L" in regions and regions.index("L") > 0:
            j = regions.index("L")
            lumbar = [20, 21, 22, 23, 24, 25]
            for i in range(j, len(truth)):
                guess[i] = 26 if regions[i] == "S" else lumbar[min(i - j, 5)]
            top = 28 if regions[j - 1] == "T13" else 19
            for i in range(j - 1, -1, -1):
                guess[i] = top if i == j - 1 else 19 - (j - 2 - i) - (0 if top == 28 else 1)
        elif "S" in regions:
            s = regions.index("S")
            for i in range(len(truth)):
                guess[i] = 26 if i == s else 24 - (s - 1 - i) if i < s else None
        counting_hits += sum(g == l for g, l in zip(guess, truth))
    print(f"identification ({part}, {total} vertebrae): position prior {prior_hits / total:.3f}, "
          f"counting with true regions {counting_hits / total:.3f}")


if __name__ == "__main__":
    a = argparse.ArgumentParser()
    a.add_argument("dataset"); a.add_argument("--split", default="holdout"); a.add_argument("--part", default="val")
    args = a.parse_args()
    classification(args.dataset, args.split, args.part)
    identification(args.dataset, args.split, args.part)
