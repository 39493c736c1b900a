"""Rachis's reference multitask model, written the way a PyTorch (eager) user would, for benchmarking.

A line-for-line port of Sources/Rachis/Model (SpineModel and its parts: the encoder, both decoders with the
full-resolution block `fullResolutionDecoder` names, the per-voxel heads, the spinal-region head, the
classification head with its pooling, image pooling, noise gauge and local branch). Module, parameter and buffer
names are the Swift property paths, so `state_dict()` gives Rachis's checkpoint keys (`encoder.stem.conv.weight`,
`decoder.stages.0.block.conv.weight`, `spinalRegions.hidden.weight`, `classifier.hidden.weight`,
`localFeatures.conv1.weight`, ...) and `summary()` lists the same leaf layers, in the same order, as
`rachis model summary`.

The `model:` section of a Rachis training config (YAML or JSON) is read with the same keys, defaults and range
checks as `ModelConfig` (Sources/Rachis/Model/ModelConfig.swift); unknown keys and unknown enum values are rejected
by name.
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

# The spinal-region head's classes (SpinalRegion in Heads.swift), in index order.
SPINAL_REGIONS = ["cervical", "thoracic", "thirteenthThoracic", "lumbar", "sacral"]

# StructureLabel raw values (Sources/Rachis/Dataset/Subject.swift) that the region helpers read.
VERTEBRAL_BODY, LESION, POSTERIOR_ELEMENTS = 1, 4, 5

# Leaky ReLU slope used throughout (Blocks.slope).
SLOPE = 0.01
# Added to a region's total weight before dividing (SpineModel.regionEpsilon).
REGION_EPSILON = 1e-6


def spinal_region_index(level_id: int) -> int | None:
    """SpinalRegion.index(ofLevelID:): the spinal-region head's class of a VerSe level id (None if unknown)."""
    if level_id not in ANATOMICAL_IDS:
        return None
    if 1 <= level_id <= 7:
        return 0
    if level_id == 28:
        return 2
    if 8 <= level_id <= 19:
        return 1
    if 20 <= level_id <= 25:
        return 3
    return 4


def level_table(region_probabilities) -> list[float]:
    """SpinalRegion.levelTable: every level of a region gets that region's probability."""
    return [region_probabilities[spinal_region_index(i)] for i in ANATOMICAL_IDS]


# --------------------------------------------------------------------------------------------------------------
# Config

# The values of ModelConfig's enums (their raw values), by key.
ENUMS = {
    "norm": ("group", "instance", "batch"),
    "pooling": ("mean", "max", "meanMax"),
    "classifierRegion": ("vertebra", "body", "segmentedBody"),
    "regionTrainingVoxels": ("vertebra", "segmentedBone"),
    "classifierFeatures": ("decoder", "local", "localInside"),
    "fullResolutionDecoder": ("residual", "single"),
}


@dataclass
class Heads:
    segmentation: bool = True
    localization: bool = True
    identification: bool = True
    classification: bool = True
    autoencoder: bool = True


@dataclass
class ModelConfig:
    """The `model:` section, with ModelConfig.swift's keys, in its order, and defaults."""

    inChannels: int = 2
    structureClasses: int = 7
    classes: int = 3
    width: int = 16
    stages: int = 4
    blocksPerStage: list = field(default_factory=lambda: [1, 1, 1, 1])
    channelMultiplier: int = 2
    norm: str = "group"
    normGroups: int = 8
    dropout: float = 0.0
    # []: the training data's spacing (Trainer writes it into the stored config); planned as isotropic here.
    spacingMM: list = field(default_factory=list)
    heads: Heads = field(default_factory=Heads)
    classifierHidden: int = 64
    classifierDropout: float = 0.2
    pooling: str = "meanMax"
    featureChannels: int = 16
    poolImage: bool = False
    poolImageNoise: bool = False
    classifierRegion: str = "vertebra"
    regionLateral: bool = False
    regionTrainingVoxels: str = "vertebra"
    classifierFeatures: str = "decoder"
    identificationGradient: float = 1.0
    fullResolutionDecoder: str = "residual"
    minimumClassRegionShare: float = 0.0

    @property
    def stage_channels(self) -> list[int]:
        return [self.width * self.channelMultiplier ** s for s in range(self.stages)]

    @property
    def pooling_multiplier(self) -> int:
        """Pooling.multiplier: pooled features per feature channel."""
        return 2 if self.pooling == "meanMax" else 1

    @property
    def pooled_features(self) -> int:
        """ModelConfig.pooledFeatures: width of the pooled per-vertebra decoder features."""
        return self.featureChannels * self.pooling_multiplier

    @property
    def classifier_inputs(self) -> int:
        """ModelConfig.classifierInputs: the pooled features, the pooled image with poolImage, one noise gauge per
        image channel with poolImageNoise."""
        return (self.pooled_features + (self.inChannels * self.pooling_multiplier if self.poolImage else 0)
                + (self.inChannels if self.poolImageNoise else 0))

    @property
    def reads_local_branch(self) -> bool:
        """ClassifierFeatures.readsLocalBranch."""
        return self.classifierFeatures != "decoder"

    @property
    def classifier_reads_image(self) -> bool:
        """ModelConfig.classifierReadsImage."""
        return self.poolImage or self.poolImageNoise or self.reads_local_branch

    @property
    def region_features(self) -> int:
        """ModelConfig.regionFeatures: the pooled features (twice with regionLateral) and the bottleneck's
        channels."""
        return self.pooled_features * (2 if self.regionLateral else 1) + (self.stage_channels[-1] if self.stages else 0)

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
        for key, values in ENUMS.items():
            if key in section and section[key] not in values:
                raise ValueError(f'{source}: model.{key} = {section[key]}: must be one of {", ".join(values)}')
        values = {k: v for k, v in section.items() if k != "heads"}
        if values.get("spacingMM") is None:
            values.pop("spacingMM", None)
        config = ModelConfig(**values, heads=Heads(**heads))
        config.validate()
        return config

    def validate(self) -> None:
        """ModelConfig.validate(): every value's range; the error names the key."""
        def require(ok, key, requirement):
            if not ok:
                raise ValueError(f"model.{key} = {getattr(self, key)}: {requirement}")

        for key, values in ENUMS.items():
            require(getattr(self, key) in values, key, "must be one of " + ", ".join(values))
        require(self.inChannels >= 1, "inChannels", "must be at least 1")
        require(self.structureClasses >= 2, "structureClasses", "must be at least 2")
        require(self.classes >= 2, "classes", "must be at least 2")
        require(self.width >= 1, "width", "must be at least 1")
        require(2 <= self.stages <= 6, "stages", "must be in 2...6")
        require(len(self.blocksPerStage) == self.stages, "blocksPerStage", f"needs one entry per stage ({self.stages})")
        require((not self.blocksPerStage or self.blocksPerStage[0] >= 0) and all(b >= 1 for b in self.blocksPerStage[1:]),
                "blocksPerStage", "every stage after the first needs at least 1 block")
        require(self.channelMultiplier >= 1, "channelMultiplier", "must be at least 1")
        require(self.featureChannels >= 1, "featureChannels", "must be at least 1")
        require(self.normGroups >= 1, "normGroups", "must be at least 1")
        if self.norm == "group":
            require(all(c % self.normGroups == 0 for c in self.stage_channels + [self.featureChannels]), "normGroups",
                    f"must divide every stage's channels {self.stage_channels} and featureChannels {self.featureChannels}")
        require(0 <= self.dropout < 1, "dropout", "must be in [0, 1)")
        require(len(self.spacingMM) == 0 or (len(self.spacingMM) == 3 and all(s > 0 and math.isfinite(s) for s in self.spacingMM)),
                "spacingMM", "needs [] (the training data's spacing) or three positive spacings [D, H, W]")
        require(self.classifierHidden >= 1, "classifierHidden", "must be at least 1")
        require(0 <= self.classifierDropout < 1, "classifierDropout", "must be in [0, 1)")
        require(0 <= self.identificationGradient <= 1, "identificationGradient", "must be in [0, 1]")
        require(0 <= self.minimumClassRegionShare < 1, "minimumClassRegionShare", "must be in [0, 1)")


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
    twice the smallest current spacing. An empty spacing (not yet resolved from data) plans as isotropic."""
    spacing = list(spacing_mm) if spacing_mm else [1.0, 1.0, 1.0]
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


class BatchNorm(nn.Module):
    """Torch's BatchNorm (Sources/Torch/Layers/Normalization.swift): `weight`, `bias` and the running statistics
    as the buffers `runningMean` and `runningVar`, the names a Rachis checkpoint stores (nn.BatchNorm3d would call
    them running_mean and running_var and add num_batches_tracked)."""

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("runningMean", torch.zeros(channels))
        self.register_buffer("runningVar", torch.ones(channels))

    def forward(self, x):
        return F.batch_norm(x, self.runningMean, self.runningVar, self.weight, self.bias, self.training, self.momentum,
                            self.eps)


def make_norm(config: ModelConfig, channels: int) -> nn.Module:
    if config.norm == "group":
        return nn.GroupNorm(config.normGroups, channels, eps=1e-5)
    if config.norm == "instance":
        return nn.InstanceNorm3d(channels, eps=1e-5, affine=True, track_running_stats=False)
    return BatchNorm(channels)


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
    """Convolution, normalisation, activation: the encoder's stem, and a decoder's full-resolution block with
    `fullResolutionDecoder: single`."""

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
    """One level of a decoder: an upsampling, then a residual block; at full resolution (level 0) with
    `fullResolutionDecoder: single` one conv-norm-act instead."""

    def __init__(self, level: int, deeper: int, channels: int, block_in: int, block_out: int, factor,
                 config: ModelConfig):
        super().__init__()
        self.up = Upsampling(deeper, channels, factor)
        self.block = (ConvNormAct(block_in, block_out, config) if level == 0 and config.fullResolutionDecoder == "single"
                      else ResidualBlock(block_in, block_out, config))


class SegmentationDecoder(nn.Module):
    """Upsampling with skips from every encoder level, ending at full resolution with featureChannels channels."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        ch = config.stage_channels
        factors = pooling_factors(config.spacingMM, config.stages)
        self.stages = nn.ModuleList([
            DecoderStage(s, ch[s + 1], ch[s], 2 * ch[s], config.featureChannels if s == 0 else ch[s], factors[s], config)
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
            DecoderStage(s, ch[s + 1], ch[s], ch[s], ch[s], factors[s], config) for s in range(config.stages - 1)])
        self.output = nn.Conv3d(ch[0], config.inChannels, 1)

    def forward(self, bottleneck):
        x = bottleneck
        for stage in reversed(self.stages):
            x = stage.block(stage.up(x))
        return self.output(x)


# --------------------------------------------------------------------------------------------------------------
# Heads (Heads.swift)


class Classifier(nn.Module):
    """A per-vertebra head: pooled features → hidden → ReLU → dropout → output. The classification head and the
    spinal-region head are two of these."""

    def __init__(self, config: ModelConfig, inputs: int, outputs: int):
        super().__init__()
        self.hidden = nn.Linear(inputs, config.classifierHidden)
        nn.init.kaiming_normal_(self.hidden.weight, nonlinearity="relu")
        nn.init.zeros_(self.hidden.bias)
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(config.classifierDropout)
        self.output = nn.Linear(config.classifierHidden, outputs)

    def forward(self, pooled):
        return self.output(self.dropout(self.act(self.hidden(pooled))))


class LocalFeatures(nn.Module):
    """The classification head's local branch (`classifierFeatures: local` or `localInside`): a 3×3×3 convolution
    of the image, a leaky ReLU, a 1×1×1 convolution and a leaky ReLU, featureChannels wide, no normalisation."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.conv1 = make_conv(config.inChannels, config.featureChannels, 3, padding=1)
        self.act1 = make_act()
        self.conv2 = make_conv(config.featureChannels, config.featureChannels, 1)
        self.act2 = make_act()

    def forward(self, image):
        return self.act2(self.conv2(self.act1(self.conv1(image))))


def _check_region(region, index: int, shape) -> None:
    """SpineModel.checkRegion: a sample in the batch and a [D, H, W] mask."""
    sample, mask = region
    if len(shape) != 5 or not 0 <= sample < shape[0] or list(mask.shape) != list(shape[2:]):
        raise ValueError(f"region {index} (sample {sample}): mask {list(mask.shape)} does not fit features "
                         f"{list(shape)}; it needs [D, H, W] and a sample in the batch")


def _bounding_box(support) -> list[tuple[int, int]] | None:
    """SpineModel.boundingBox: the smallest box ([D, H, W] ranges) holding every voxel of `support` above 0."""
    inside = support.gt(0)
    box = []
    for dim in range(3):
        profile = inside.any(dim=[d for d in range(3) if d != dim]).nonzero()
        if profile.numel() == 0:
            return None
        box.append((int(profile[0]), int(profile[-1]) + 1))
    return box


def _windows(boxes, grid):
    """SpineModel.windows: one window size for all boxes (the largest extent per axis, at least 1) and each box's
    window of that size, starting at the box, moved back where it would leave the grid; the origin's for an empty
    region."""
    size = [max([1] + [b[axis][1] - b[axis][0] for b in boxes if b is not None]) for axis in range(3)]
    ranges = []
    for box in boxes:
        r = []
        for axis in range(3):
            start = min(box[axis][0] if box is not None else 0, grid[axis] - size[axis])
            r.append(slice(start, start + size[axis]))
        ranges.append(r)
    return size, ranges


def pool_regions(features, regions, pooling: str):
    """SpineModel.pool(features:regions:pooling:): `features[sample]` `[C, D, H, W]` summarised inside each
    region's mask `[D, H, W]`: the mask-weighted mean, the maximum over the voxels whose mask exceeds ½ (0 when
    none does), or both (`[V, C · multiplier]`). Each region is read through one window of a common size holding
    its bounding box, all windows gathered from the features at once."""
    shape = list(features.shape)
    for index, region in enumerate(regions):
        _check_region(region, index, shape)
    channels = shape[1] if len(shape) == 5 else 0
    multiplier = 2 if pooling == "meanMax" else 1
    if not regions:
        return features.new_zeros((0, channels * multiplier))
    grid = shape[2:]
    size, ranges = _windows([_bounding_box(mask) for _, mask in regions], grid)
    window = math.prod(size)
    device = features.device
    index, masks = [], []
    for (sample, mask), r in zip(regions, ranges):
        d = torch.arange(r[0].start, r[0].stop, device=device).view(-1, 1, 1)
        h = torch.arange(r[1].start, r[1].stop, device=device).view(1, -1, 1)
        w = torch.arange(r[2].start, r[2].stop, device=device).view(1, 1, -1)
        index.append((sample * math.prod(grid) + (d * grid[1] + h) * grid[2] + w).reshape(-1))
        masks.append(mask[r[0], r[1], r[2]].reshape(-1))
    positions = torch.cat(index)
    if features.is_contiguous(memory_format=torch.channels_last_3d):
        values = features.permute(0, 2, 3, 4, 1).reshape(-1, channels).index_select(0, positions) \
            .reshape(len(regions), window, channels)
    else:
        values = features.transpose(0, 1).reshape(channels, -1).index_select(1, positions) \
            .reshape(channels, len(regions), window).permute(1, 2, 0)
    weights = torch.stack(masks).to(features.dtype).unsqueeze(2)
    parts = []
    if pooling != "max":
        parts.append((values * weights).sum(1) / (weights.sum(1) + REGION_EPSILON))
    if pooling != "mean":
        inside = weights.gt(0.5).to(values.dtype)
        # Outside voxels are pushed far below any feature; an empty region (max of `inside` 0) pools to 0.
        parts.append((values + (inside - 1) * 1e4).amax(1) * inside.amax(1))
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


def noise_gauge(image, regions):
    """SpineModel.noiseGauge: each channel's mean absolute second difference along W, |x[w+1] − 2·x[w] + x[w−1]|,
    over the region's voxels (mask above ½) whose two W-neighbours lie in it too; `[V, C]`."""
    shape = list(image.shape)
    if len(shape) != 5 or shape[4] < 3:
        return image.new_zeros((len(regions), shape[1] if len(shape) == 5 else 0))
    width = shape[4] - 2

    def shifted(t, start):
        return t[..., start:start + width]

    curvature = (shifted(image, 2) - shifted(image, 1) * 2 + shifted(image, 0)).abs()
    interior = []
    for index, region in enumerate(regions):
        _check_region(region, index, shape)
        inside = region[1].gt(0.5).to(image.dtype)
        interior.append((region[0], shifted(inside, 0) * shifted(inside, 1) * shifted(inside, 2)))
    return pool_regions(curvature, interior, "mean")


def lateral_region(mask):
    """SpineModel.lateralRegion: every slice along D at the heights and depths where the mask is in any slice."""
    return mask.amax(0, keepdim=True).expand(mask.shape)


def restrict(region, allowed):
    """SpineModel.restrict: `region` times `allowed`, or `region` itself when that keeps no voxel above ½ or
    `allowed` is None."""
    if allowed is None:
        return region
    restricted = region * allowed.to(region.dtype)
    return restricted if bool(restricted.gt(0.5).any()) else region


def body_voxels(structures, known=None):
    """SpineModel.bodyVoxels: float 0/1, the voxels labelled vertebral body or lesion (and, given `known`, every
    voxel whose structure is not known)."""
    body = structures.eq(VERTEBRAL_BODY).float() + structures.eq(LESION).float()
    if known is None:
        return body
    k = known.float()
    return body * k + (1 - k)


def bone_voxels(structures):
    """SpineModel.boneVoxels: float 0/1, body, lesion or posterior elements."""
    return body_voxels(structures) + structures.eq(POSTERIOR_ELEMENTS).float()


def large_enough_to_classify(voxels, cut, minimum_share: float) -> list[bool]:
    """SpineModel.largeEnoughToClassify: the vertebrae whose evidence is at least `minimum_share` times the median
    over the vertebrae with evidence that `cut` does not mark; all of them when the share is 0 or none is whole."""
    whole = sorted(v for v, c in zip(voxels, cut) if not c and v > 0)
    if minimum_share <= 0 or not whole:
        return [True for _ in voxels]
    m = len(whole)
    median = whole[m // 2] if m % 2 == 1 else (whole[m // 2 - 1] + whole[m // 2]) / 2
    return [v >= minimum_share * median for v in voxels]


# --------------------------------------------------------------------------------------------------------------
# The model (SpineModel.swift, Heads.swift)


class SpineModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.pooling_factors = pooling_factors(config.spacingMM, config.stages)
        self.encoder = FeatureEncoder(config)
        self.decoder = SegmentationDecoder(config)
        f, heads = config.featureChannels, config.heads
        self.segmentation = nn.Conv3d(f, config.structureClasses, 1) if heads.segmentation else None
        self.localization = nn.Conv3d(f, 1, 1) if heads.localization else None
        self.identification = nn.Conv3d(f, LEVEL_CLASSES, 1) if heads.identification else None
        self.spinalRegions = (Classifier(config, config.region_features, len(SPINAL_REGIONS))
                              if heads.identification else None)
        self.classifier = Classifier(config, config.classifier_inputs, config.classes) if heads.classification else None
        self.localFeatures = LocalFeatures(config) if heads.classification and config.reads_local_branch else None
        self.autoencoder = AutoencoderDecoder(config) if heads.autoencoder else None

    def check_input(self, shape) -> None:
        if len(shape) != 5 or shape[1] != self.config.inChannels:
            raise ValueError(f"input {list(shape)}: expected [N, {self.config.inChannels}, D, H, W]")
        divisor = required_divisor(self.config)
        if not all(s > 0 and s % d == 0 for s, d in zip(shape[2:], divisor)):
            raise ValueError(f"input {list(shape)}: the spatial size must be divisible by {divisor}")

    def identification_input(self, x):
        """SpineModel.identificationInput: the same values, with identificationGradient s of their gradient flowing
        back into the shared network (s·x + (1 − s)·detach(x))."""
        s = self.config.identificationGradient
        if s == 1 or not torch.is_grad_enabled():
            return x
        if s == 0:
            return x.detach()
        return x * s + x.detach() * (1 - s)

    def forward(self, image) -> dict:
        """Returns {"features", "segmentation", "heatmap", "levels", "reconstruction", "bottleneck"} (None for
        heads that are off), as ModelOutput."""
        self.check_input(image.shape)
        levels = self.encoder(image)
        features = self.decoder(levels)
        return {
            "features": features,
            "segmentation": self.segmentation(features) if self.segmentation is not None else None,
            "heatmap": self.localization(features) if self.localization is not None else None,
            "levels": self.identification(self.identification_input(features)) if self.identification is not None else None,
            "reconstruction": self.autoencoder(levels[-1]) if self.autoencoder is not None else None,
            "bottleneck": levels[-1],
        }

    # Per-vertebra heads -----------------------------------------------------------------------------------------

    def pool(self, features, regions):
        """SpineModel.pool(features:regions:) with config.pooling."""
        return pool_regions(features, regions, self.config.pooling)

    def classifier_image(self, image, grid):
        """SpineModel.classifierImage: the image the classification head reads, checked against the grid of `grid`;
        None when the head reads none."""
        if not self.config.classifier_reads_image:
            return None
        if image is None:
            raise ValueError("the classification head reads the input image (model.poolImage, model.poolImageNoise or "
                             "model.classifierFeatures: local or localInside): classify needs the image")
        if image.dim() != 5 or image.shape[1] != self.config.inChannels or image.shape[2:] != grid.shape[2:]:
            raise ValueError(f"input {list(image.shape)}: expected the image [N, {self.config.inChannels}, "
                             f"{', '.join(map(str, grid.shape[2:]))}] on the features' grid")
        return image

    def classify(self, features, regions, image=None):
        """SpineModel.classify(features:image:regions:): one class decision per region `(sample, mask [D, H, W])`,
        `[V, classes]` logits. The pooled features are the decoder's `features`, or with classifierFeatures local
        the local branch's of `image`, with localInside the local branch's of `image` inside each region alone;
        with poolImage the image pooled in each region beside them, with poolImageNoise its noise gauge."""
        if self.classifier is None:
            raise ValueError("the classification head is switched off in the model config")
        if not regions:
            return features.new_zeros((0, self.config.classes))
        image = self.classifier_image(image, features)
        if image is not None:
            image = image.to(features.dtype)
        if self.localFeatures is None or image is None:
            return self.classify_pooled(self.pool(features, regions), image, regions)
        if self.config.classifierFeatures == "localInside":
            return self.classify_pooled(self.pool_inside(self.localFeatures, image, regions), image, regions)
        return self.classify_pooled(self.pool(self.localFeatures(image), regions), image, regions)

    def classify_pooled(self, pooled, image, regions):
        """SpineModel.classify(pooled:image:regions:): the classifier MLP over `pooled` `[V, pooledFeatures]`, the
        pooled image (poolImage) and its noise gauge (poolImageNoise) after it."""
        parts = [pooled]
        if image is not None:
            image = image.to(pooled.dtype)
            if self.config.poolImage:
                parts.append(self.pool(image, regions))
            if self.config.poolImageNoise:
                parts.append(noise_gauge(image, regions))
        return self.classifier(pooled if len(parts) == 1 else torch.cat(parts, 1))

    def pool_inside(self, branch, image, regions):
        """SpineModel.poolInside: `branch` over each region's own voxels of `image` (zero outside the region's
        voxels of weight above 0), run once on a batch of windows of one size holding each region's bounding box,
        then pooled in the region."""
        shape = list(image.shape)
        supports = []
        for index, region in enumerate(regions):
            _check_region(region, index, shape)
            supports.append(region[1].gt(0).to(image.dtype))
        _, ranges = _windows([_bounding_box(s) for s in supports], shape[2:])
        windows, masks = [], []
        for (sample, mask), support, r in zip(regions, supports, ranges):
            windows.append(image[sample, :, r[0], r[1], r[2]] * support[r[0], r[1], r[2]])
            masks.append(mask[r[0], r[1], r[2]])
        return pool_regions(branch(torch.stack(windows)), list(enumerate(masks)), self.config.pooling)

    def classifier_region(self, region, allowed):
        """SpineModel.classifierRegion: the region, or with classifierRegion body / segmentedBody the region times
        `allowed` (body_voxels), keeping the whole region when that leaves no voxel above ½."""
        return region if self.config.classifierRegion == "vertebra" else restrict(region, allowed)

    def region_training_region(self, region, bone):
        """SpineModel.regionTrainingRegion: the region, or with regionTrainingVoxels segmentedBone the region times
        `bone` (bone_voxels of the segmentation)."""
        return restrict(region, bone) if self.config.regionTrainingVoxels == "segmentedBone" else region

    def context(self, output: dict):
        """SpineModel.context: the spinal-region head's context, the encoder's bottleneck."""
        return output["bottleneck"]

    def full_resolution_context(self, output: dict):
        """SpineModel.fullResolutionContext: the bottleneck upsampled (nearest) to the features' grid."""
        return F.interpolate(self.context(output), size=tuple(output["features"].shape[2:]), mode="nearest")

    def classify_regions(self, features, context, regions):
        """SpineModel.classifyRegions: `[V, len(SPINAL_REGIONS)]` logits from the pooled `features`, the
        mask-weighted mean of `context` (each mask averaged over the context's cells first when it is coarser) and,
        with regionLateral, the features pooled over each vertebra's lateral region."""
        if self.spinalRegions is None:
            raise ValueError("the identification head is switched off in the model config")
        if not regions:
            return features.new_zeros((0, len(SPINAL_REGIONS)))
        grid = list(context.shape[2:])
        coarse = []
        for index, (sample, mask) in enumerate(regions):
            shape = list(mask.shape)
            if shape != grid:
                if len(shape) != 3 or len(grid) != 3 or not all(g > 0 and s % g == 0 for s, g in zip(shape, grid)):
                    raise ValueError(f"region {index} (sample {sample}): mask {shape} does not fit features "
                                     f"{list(context.shape)}")
                factor = tuple(s // g for s, g in zip(shape, grid))
                mask = F.avg_pool3d(mask[None, None], factor, factor)[0, 0]
            coarse.append((sample, mask))
        pooled_context = pool_regions(context, coarse, "mean")
        inputs = [self.pool(features, regions), pooled_context]
        if self.config.regionLateral:
            inputs.append(self.pool(features, [(s, lateral_region(m)) for s, m in regions]))
        return self.spinalRegions(self.identification_input(torch.cat(inputs, 1)))


# --------------------------------------------------------------------------------------------------------------
# Summary (ModelSummary.swift): the same leaf layers, parameters and FLOP formula as `rachis model summary`.

NORM_FLOPS_PER_ELEMENT = 5
INTERPOLATION_FLOPS_PER_ELEMENT = 16

_TYPE_NAMES = {
    nn.Conv3d: "Conv3d", nn.ConvTranspose3d: "ConvTranspose3d", nn.Linear: "Linear", nn.GroupNorm: "GroupNorm",
    nn.InstanceNorm3d: "InstanceNorm", BatchNorm: "BatchNorm", nn.LeakyReLU: "Activation",
    nn.ReLU: "Activation", nn.Dropout: "Dropout", Upsampling: "Upsampling",
}


def _layer_flops(module, inp, out) -> int:
    if isinstance(module, nn.Conv3d):
        return 2 * out.numel() * math.prod(module.weight.shape[1:])
    if isinstance(module, nn.ConvTranspose3d):
        return 2 * inp.numel() * math.prod(module.weight.shape[1:])
    if isinstance(module, nn.Linear):
        return 2 * out.numel() * module.weight.shape[1]
    if isinstance(module, (nn.GroupNorm, nn.InstanceNorm3d, BatchNorm)):
        return NORM_FLOPS_PER_ELEMENT * out.numel()
    if isinstance(module, Upsampling):
        return INTERPOLATION_FLOPS_PER_ELEMENT * out.numel()
    return out.numel()


def summary(model: SpineModel, crop, batch: int = 1) -> dict:
    """One no-grad forward in eval mode on zeros `[batch, inChannels] + crop`, then the classifier (with the input
    as its image) and the spinal-region head on one whole-volume region per sample, recording every leaf layer:
    the fields of `rachis model summary --json`."""
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
            image = torch.zeros(shape)
            out = model(image)
            whole = torch.ones(list(crop))
            regions = [(i, whole) for i in range(batch)]
            if model.config.heads.classification:
                model.classify(out["features"], regions, image=image)
            if model.config.heads.identification:
                model.classify_regions(out["features"], model.context(out), regions)
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
