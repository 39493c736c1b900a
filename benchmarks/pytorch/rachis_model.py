"""Rachis's reference multitask model, written the way a PyTorch (eager) user would, for benchmarking.

A line-for-line port of Sources/Rachis/Model (SpineModel and its parts). Module and parameter names are the Swift
property paths, so `named_parameters()` gives Rachis's checkpoint keys (`encoder.stem.conv.weight`,
`decoder.stages.0.block.projection.weight`, `classifier.hidden.weight`, ...) and `summary()` lists the same leaf
layers, in the same order, as `rachis model summary`.

The `model:` section of a Rachis training config (YAML or JSON) is read with the same keys and defaults as
`ModelConfig` (Sources/Rachis/Model/ModelConfig.swift); unknown keys are rejected by name.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

# Identification classes: background plus the 27 levels of VertebraLevel.anatomicalIDs
# (C1...C7, T1...T12, T13, L1...L6, S): LevelIndex.count in Sources/Rachis/Model/LevelIndex.swift.
ANATOMICAL_IDS = list(range(1, 20)) + [28] + list(range(20, 27))
LEVEL_CLASSES = len(ANATOMICAL_IDS) + 1

# Leaky ReLU slope used throughout (Blocks.slope).
SLOPE = 0.01
# Added to a region's total weight before dividing (SpineModel.regionEpsilon).
REGION_EPSILON = 1e-6


# --------------------------------------------------------------------------------------------------------------
# Config


@dataclass
class Heads:
    segmentation: bool = True
    localization: bool = True
    identification: bool = True
    classification: bool = True
    autoencoder: bool = True


@dataclass
class ModelConfig:
    """The `model:` section, with ModelConfig.swift's defaults."""

    inChannels: int = 2
    structureClasses: int = 6
    classes: int = 3
    width: int = 16
    stages: int = 4
    blocksPerStage: list = field(default_factory=lambda: [1, 1, 1, 1])
    channelMultiplier: int = 2
    norm: str = "group"
    normGroups: int = 8
    dropout: float = 0.0
    spacingMM: list = field(default_factory=lambda: [3.5, 2.0, 2.0])
    heads: Heads = field(default_factory=Heads)
    classifierHidden: int = 64
    classifierDropout: float = 0.2
    featureChannels: int = 16

    @property
    def stage_channels(self) -> list[int]:
        return [self.width * self.channelMultiplier ** s for s in range(self.stages)]

    @staticmethod
    def from_section(section: dict | None, source: str = "config") -> "ModelConfig":
        section = section or {}
        known = {f.name for f in fields(ModelConfig)}
        for key in sorted(section):
            if key not in known:
                raise ValueError(f'{source}: unknown key "{key}" in the model section')
        heads = section.get("heads") or {}
        known_heads = {f.name for f in fields(Heads)}
        for key in sorted(heads):
            if key not in known_heads:
                raise ValueError(f'{source}: unknown key "heads.{key}" in the model section')
        values = {k: v for k, v in section.items() if k != "heads"}
        config = ModelConfig(**values, heads=Heads(**heads))
        config.validate()
        return config

    def validate(self) -> None:
        def require(ok, key, requirement):
            if not ok:
                raise ValueError(f"model.{key} = {getattr(self, key)}: {requirement}")

        require(self.inChannels >= 1, "inChannels", "must be at least 1")
        require(self.structureClasses >= 2, "structureClasses", "must be at least 2")
        require(self.classes >= 2, "classes", "must be at least 2")
        require(self.width >= 1, "width", "must be at least 1")
        require(2 <= self.stages <= 6, "stages", "must be in 2...6")
        require(len(self.blocksPerStage) == self.stages, "blocksPerStage", f"needs one entry per stage ({self.stages})")
        require(self.blocksPerStage[0] >= 0 and all(b >= 1 for b in self.blocksPerStage[1:]), "blocksPerStage",
                "every stage after the first needs at least 1 block")
        require(self.channelMultiplier >= 1, "channelMultiplier", "must be at least 1")
        require(self.featureChannels >= 1, "featureChannels", "must be at least 1")
        require(self.normGroups >= 1, "normGroups", "must be at least 1")
        require(self.norm in ("group", "instance", "batch"), "norm", "must be group, instance or batch")
        if self.norm == "group":
            require(all(c % self.normGroups == 0 for c in self.stage_channels + [self.featureChannels]), "normGroups",
                    f"must divide every stage's channels {self.stage_channels} and featureChannels {self.featureChannels}")
        require(0 <= self.dropout < 1, "dropout", "must be in [0, 1)")
        require(len(self.spacingMM) == 3 and all(s > 0 and math.isfinite(s) for s in self.spacingMM), "spacingMM",
                "needs three positive spacings [D, H, W]")
        require(self.classifierHidden >= 1, "classifierHidden", "must be at least 1")
        require(0 <= self.classifierDropout < 1, "classifierDropout", "must be in [0, 1)")


def _scalar(text: str):
    text = text.strip()
    if text == "" or text in ("~", "null"):
        return None
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_scalar(part) for part in _split_flow(inner)] if inner else []
    if text.startswith("{") and text.endswith("}"):
        inner = text[1:-1].strip()
        out = {}
        for part in _split_flow(inner) if inner else []:
            key, _, value = part.partition(":")
            out[key.strip()] = _scalar(value)
        return out
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _split_flow(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _mini_yaml(text: str) -> dict:
    """The YAML subset Rachis's configs use (block mappings, flow lists and mappings, scalars, comments); used only
    when PyYAML is not installed."""
    root: dict = {}
    stack = [(-1, root)]
    for raw in text.splitlines():
        line = re.sub(r"\s+#.*$", "", raw) if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        key, sep, value = line.strip().partition(":")
        if not sep:
            raise ValueError(f"unsupported YAML line (install PyYAML): {raw!r}")
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if value.strip() == "":
            parent[key.strip()] = {}
            stack.append((indent, parent[key.strip()]))
        else:
            parent[key.strip()] = _scalar(value)
    return root


def load_config_file(path: str | Path) -> dict:
    """A whole training config (YAML or JSON) as a dict."""
    text = Path(path).read_text()
    if str(path).endswith(".json"):
        return json.loads(text)
    try:
        import yaml  # type: ignore

        return yaml.safe_load(text) or {}
    except ImportError:
        return _mini_yaml(text)


def load_model_config(path: str | Path) -> ModelConfig:
    return ModelConfig.from_section(load_config_file(path).get("model"), source=str(path))


def pooling_factors(spacing_mm: list[float], stages: int) -> list[list[int]]:
    """nnU-Net's anisotropy rule (PoolingPlan.factors): an axis is halved only if its current spacing is at most
    twice the smallest current spacing."""
    spacing = list(spacing_mm)
    factors = []
    for _ in range(max(stages - 1, 0)):
        smallest = min(spacing)
        factor = [2 if s <= 2 * smallest else 1 for s in spacing]
        spacing = [s * f for s, f in zip(spacing, factor)]
        factors.append(factor)
    return factors


def required_divisor(config: ModelConfig) -> list[int]:
    divisor = [1, 1, 1]
    for f in pooling_factors(config.spacingMM, config.stages):
        divisor = [a * b for a, b in zip(divisor, f)]
    return divisor


# --------------------------------------------------------------------------------------------------------------
# Building blocks (ResidualBlock.swift)


def make_conv(in_ch: int, out_ch: int, kernel, stride=1, padding=0, bias=True) -> nn.Conv3d:
    """Blocks.conv: Kaiming-normal weights (fan in, gain for a leaky ReLU of slope 0.01), zero bias."""
    conv = nn.Conv3d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=bias)
    nn.init.kaiming_normal_(conv.weight, a=SLOPE, mode="fan_in", nonlinearity="leaky_relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def make_norm(config: ModelConfig, channels: int) -> nn.Module:
    if config.norm == "group":
        return nn.GroupNorm(config.normGroups, channels, eps=1e-5)
    if config.norm == "instance":
        return nn.InstanceNorm3d(channels, eps=1e-5, affine=True, track_running_stats=False)
    return nn.BatchNorm3d(channels, eps=1e-5, momentum=0.1)


def make_act() -> nn.Module:
    return nn.LeakyReLU(SLOPE)


class Upsampling(nn.Module):
    """A 1×1×1 convolution to the shallower level's channels at low resolution, then trilinear interpolation by
    `factor` (align_corners false)."""

    def __init__(self, in_ch: int, out_ch: int, factor):
        super().__init__()
        self.conv = nn.Conv3d(in_ch, out_ch, 1)
        self.factor = tuple(factor)

    def forward(self, x):
        size = tuple(s * f for s, f in zip(x.shape[2:], self.factor))
        return F.interpolate(self.conv(x), size=size, mode="trilinear", align_corners=False)


class ConvNormAct(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, config: ModelConfig):
        super().__init__()
        self.conv = make_conv(in_ch, out_ch, 3, padding=1, bias=False)
        self.norm = make_norm(config, out_ch)
        self.act = make_act()

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class ResidualBlock(nn.Module):
    """`act(norm2(conv2(drop(act(norm1(conv1(x)))))) + skip(x))`, the skip a 1×1×1 projection when channels
    change."""

    def __init__(self, in_ch: int, out_ch: int, config: ModelConfig):
        super().__init__()
        self.conv1 = make_conv(in_ch, out_ch, 3, padding=1, bias=False)
        self.norm1 = make_norm(config, out_ch)
        self.act1 = make_act()
        self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else None
        self.conv2 = make_conv(out_ch, out_ch, 3, padding=1, bias=False)
        self.norm2 = make_norm(config, out_ch)
        self.projection = None if in_ch == out_ch else make_conv(in_ch, out_ch, 1, bias=False)
        self.act2 = make_act()

    def forward(self, x):
        y = self.act1(self.norm1(self.conv1(x)))
        if self.dropout is not None:
            y = self.dropout(y)
        y = self.norm2(self.conv2(y))
        return self.act2(y + (self.projection(x) if self.projection is not None else x))


# --------------------------------------------------------------------------------------------------------------
# Encoder and decoders (Encoder.swift, Decoder.swift)


class EncoderStage(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, factor, block_count: int, config: ModelConfig):
        super().__init__()
        self.down = make_conv(in_ch, out_ch, tuple(factor), stride=tuple(factor)) if factor is not None else None
        first = in_ch if factor is None else out_ch
        self.blocks = nn.ModuleList(
            [ResidualBlock(first if i == 0 else out_ch, out_ch, config) for i in range(block_count)])

    def forward(self, x):
        if self.down is not None:
            x = self.down(x)
        for block in self.blocks:
            x = block(x)
        return x


class FeatureEncoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        channels = config.stage_channels
        factors = pooling_factors(config.spacingMM, config.stages)
        self.stem = ConvNormAct(config.inChannels, channels[0], config)
        self.stages = nn.ModuleList([
            EncoderStage(channels[0] if s == 0 else channels[s - 1], channels[s], None if s == 0 else factors[s - 1],
                         config.blocksPerStage[s], config)
            for s in range(config.stages)])

    def forward(self, image):
        x = self.stem(image)
        levels = []
        for stage in self.stages:
            x = stage(x)
            levels.append(x)
        return levels


class DecoderStage(nn.Module):
    def __init__(self, deeper: int, channels: int, block_in: int, block_out: int, factor, config: ModelConfig):
        super().__init__()
        self.up = Upsampling(deeper, channels, factor)
        self.block = ResidualBlock(block_in, block_out, config)


class SegmentationDecoder(nn.Module):
    """Upsampling with skips from every encoder level, ending at full resolution with featureChannels channels."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        ch = config.stage_channels
        factors = pooling_factors(config.spacingMM, config.stages)
        self.stages = nn.ModuleList([
            DecoderStage(ch[s + 1], ch[s], 2 * ch[s], config.featureChannels if s == 0 else ch[s], factors[s], config)
            for s in range(config.stages - 1)])

    def forward(self, levels):
        x = levels[-1]
        for s in reversed(range(len(self.stages))):
            stage = self.stages[s]
            x = stage.block(torch.cat([stage.up(x), levels[s]], dim=1))
        return x


class AutoencoderDecoder(nn.Module):
    """Upsampling from the bottleneck alone (no skips), then a 1×1×1 convolution to the image channels."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        ch = config.stage_channels
        factors = pooling_factors(config.spacingMM, config.stages)
        self.stages = nn.ModuleList([
            DecoderStage(ch[s + 1], ch[s], ch[s], ch[s], factors[s], config) for s in range(config.stages - 1)])
        self.output = nn.Conv3d(ch[0], config.inChannels, 1)

    def forward(self, bottleneck):
        x = bottleneck
        for stage in reversed(self.stages):
            x = stage.block(stage.up(x))
        return self.output(x)


class Classifier(nn.Module):
    """Region-pooled features → hidden → ReLU → dropout → classes."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.hidden = nn.Linear(config.featureChannels, config.classifierHidden)
        nn.init.kaiming_normal_(self.hidden.weight, nonlinearity="relu")
        nn.init.zeros_(self.hidden.bias)
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(config.classifierDropout)
        self.output = nn.Linear(config.classifierHidden, config.classes)

    def forward(self, pooled):
        return self.output(self.dropout(self.act(self.hidden(pooled))))


# --------------------------------------------------------------------------------------------------------------
# The model (SpineModel.swift, Heads.swift)


class SpineModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.encoder = FeatureEncoder(config)
        self.decoder = SegmentationDecoder(config)
        f, heads = config.featureChannels, config.heads
        self.segmentation = nn.Conv3d(f, config.structureClasses, 1) if heads.segmentation else None
        self.localization = nn.Conv3d(f, 1, 1) if heads.localization else None
        self.identification = nn.Conv3d(f, LEVEL_CLASSES, 1) if heads.identification else None
        self.classifier = Classifier(config) if heads.classification else None
        self.autoencoder = AutoencoderDecoder(config) if heads.autoencoder else None

    def check_input(self, shape) -> None:
        if len(shape) != 5 or shape[1] != self.config.inChannels:
            raise ValueError(f"input {list(shape)}: expected [N, {self.config.inChannels}, D, H, W]")
        divisor = required_divisor(self.config)
        if not all(s > 0 and s % d == 0 for s, d in zip(shape[2:], divisor)):
            raise ValueError(f"input {list(shape)}: the spatial size must be divisible by {divisor}")

    def forward(self, image) -> dict:
        """Returns {"features", "segmentation", "heatmap", "levels", "reconstruction"} (None for heads that are
        off), as ModelOutput."""
        self.check_input(image.shape)
        levels = self.encoder(image)
        features = self.decoder(levels)
        return {
            "features": features,
            "segmentation": self.segmentation(features) if self.segmentation is not None else None,
            "heatmap": self.localization(features) if self.localization is not None else None,
            "levels": self.identification(features) if self.identification is not None else None,
            "reconstruction": self.autoencoder(levels[-1]) if self.autoencoder is not None else None,
        }

    def classify(self, features, regions):
        """SpineModel.classify: `features[sample]` averaged with the weights of each region's mask `[D, H, W]`,
        then the classifier. `regions`: [(sample, mask)]. Returns `[V, classes]` logits."""
        if self.classifier is None:
            raise ValueError("the classification head is switched off in the model config")
        n, c = features.shape[:2]
        flat = {}
        pooled = []
        for sample, mask in regions:
            if sample not in flat:
                flat[sample] = features[sample].reshape(c, -1)
            weights = mask.reshape(-1)
            pooled.append(flat[sample].matmul(weights) / (weights.sum() + REGION_EPSILON))
        if not pooled:
            return features.new_zeros((0, self.config.classes))
        return self.classifier(torch.stack(pooled))


# --------------------------------------------------------------------------------------------------------------
# Summary (ModelSummary.swift): the same leaf layers, parameters and FLOP formula as `rachis model summary`.

NORM_FLOPS_PER_ELEMENT = 5
INTERPOLATION_FLOPS_PER_ELEMENT = 16

_TYPE_NAMES = {
    nn.Conv3d: "Conv3d", nn.ConvTranspose3d: "ConvTranspose3d", nn.Linear: "Linear", nn.GroupNorm: "GroupNorm",
    nn.InstanceNorm3d: "InstanceNorm", nn.BatchNorm3d: "BatchNorm", nn.LeakyReLU: "Activation",
    nn.ReLU: "Activation", nn.Dropout: "Dropout", Upsampling: "Upsampling",
}


def _layer_flops(module, inp, out) -> int:
    if isinstance(module, nn.Conv3d):
        return 2 * out.numel() * math.prod(module.weight.shape[1:])
    if isinstance(module, nn.ConvTranspose3d):
        return 2 * inp.numel() * math.prod(module.weight.shape[1:])
    if isinstance(module, nn.Linear):
        return 2 * out.numel() * module.weight.shape[1]
    if isinstance(module, (nn.GroupNorm, nn.InstanceNorm3d, nn.BatchNorm3d)):
        return NORM_FLOPS_PER_ELEMENT * out.numel()
    if isinstance(module, Upsampling):
        return INTERPOLATION_FLOPS_PER_ELEMENT * out.numel()
    return out.numel()


def summary(model: SpineModel, crop, batch: int = 1) -> dict:
    """One no-grad forward in eval mode on zeros `[batch, inChannels] + crop` (and the classifier on one
    whole-volume region per sample), recording every leaf layer: the fields of `rachis model summary --json`."""
    shape = [batch, model.config.inChannels] + list(crop)
    model.check_input(shape)
    layers = []
    names = {m: n for n, m in model.named_modules()}
    hooks = []
    for module in model.modules():
        if type(module) in _TYPE_NAMES:
            def hook(m, args, output):
                layers.append({
                    "name": names[m], "type": _TYPE_NAMES[type(m)], "outputShape": list(output.shape),
                    "parameters": sum(p.numel() for p in m.parameters(recurse=False)),
                    "flops": _layer_flops(m, args[0], output)})
            hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(shape))
            if model.classifier is not None:
                whole = torch.ones(list(crop))
                model.classify(out["features"], [(i, whole) for i in range(batch)])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    total_parameters = sum(p.numel() for p in model.parameters())
    return {
        "inputShape": shape, "layers": layers, "totalParameters": total_parameters,
        "totalFLOPs": sum(l["flops"] for l in layers),
        "activationBytes": 4 * sum(math.prod(l["outputShape"]) for l in layers),
        "parameterBytes": 4 * total_parameters,
    }
