"""The one macro architecture: stem → four stages (a downsample closing each of the first three) → head.

Read top to bottom: stem kinds, downsample kinds, head kinds, :class:`Stage`, :class:`Backbone`. Every family is a
:class:`~vmix.models.configs.ModelConfig` of this one module tree. Input and output maps are NCHW at the model
boundary; everything inside runs channels-last ``(B, H, W, C)``, the layout of the token mixers.

Downsampling sits at the end of a stage (``layers.i.downsample``, VMamba's and VSSD's placement); feature maps for
dense heads are taken *before* it, which is where MambaOut's start-of-stage downsample would take them too, so the
placement changes key names only. Stride-2 3×3 convolutions with padding 1 round odd sizes up
(``ceil(H / 2)``), as the official downsamplers do.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Sequence

import torch
from einops import rearrange
from jaxtyping import Float
from torch import Tensor, nn

from vmix._shapecheck import shapecheck
from vmix.models.blocks import build_block
from vmix.models.configs import ModelConfig, StageConfig

__all__ = ["Backbone", "ConvNormAct", "Stage"]


def _nchw(x: Tensor) -> Tensor:
    return rearrange(x, "b h w c -> b c h w")


def _nhwc(x: Tensor) -> Tensor:
    return rearrange(x, "b c h w -> b h w c")


def _normed_map(norm: nn.Module, x: Tensor) -> Tensor:
    """``norm`` over the channels of an NCHW map, returned channels-last ``(b, h, w, c)``.

    The norm runs on the flat token sequence: Inductor's layout optimisation would give a 4-D ``(b, h, w, c)``
    intermediate channels-last strides (h innermost) and its kernels would work transposed (see
    :class:`vmix.models.blocks.VSSBlock`).
    """
    return norm(rearrange(x, "b c h w -> b (h w) c")).unflatten(1, x.shape[2:])


class ConvNormAct(nn.Module):
    """Conv2d → optional BatchNorm2d → optional ReLU on NCHW maps (MLLA's ``ConvLayer``; keys ``conv``, ``norm``).

    Example:
        >>> ConvNormAct(3, 8, 3, stride=2, padding=1)(torch.randn(1, 3, 9, 9)).shape
        torch.Size([1, 8, 5, 5])
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bias: bool = False,
        norm: bool = True,
        act: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chans, out_chans, kernel_size, stride, padding, groups=groups, bias=bias)
        self.norm = nn.BatchNorm2d(out_chans) if norm else nn.Identity()
        self.act = nn.ReLU() if act else nn.Identity()

    def forward(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b c2 h2 w2"]:
        return self.act(self.norm(self.conv(x)))


# ---------------------------------------------------------------------------------------------------------- stems
class ConvStem(nn.Module):
    """VMamba's "v2" / MambaOut's stem: conv 3×3/s2 → LN → GELU → conv 3×3/s2 → LN; ``H → ceil(ceil(H/2)/2)``."""

    def __init__(self, in_chans: int, dim: int, eps: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, dim // 2, 3, 2, 1)
        self.norm1 = nn.LayerNorm(dim // 2, eps=eps)
        self.act = nn.GELU()
        self.conv2 = nn.Conv2d(dim // 2, dim, 3, 2, 1)
        self.norm2 = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b h2 w2 d"]:
        x = self.conv1(x)
        h = x.shape[2]
        x = self.act(self.norm1(rearrange(x, "b c h w -> b (h w) c")))  # [B, H/2 · W/2, C/2], as _normed_map says why
        return _normed_map(self.norm2, self.conv2(rearrange(x, "b (h w) c -> b c h w", h=h)))  # [B, H/4, W/4, C]


class VSSDConvStem(nn.Module):
    """VSSD's BN stem (from MLLA): conv/s2 → residual pair of 3×3 convs → conv/s2 to ``4C`` → 1×1 to ``C``."""

    def __init__(self, in_chans: int, dim: int, eps: float) -> None:
        super().__init__()
        c = dim // 2
        self.conv1 = ConvNormAct(in_chans, c, 3, stride=2, padding=1)
        self.conv2 = nn.Sequential(ConvNormAct(c, c, 3, padding=1), ConvNormAct(c, c, 3, padding=1, act=False))
        self.conv3 = nn.Sequential(
            ConvNormAct(c, 4 * dim, 3, stride=2, padding=1), ConvNormAct(4 * dim, dim, 1, act=False)
        )

    def forward(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b h2 w2 d"]:
        x = self.conv1(x)
        x = self.conv2(x) + x
        return _nhwc(self.conv3(x))


class VSSDPatchStem(nn.Module):
    """VSSD's ablation stem ("Patch"): 4×4/s4 conv → BN → ReLU → LN. Sizes round down, as a patchify does."""

    def __init__(self, in_chans: int, dim: int, eps: float) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_chans, dim, 4, stride=4)
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b h2 w2 d"]:
        return _normed_map(self.norm, self.conv1(x))


STEMS = {"conv2": ConvStem, "vssd_conv": VSSDConvStem, "vssd_patch": VSSDPatchStem}


# ----------------------------------------------------------------------------------------------------- downsamples
class ConvLNDownsample(nn.Module):
    """VMamba's "v3" / MambaOut's downsample: conv 3×3/s2 (bias) → LN, channels-last in and out."""

    def __init__(self, dim: int, out_dim: int, eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, out_dim, 3, 2, 1)
        self.norm = nn.LayerNorm(out_dim, eps=eps)

    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h2 w2 d"]:
        return _normed_map(self.norm, self.conv(_nchw(x)))


class MLLADownsample(nn.Module):
    """VSSD's downsample (MLLA's PatchMerging): 1×1 conv to ``4·out`` → ReLU → DW 3×3/s2 → ReLU → 1×1 → BN."""

    def __init__(self, dim: int, out_dim: int, eps: float) -> None:
        super().__init__()
        hidden = 4 * out_dim
        self.conv = nn.Sequential(
            ConvNormAct(dim, hidden, 1, bias=True, norm=False),
            ConvNormAct(hidden, hidden, 3, stride=2, padding=1, groups=hidden, bias=True, norm=False),
            ConvNormAct(hidden, out_dim, 1, bias=True, act=False),
        )

    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h2 w2 d"]:
        return _nhwc(self.conv(_nchw(x)))


class PatchDownsample(nn.Module):
    """VSSD's ablation downsample ("Patch" in Table 5): conv 3×3/s2 (bias) → ReLU → LN."""

    def __init__(self, dim: int, out_dim: int, eps: float) -> None:
        super().__init__()
        self.conv = nn.Sequential(ConvNormAct(dim, out_dim, 3, stride=2, padding=1, bias=True, norm=False))
        self.norm = nn.LayerNorm(out_dim, eps=eps)

    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h2 w2 d"]:
        return _normed_map(self.norm, self.conv(_nchw(x)))


DOWNSAMPLES = {"conv_ln": ConvLNDownsample, "mlla": MLLADownsample, "patch": PatchDownsample}


# ----------------------------------------------------------------------------------------------------------- heads
def _global_pool(x: Tensor) -> Tensor:
    return x.mean((1, 2))  # [B, H, W, C] -> [B, C]


def _classifier(dim: int, num_classes: int) -> nn.Module:
    return nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()


class NormPoolLinearHead(nn.Module):
    """LN on the last map → global average → Linear (VMamba, VSSD)."""

    def __init__(self, dim: int, num_classes: int, eps: float, hidden_ratio: float) -> None:
        super().__init__()
        self.hidden_size = dim
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.fc = _classifier(dim, num_classes)

    def forward(self, x: Float[Tensor, "b h w c"], pre_logits: bool = False) -> Float[Tensor, "b k"]:
        x = self.norm(x.flatten(1, 2)).mean(1)  # on the flat token sequence, as _normed_map says why
        return x if pre_logits else self.fc(x)


class MlpPreLogits(nn.Module):
    """MambaOut's MLP before the classifier: Linear → GELU → LN."""

    def __init__(self, dim: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: Float[Tensor, "b c"]) -> Float[Tensor, "b d"]:
        return self.norm(self.act(self.fc(x)))


class PoolNormMlpHead(nn.Module):
    """Global average → LN → Linear(C, rC) → GELU → LN → Linear (MambaOut's MlpHead); no MLP when ``r = 0``."""

    def __init__(self, dim: int, num_classes: int, eps: float, hidden_ratio: float) -> None:
        super().__init__()
        self.hidden_size = int(hidden_ratio * dim) or dim
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.pre_logits = MlpPreLogits(dim, self.hidden_size, eps) if hidden_ratio > 0 else nn.Identity()
        self.fc = _classifier(self.hidden_size, num_classes)

    def forward(self, x: Float[Tensor, "b h w c"], pre_logits: bool = False) -> Float[Tensor, "b k"]:
        x = self.pre_logits(self.norm(_global_pool(x)))
        return x if pre_logits else self.fc(x)


HEADS = {"norm_pool_linear": NormPoolLinearHead, "pool_norm_mlp": PoolNormMlpHead}


# ---------------------------------------------------------------------------------------------------------- stages
class Stage(nn.Module):
    """A stage: its blocks at one width, then the downsample to the next width (``Identity`` for the last stage).

    Example:
        >>> from vmix.models.configs import BlockConfig, StageConfig
        >>> stage = Stage(StageConfig(24, (BlockConfig("gated_cnn", mlp_ratio=8 / 3),)), 48, "conv_ln", 1e-6, [0.0])
        >>> stage(torch.randn(1, 5, 7, 24)).shape
        torch.Size([1, 3, 4, 48])
    """

    def __init__(
        self, config: StageConfig, out_dim: int | None, downsample: str, eps: float, drop_paths: Sequence[float]
    ) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *(build_block(config.dim, block, dp) for block, dp in zip(config.blocks, drop_paths, strict=True))
        )
        self.downsample = DOWNSAMPLES[downsample](config.dim, out_dim, eps) if out_dim is not None else nn.Identity()

    def forward(self, x: Float[Tensor, "b h w c"]) -> Float[Tensor, "b h2 w2 d"]:
        return self.downsample(self.blocks(x))


# -------------------------------------------------------------------------------------------------------- backbone
def _call_module(module: nn.Module, forward, *args, **kwargs):
    """What :meth:`Backbone.compile_regions` compiles: one module's forward, on a code object per region."""
    return forward(module, *args, **kwargs)


class Backbone(nn.Module):
    """Stem → four stages → head, built from a :class:`~vmix.models.configs.ModelConfig`.

    One module tree for VMamba, GConvNet, the hybrids, VSSD and MambaOut, so comparing token mixers changes only the
    config. Works at any input size; feature maps come at strides 4, 8, 16, 32.

    Args:
        config: the model.
        features_only: build no head; ``forward`` returns the NCHW feature maps of ``out_indices``.
        out_indices: stages whose outputs ``features_only`` returns.

    Attributes:
        num_classes: classifier outputs (0: no classifier).
        num_features: channels of the last stage (what ``forward_features`` returns).
        feature_info: one dict per stage: ``num_chs``, ``reduction``, ``module``.

    Example:
        >>> import vmix
        >>> model = vmix.create_model("gconvnet_pico", num_classes=10)
        >>> model(torch.randn(1, 3, 64, 48)).shape
        torch.Size([1, 10])
        >>> [f.shape[-1] for f in vmix.create_model("gconvnet_pico", features_only=True)(torch.randn(1, 3, 64, 48))]
        [12, 6, 3, 2]
    """

    def __init__(
        self, config: ModelConfig, *, features_only: bool = False, out_indices: Sequence[int] = (0, 1, 2, 3)
    ) -> None:
        super().__init__()
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in range(4) for i in out_indices):
            raise ValueError(f"out_indices must be stage indices in 0..3; got {out_indices}")
        self.config = config
        self.features_only = features_only
        self.out_indices = out_indices
        dims = config.dims
        self.num_features = dims[-1]
        self.feature_info = [
            {"num_chs": dim, "reduction": 4 * 2**i, "module": f"layers.{i}"} for i, dim in enumerate(dims)
        ]
        self.stem = STEMS[config.stem](config.in_chans, dims[0], config.norm_eps)
        rates = torch.linspace(0, config.drop_path_rate, sum(config.depths), device="cpu").tolist()
        layers, start = [], 0
        for i, stage in enumerate(config.stages):
            out_dim = dims[i + 1] if i + 1 < len(dims) else None
            layers.append(Stage(stage, out_dim, config.downsample, config.norm_eps, rates[start : start + stage.depth]))
            start += stage.depth
        self.layers = nn.ModuleList(layers)
        self.num_classes = 0 if features_only else config.num_classes
        if not features_only:
            self.head = HEADS[config.head](dims[-1], config.num_classes, config.norm_eps, config.head_hidden_ratio)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        # The official network-wide pass: Linears trunc_normal(0.02) (bounds ±2), LayerNorms 1/0; convs keep
        # PyTorch's default except in MambaOut. Raw SSM parameters are plain Parameters, untouched here.
        truncated = (nn.Linear, nn.Conv2d) if self.config.conv_init == "trunc_normal" else (nn.Linear,)
        if isinstance(module, truncated):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    # ----------------------------------------------------------------------------------------------- classifier
    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final Linear by a fresh one with ``num_classes`` outputs (0: none, pooled features out).

        Example:
            >>> import vmix
            >>> model = vmix.create_model("gconvnet_pico")
            >>> model.reset_classifier(5)
            >>> model(torch.randn(1, 3, 32, 32)).shape
            torch.Size([1, 5])
        """
        if self.features_only:
            raise RuntimeError("a features_only model has no classifier to reset")
        self.num_classes = num_classes
        self.head.fc = _classifier(self.head.hidden_size, num_classes)
        if num_classes > 0:
            self._init_weights(self.head.fc)

    # --------------------------------------------------------------------------------------------------- forward
    def compile_regions(self, **compile_kwargs) -> None:
        """Compile the model region by region, in place: the stem, the blocks, the downsamples and the head.

        ``torch.compile(model)`` traces and compiles the whole unrolled model. Here the blocks of a stage share one
        compiled graph (drop path reads its rate from buffers, so blocks that differ only in their rate trace
        alike), so compilation costs about one block per stage and kind: the first training step of ``vmamba_pico``
        on the CPU (64², batch 2, empty Inductor cache) took 164 s this way against 288 s for the whole model, and
        the steps after it were no slower (0.17 s against 0.20 s). What is lost is fusion across a region's
        boundary. Parameters, state dict and outputs are unchanged.

        Args:
            **compile_kwargs: passed to each ``torch.compile`` (``dynamic=False`` unless given: a block sees one
                shape per stage).

        Example:
            >>> import vmix
            >>> model = vmix.create_model("gconvnet_pico")
            >>> model.compile_regions(backend="eager")
            >>> model(torch.randn(1, 3, 64, 64)).shape
            torch.Size([1, 1000])
        """
        compile_kwargs.setdefault("dynamic", False)
        groups = {"stem": [self.stem]}
        groups.update({f"stage{i + 1}_blocks": list(stage.blocks) for i, stage in enumerate(self.layers)})
        groups["downsamples"] = [stage.downsample for stage in self.layers]
        groups["head"] = [self.head] if hasattr(self, "head") else []
        for name, group in groups.items():
            # Dynamo keeps at most 8 graphs per code object: one code object per group (a stage's blocks: train
            # with and without drop path, eval) keeps every stage within it, however many stages share a class.
            code = _call_module.__code__.replace(co_name=name, co_qualname=name)
            compiled = torch.compile(types.FunctionType(code, _call_module.__globals__, name), **compile_kwargs)
            for module in group:
                if not isinstance(module, nn.Identity):
                    module.forward = functools.partial(compiled, module, type(module).forward)

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.config.in_chans:
            raise ValueError(
                f"expected an NCHW image batch (B, {self.config.in_chans}, H, W); got shape {tuple(x.shape)}"
            )

    def forward_intermediates(
        self,
        x: Float[Tensor, "b c h w"],
        indices: int | Sequence[int] | None = None,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ):
        """Stage outputs (taken before each downsample) and the last map.

        Args:
            x: images ``(B, in_chans, H, W)``.
            indices: stages to return: ``None`` all four, an int ``n`` the last ``n``, or a sequence of indices.
            output_fmt: ``"NCHW"`` or ``"NHWC"`` for the intermediates.
            intermediates_only: return only the list of intermediates.

        Returns:
            ``(final, intermediates)`` with ``final`` the channels-last output of the last stage (what
            ``forward_head`` takes), or the intermediates alone.

        Example:
            >>> import vmix
            >>> model = vmix.create_model("gconvnet_pico")
            >>> feats = model.forward_intermediates(torch.randn(1, 3, 33, 40), indices=2, intermediates_only=True)
            >>> [tuple(f.shape) for f in feats]
            [(1, 192, 3, 3), (1, 384, 2, 2)]
        """
        if output_fmt not in ("NCHW", "NHWC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NHWC'; got {output_fmt!r}")
        if indices is None:
            wanted = tuple(range(4))
        elif isinstance(indices, int):
            if not 0 < indices <= 4:
                raise ValueError(f"an int indices counts the last stages, 1..4; got {indices}")
            wanted = tuple(range(4 - indices, 4))
        else:
            wanted = tuple(indices)
            if any(i not in range(4) for i in wanted):
                raise ValueError(f"indices must be stage indices in 0..3; got {wanted}")
        self._check_input(x)
        x = self.stem(x)
        intermediates = []
        for i, stage in enumerate(self.layers):
            x = stage.blocks(x)
            if i in wanted:
                intermediates.append(_nchw(x) if output_fmt == "NCHW" else x)
            x = stage.downsample(x)
        return intermediates if intermediates_only else (x, intermediates)

    @shapecheck
    def forward_features(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b h2 w2 d"]:
        """Stem and stages: images ``(B, C, H, W)`` → the last map, channels-last ``(B, H/32, W/32, num_features)``."""
        self._check_input(x)
        x = self.stem(x)
        for stage in self.layers:
            x = stage(x)
        return x

    def forward_head(self, x: Float[Tensor, "b h w c"], pre_logits: bool = False) -> Float[Tensor, "b k"]:
        """Head on the channels-last last map: logits, or the pooled (MLP) features with ``pre_logits``."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: Float[Tensor, "b c h w"]):
        """Logits ``(B, num_classes)``; with ``features_only`` the list of NCHW maps of ``out_indices``."""
        if self.features_only:
            return self.forward_intermediates(x, self.out_indices, intermediates_only=True)
        return self.forward_head(self.forward_features(x))
