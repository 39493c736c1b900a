"""Rachis's training step in PyTorch eager, for benchmarking: the multitask loss (Sources/Rachis/Losses), the
classification regions (Trainer.classification), the optimizer, learning-rate schedule and gradient clipping
(Trainer.trainStep, TrainSettings), on a synthetic batch shaped like the loader's (Sources/Rachis/Loader/Batch.swift).

Written the way a PyTorch user would write it (torch.nn.functional losses, torch.optim, clip_grad_norm_), but
computing what Rachis computes, op for op where it matters for cost. Differences from Rachis are listed in
benchmarks/README.md and in the docstrings below.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields

import numpy as np
import torch
import torch.nn.functional as F

from rachis_model import ANATOMICAL_IDS, LEVEL_CLASSES, SpineModel

TASKS = ["localization", "identification", "classification", "segmentation", "autoencoding"]  # LearningTask order


# --------------------------------------------------------------------------------------------------------------
# Config sections (LossConfig.swift, TrainSettings.swift): the keys the step uses, with Rachis's defaults.


@dataclass
class LossConfig:
    weighting: str = "fixed"
    weights: dict = field(default_factory=lambda: {t: 1.0 for t in
                                                   ["segmentation", "localization", "identification", "classification", "autoencoder"]})
    diceWeight: float = 0.5
    heatmapSigmaMM: float = 6.0
    heatmapPeakWeight: float = 10.0
    classWeights: object = "balanced"
    labelSmoothing: float = 0.05
    autoencoderLoss: str = "l1"
    attribution: dict = field(default_factory=dict)

    @staticmethod
    def from_section(section: dict | None) -> "LossConfig":
        section = dict(section or {})
        known = {f.name for f in fields(LossConfig)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"loss: unknown keys {unknown}")
        config = LossConfig()
        weights = dict(config.weights)
        weights.update(section.pop("weights", None) or {})
        for k, v in section.items():
            setattr(config, k, v)
        config.weights = {k: float(v) for k, v in weights.items()}
        if config.weighting != "fixed":
            raise NotImplementedError("only loss.weighting: fixed is implemented in the PyTorch benchmark")
        if float((config.attribution or {}).get("weight", 0)) > 0:
            raise NotImplementedError("the attribution constraint is not implemented in the PyTorch benchmark")
        return config

    def weight(self, task: str) -> float:
        return self.weights["autoencoder" if task == "autoencoding" else task]


@dataclass
class TrainSettings:
    epochs: int = 20
    stepsPerEpoch: int = 0
    optimizer: str = "adamw"
    learningRate: float = 2e-3
    weightDecay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = True
    schedule: str = "cosine"
    warmupSteps: int = 20
    stepEpochs: int = 10
    gamma: float = 0.1
    clipNorm: float = 5.0
    channelsLast: bool = False

    @staticmethod
    def from_section(section: dict | None) -> "TrainSettings":
        settings = TrainSettings()
        known = {f.name for f in fields(TrainSettings)}
        for k, v in (section or {}).items():
            if k in known:  # validation / checkpoint keys do not matter here
                setattr(settings, k, v)
        return settings

    def make_optimizer(self, params):
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.learningRate, momentum=self.momentum, weight_decay=self.weightDecay,
                                   nesterov=self.nesterov and self.momentum > 0)
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.learningRate, weight_decay=self.weightDecay)
        return torch.optim.AdamW(params, lr=self.learningRate, weight_decay=self.weightDecay)

    def learning_rate(self, step: int, steps_per_epoch: int) -> float:
        """TrainSettings.makeSchedule: linear warm-up from 0, then cosine to 1% (or step / constant)."""
        base = self.learningRate
        if self.schedule == "step":
            inner = lambda s: base * self.gamma ** (s // max(1, self.stepEpochs * steps_per_epoch))
        elif self.schedule == "constant":
            inner = lambda s: base
        else:
            total = max(1, self.epochs * steps_per_epoch - self.warmupSteps)
            minimum = base * 0.01
            inner = lambda s: minimum + (base - minimum) * (1 + math.cos(math.pi * min(s, total) / total)) / 2
        if step < self.warmupSteps:
            return inner(0) * step / self.warmupSteps
        return inner(step - self.warmupSteps)


# --------------------------------------------------------------------------------------------------------------
# Losses (MaskedLoss, SegmentationLoss, LocalizationLoss, IdentificationLoss, ClassificationLoss, AutoencoderLoss)


def masked_mean(values, mask):
    """MaskedLoss.mean: Σ mask·values / Σ mask over mask > 0, values outside the mask zeroed first. Returns
    (value, count); the two .item() reads are Rachis's too."""
    mask = mask.expand(values.shape).to(values.dtype)
    selected = mask > 0
    kept = torch.where(selected, values, torch.zeros_like(values)) * mask
    total = mask.sum().item()
    count = int(selected.sum().item())
    return kept.sum() / max(total, 1e-12), count


def per_sample(mask, rank):
    return mask.reshape([mask.shape[0]] + [1] * (rank - 1))


def segmentation_loss(logits, target, known, sample_mask, dice_weight, smooth=1e-5):
    mask = known * per_sample(sample_mask, 4)
    target = torch.where(mask > 0, target, torch.zeros_like(target))
    ce, count = masked_mean(F.cross_entropy(logits, target, reduction="none"), mask)
    if dice_weight <= 0:
        return ce, count
    classes = logits.shape[1]
    m = mask.unsqueeze(1)
    p = logits.softmax(1) * m
    g = F.one_hot(target, classes).permute(0, 4, 1, 2, 3).to(logits.dtype) * m
    dims = [0, 2, 3, 4]
    intersection = (p * g).sum(dims)
    denominator = (p + g).sum(dims)
    present = g.sum(dims).tolist()
    foreground = [c for c in range(1, classes) if present[c] > 0]
    if not foreground:
        dice = intersection.sum() * 0
    else:
        index = torch.tensor(foreground, dtype=torch.int64)
        d = (intersection.index_select(0, index) * 2 + smooth) / (denominator.index_select(0, index) + smooth)
        dice = 1 - d.mean()
    return ce * (1 - dice_weight) + dice * dice_weight, count


def localization_loss(prediction, target, sample_mask, peak_weight):
    weight = (target * peak_weight + 1) * per_sample(sample_mask, prediction.dim())
    return masked_mean(F.mse_loss(prediction, target, reduction="none"), weight)


def identification_loss(logits, target, known, sample_mask):
    mask = known * per_sample(sample_mask, 4)
    safe = torch.where(mask > 0, target, torch.zeros_like(target))
    return masked_mean(F.cross_entropy(logits, safe, reduction="none"), mask)


def balanced_weights(counts):
    n = sum(counts)
    return [n / (len(counts) * c) if c > 0 else 0.0 for c in counts]


def classification_loss(logits, vertebrae, class_weights, label_smoothing):
    """Weighted cross-entropy with label smoothing and soft targets: Σ ω_i·ℓ_i / Σ ω_i."""
    v, k = logits.shape
    targets = []
    for vt in vertebrae:
        if vt["classIndex"] is None:
            continue
        targets.append(vt.get("softClass") or [1.0 if c == vt["classIndex"] else 0.0 for c in range(k)])
    assert len(targets) == v
    if v == 0:
        return logits.sum() * 0, 0
    w = class_weights or [1.0] * k
    omega = [sum(a * b for a, b in zip(t, w)) for t in targets]
    smoothed = [[(1 - label_smoothing) * x + label_smoothing / k for x in t] for t in targets]
    t = torch.tensor(smoothed, dtype=logits.dtype)
    per_vertebra = -(t * logits.log_softmax(1)).sum(1)
    value, _ = masked_mean(per_vertebra, torch.tensor(omega, dtype=logits.dtype))
    return value, v


def autoencoder_loss(reconstruction, image, sample_mask, kind):
    per_element = (F.l1_loss if kind == "l1" else F.mse_loss)(reconstruction, image, reduction="none")
    value, _ = masked_mean(per_element, per_sample(sample_mask, reconstruction.dim()))
    return value, int((sample_mask > 0).sum().item())


class MultitaskLoss:
    """MultitaskLoss with fixed task weights (TaskWeighting.combine, fixed mode)."""

    def __init__(self, config: LossConfig, class_counts):
        self.config = config
        cw = config.classWeights
        self.class_weights = balanced_weights(class_counts) if cw == "balanced" else [float(x) for x in cw]

    def __call__(self, output, class_logits, batch):
        c = self.config
        n = batch["image"].shape[0]

        def mask(task):
            if task in batch["taskMask"]:
                return batch["taskMask"][task]
            return torch.ones(n) if task == "autoencoding" else torch.zeros(n)

        losses = {}
        if output["segmentation"] is not None:
            losses["segmentation"] = segmentation_loss(output["segmentation"], batch["structures"],
                                                       batch["structuresKnown"], mask("segmentation"), c.diceWeight)
        if output["heatmap"] is not None:
            losses["localization"] = localization_loss(output["heatmap"], batch["heatmap"], mask("localization"),
                                                       c.heatmapPeakWeight)
        if output["levels"] is not None:
            losses["identification"] = identification_loss(output["levels"], batch["levels"], batch["levelsKnown"],
                                                           mask("identification"))
        if class_logits is not None:
            losses["classification"] = classification_loss(class_logits, batch["vertebrae"], self.class_weights,
                                                           c.labelSmoothing)
        if output["reconstruction"] is not None:
            losses["autoencoding"] = autoencoder_loss(output["reconstruction"], batch["image"], mask("autoencoding"),
                                                      c.autoencoderLoss)
        total, terms = None, {}
        for task in TASKS:
            if task not in losses:
                continue
            value, count = losses[task]
            item = value.item()  # TaskWeighting.combine reads every value
            weight = c.weight(task)
            term = value * 0 if weight == 0 or count == 0 else value * weight
            total = term if total is None else total + term
            terms[task] = item if count > 0 else 0.0
        return (total if total is not None else torch.zeros(())), terms


# --------------------------------------------------------------------------------------------------------------
# A synthetic batch shaped like the loader's


def _level_index(level_id: int) -> int:
    return ANATOMICAL_IDS.index(level_id) + 1 if level_id in ANATOMICAL_IDS else 0


def synthetic_batch(batch: int, in_channels: int, crop, structure_classes: int, classes: int,
                    spacing_mm=(3.5, 2.0, 2.0), sigma_mm: float = 6.0, seed: int = 0) -> dict:
    """A batch with the loader's tensors (Batch.swift), from a fixed seed: a column of vertebrae along H (bodies,
    discs, posterior elements, a canal, a few lesions), their levels and classes, Gaussian centroid heatmaps, a
    2-channel image from the structures plus bias and noise. Every sample is fully annotated (every task mask 1,
    every voxel known); in the last sample the topmost vertebra has a class but no labelled region, so its
    classification region is the identification head's softmax, as in Trainer.classification."""
    rng = np.random.default_rng(seed)
    d, h, w = crop
    structures = np.zeros((batch, d, h, w), np.int64)
    levels = np.zeros((batch, d, h, w), np.int64)
    heatmap = np.zeros((batch, 1, d, h, w), np.float32)
    image = np.zeros((batch, in_channels, d, h, w), np.float32)
    vertebrae = []
    # The usual column without the transitional T13 (28) and L6 (25): ... T10, T11, T12, L1 ... L5, S.
    column = [x for x in ANATOMICAL_IDS if x not in (28, 25)]
    dd, hh, ww = np.meshgrid(np.arange(d), np.arange(h), np.arange(w), indexing="ij")
    for n in range(batch):
        pitch = rng.uniform(13, 16)  # voxels per vertebra + disc along H (2 mm voxels: 26-32 mm)
        body_h = pitch * 0.72
        offset = rng.uniform(-pitch, 0)
        first = int(rng.integers(column.index(15), column.index(18)))  # T8...T10 at the top of the crop
        visible = 0
        cd, cw = d / 2 + rng.uniform(-1.5, 1.5), w * 0.35 + rng.uniform(-3, 3)
        k = 0
        while offset + k * pitch < h:
            top = offset + k * pitch
            level_id = column[min(first + k, len(column) - 1)]
            index = _level_index(level_id)
            lo, hi = max(0, int(round(top))), min(h, int(round(top + body_h)))
            k += 1
            if hi <= lo:
                continue
            body = (hh >= lo) & (hh < hi) & (np.abs(dd - cd) <= d * 0.28) & (np.abs(ww - cw) <= w * 0.17)
            post = (hh >= lo + 1) & (hh < hi - 1) & (np.abs(dd - cd) <= d * 0.36) & (ww >= cw + w * 0.27) & (ww < cw + w * 0.45)
            disc = (hh >= hi) & (hh < min(h, int(round(top + pitch)))) & (np.abs(dd - cd) <= d * 0.25) & (np.abs(ww - cw) <= w * 0.16)
            structures[n][body] = 1
            structures[n][disc] = 2
            structures[n][post] = 5
            class_index = int(rng.choice(classes, p=[0.6, 0.25, 0.15][:classes] if classes == 3 else None))
            if class_index > 0 and structure_classes > 4:  # lesions inside the body
                for _ in range(int(rng.integers(1, 4))):
                    c = [cd + rng.uniform(-2, 2), rng.uniform(lo, hi), cw + rng.uniform(-5, 5)]
                    r = rng.uniform(3, 6)
                    ball = ((dd - c[0]) * spacing_mm[0]) ** 2 + ((hh - c[1]) * spacing_mm[1]) ** 2 + ((ww - c[2]) * spacing_mm[2]) ** 2 <= r * r
                    structures[n][ball & body] = 4
            cut = top < 0 or top + body_h > h
            has_region = not (n == batch - 1 and visible == 0)  # the last sample's topmost vertebra: class only
            visible += 1
            if has_region:
                levels[n][body | post] = index
            centroid = [cd, (lo + hi) / 2, cw]
            r2 = sum(((g - c) * s) ** 2 for g, c, s in zip((dd, hh, ww), centroid, spacing_mm))
            gauss = np.exp(-r2 / (2 * sigma_mm ** 2))
            gauss[gauss < 1e-4] = 0
            heatmap[n, 0] = np.maximum(heatmap[n, 0], gauss)
            vertebrae.append({"sample": n, "levelID": level_id, "classIndex": class_index, "softClass": None,
                              "hasRegion": has_region, "isCut": cut})
        structures[n][(np.abs(dd - cd) <= 2) & (ww >= cw + w * 0.19) & (ww < cw + w * 0.26)] = 3  # canal
        intensity = np.array([0.1, 0.7, 0.5, 0.9, 1.2, 0.6], np.float32)
        bias = 1 + 0.2 * np.sin(hh / h * math.pi + rng.uniform(0, math.pi))
        for ch in range(in_channels):
            table = intensity if ch % 2 == 0 else intensity[::-1].copy()
            base = table[np.minimum(structures[n], len(table) - 1)]
            image[n, ch] = base * bias + rng.normal(0, 0.05, size=base.shape)
        image[n] = (image[n] - image[n].mean()) / image[n].std()
    return {
        "image": torch.from_numpy(image),
        "levels": torch.from_numpy(levels),
        "levelsKnown": torch.ones(batch, d, h, w),
        "structures": torch.from_numpy(structures),
        "structuresKnown": torch.ones(batch, d, h, w),
        "heatmap": torch.from_numpy(heatmap),
        "taskMask": {t: torch.ones(batch) for t in TASKS},
        "vertebrae": vertebrae,
    }


# --------------------------------------------------------------------------------------------------------------
# The step (Trainer.forward, Trainer.classification, Trainer.trainStep)


def class_logits(model: SpineModel, output: dict, batch: dict):
    """Trainer.classification: one region per vertebra with a class: the labelled region, else the detached
    softmax of the identification head. Returns (logits or None, the vertebrae kept)."""
    if model.classifier is None:
        return None, []
    probabilities = output["levels"].detach().softmax(1) if output["levels"] is not None else None
    regions, kept = [], []
    for v in batch["vertebrae"]:
        if v["classIndex"] is None:
            continue
        index = _level_index(v["levelID"])
        if v["hasRegion"]:
            mask = batch["levels"][v["sample"]].eq(index).float()
        elif probabilities is not None:
            mask = probabilities[v["sample"], index]
        else:
            continue
        regions.append((v["sample"], mask))
        kept.append(v)
    if not regions:
        return None, kept
    return model.classify(output["features"], regions, image=batch["image"]), kept


class TrainStep:
    """One optimizer step, timed in three parts:

    - forward: input to channels-last (when asked), the model, the classification regions and logits, every loss
      and the total's .item() (Trainer.forward and the finiteness check of trainStep);
    - backward: zero_grad (set to None, as Rachis) and backward;
    - optimizer: the scheduled learning rate, global-norm gradient clipping and the optimizer step.
    """

    def __init__(self, model: SpineModel, loss: MultitaskLoss, settings: TrainSettings, channels_last: bool,
                 steps_per_epoch: int = 20):
        self.model, self.loss, self.settings = model, loss, settings
        self.channels_last = channels_last
        self.optimizer = settings.make_optimizer(model.parameters())
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.steps_per_epoch = steps_per_epoch
        self.step_index = 0

    def __call__(self, batch: dict) -> dict:
        t0 = time.perf_counter()
        image = batch["image"]
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last_3d)
        on_device = dict(batch, image=image)
        output = self.model(image)
        logits, kept = class_logits(self.model, output, on_device)
        total, terms = self.loss(output, logits, dict(on_device, vertebrae=kept))
        value = total.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss is not finite at step {self.step_index}")
        t1 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        if total.requires_grad:
            total.backward()
        t2 = time.perf_counter()
        lr = self.settings.learning_rate(self.step_index, self.steps_per_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if total.requires_grad:
            if self.settings.clipNorm > 0:
                torch.nn.utils.clip_grad_norm_(self.params, self.settings.clipNorm)
            self.optimizer.step()
        t3 = time.perf_counter()
        self.step_index += 1
        return {"forward": t1 - t0, "backward": t2 - t1, "optimizer": t3 - t2, "step": t3 - t0, "loss": value,
                "terms": terms}
