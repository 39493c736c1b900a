#!/usr/bin/env python3
"""How well the priors of BoxLoss hold for the true masks of a dataset with full labels (docs/loose-labels.md, Boxes).

Per vertebra box (the bounding box of its labels/vertebrae voxels) and C = the classes a vertebra box encloses
(vertebral body 1, lesion 4, posterior elements 5): the fill (share of the box in C, the fill prior's φ), the share
of the box's lines parallel to each axis that miss C, and the share of its slices normal to each axis that miss C.
Needs numpy and h5py. Usage: box-priors.py DATASET.h5
"""
import sys

import h5py
import numpy as np

C = [1, 4, 5]
fills, lines, slices, cut = [], [[], [], []], [[], [], []], []
with h5py.File(sys.argv[1], "r") as f:
    for sid in f["subjects"]:
        g = f["subjects"][sid]
        levels, structures = g["labels/vertebrae"][()], g["labels/structures"][()]
        in_c = np.isin(structures, C)
        for level in np.unique(levels):
            if level == 0:
                continue
            voxels = np.argwhere(levels == level)
            lo, hi = voxels.min(0), voxels.max(0) + 1
            box = in_c[tuple(slice(lo[a], hi[a]) for a in range(3))]
            fills.append(box.mean())
            cut.append(lo[1] == 0 or hi[1] == levels.shape[1])  # touches the top or bottom of the field of view
            for a in range(3):
                lines[a].append(1 - box.any(axis=a).mean())
                slices[a].append(1 - box.any(axis=tuple(b for b in range(3) if b != a)).mean())
cut = np.array(cut)
print(f"{len(fills)} boxes ({cut.sum()} cut by the field of view); fill of C: min {min(fills):.2f}, "
      f"median {np.median(fills):.2f}, max {max(fills):.2f}")
for a, name in enumerate("DHW"):
    s = np.array(slices[a])
    print(f"axis {name}: lines that miss C median {np.median(lines[a]):.2f} max {max(lines[a]):.2f}; "
          f"slices that miss C max {s.max():.2f} (boxes not cut: {s[~cut].max() if (~cut).any() else 0:.2f})")
