"""The backbones F(x, c_noise) behind EDM's preconditioning: an MLP for vectors, a small U-Net for images.

Imports only torch and math (and its siblings): this file is copied verbatim into every emitted package,
and the benchmarks train the same classes.

    D(x, sigma) = c_skip x + c_out F(c_in x, c_noise)        (precond.py)

F takes x of the data's shape [B, *shape] and c_noise [B] (EDM's ln(sigma) / 4, or any conditioning
scalar such as flow matching's t) and returns a tensor shaped like x. ``cond`` is the conditioning seam
(class labels, a [B] long tensor). With ``classes`` = None (the default) a backbone is unconditional,
has exactly the architecture it always had and accepts only cond=None. With ``classes`` = K it holds a
label embedding nn.Embedding(K + 1, E) whose row K is the null label of classifier-free guidance
(cond=None means the null label for every row): the MLP concatenates it to its input features, the
U-Net adds it to its noise embedding.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .precond import Precond

#: backbone kinds (config.py's model.kind)
KINDS = ("mlp", "unet")
#: sin and cos of 2^j c_noise for j < N_FREQ, and c_noise itself
N_FREQ = 6
N_FEATURES = 1 + 2 * N_FREQ
#: the MLP's label embedding width (concatenated to [x, noise features])
MLP_LABEL_DIM = 32


def noise_features(c_noise: torch.Tensor, n_freq: int = N_FREQ) -> torch.Tensor:
    """[B] -> [B, 1 + 2 n_freq]: c_noise and sin, cos of 2^j c_noise."""
    f = c_noise[:, None] * (2.0 ** torch.arange(n_freq, device=c_noise.device, dtype=c_noise.dtype))
    return torch.cat([c_noise[:, None], torch.sin(f), torch.cos(f)], 1)


def _unconditional(cond) -> None:
    if cond is not None:
        raise ValueError("this backbone is unconditional: it has no label embedding (cond must be None)")


def _classes(classes) -> int | None:
    if classes is None:
        return None
    if int(classes) != classes or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}")
    return int(classes)


def label_embedding(module: nn.Module, cond, n: int, device) -> torch.Tensor:
    """The [n, E] embedding of the labels ``cond`` (None: the null label K for every row)."""
    if cond is None:
        cond = torch.full((n,), module.classes, dtype=torch.long, device=device)
    else:
        cond = torch.as_tensor(cond, device=device).reshape(-1).to(torch.long).expand(n)
    return module.label(cond)


class MLP(nn.Module):
    """F(x, c_noise) for vectors: depth layers of width units (SiLU) on [x, noise features], then a linear map."""

    def __init__(self, shape, width: int = 256, depth: int = 4, classes: int | None = None):
        super().__init__()
        self.shape = (int(shape),) if isinstance(shape, int) else tuple(shape)
        self.classes = _classes(classes)
        n = math.prod(self.shape)
        e = 0 if self.classes is None else MLP_LABEL_DIM
        layers = [nn.Linear(n + N_FEATURES + e, width), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.SiLU()]
        layers.append(nn.Linear(width, n))
        self.net = nn.Sequential(*layers)
        if self.classes is not None:
            self.label = nn.Embedding(self.classes + 1, MLP_LABEL_DIM)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, cond=None) -> torch.Tensor:
        c = c_noise.reshape(-1).to(x.dtype).expand(x.shape[0])  # a scalar conditioning (flow matching's t) too
        parts = [x.reshape(x.shape[0], -1), noise_features(c)]
        if self.classes is None:
            _unconditional(cond)
        else:
            parts.append(label_embedding(self, cond, x.shape[0], x.device).to(x.dtype))
        return self.net(torch.cat(parts, 1)).reshape(x.shape)


def _groups(c: int) -> int:
    """GroupNorm's groups for c channels: at most 8, and at least 2 channels per group where c allows,
    since a group of one channel subtracts the per-channel constant that the noise (and label)
    embedding adds, which would cut the network off from sigma."""
    return next(g for g in (8, 4, 2, 1) if c % g == 0 and (c // g >= 2 or g == 1))


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the noise embedding added in between, and a skip."""

    def __init__(self, c_in: int, c_out: int, emb: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.conv1(torch.nn.functional.silu(self.norm1(x)))
        h = h + self.emb(e)[:, :, None, None]
        h = self.conv2(torch.nn.functional.silu(self.norm2(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    """F(x, c_noise) for images [C, H, W] (or [H, W]), H and W even: two resolutions, a skip connection."""

    def __init__(self, shape, channels: int = 64, classes: int | None = None):
        super().__init__()
        self.shape = tuple(shape)
        self.classes = _classes(classes)
        c_img = self.shape[0] if len(self.shape) == 3 else 1
        ch, emb = channels, 4 * channels
        self.embed = nn.Sequential(nn.Linear(N_FEATURES, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inp = nn.Conv2d(c_img, ch, 3, padding=1)
        self.down = ResBlock(ch, ch, emb)
        self.mid1 = ResBlock(ch, 2 * ch, emb)
        self.mid2 = ResBlock(2 * ch, 2 * ch, emb)
        self.up = ResBlock(3 * ch, ch, emb)
        self.out = nn.Sequential(nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Conv2d(ch, c_img, 3, padding=1))
        if self.classes is not None:
            self.label = nn.Embedding(self.classes + 1, emb)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, cond=None) -> torch.Tensor:
        h0 = x.reshape(x.shape[0], -1, *x.shape[-2:])
        e = self.embed(noise_features(c_noise))
        if self.classes is None:
            _unconditional(cond)
        else:
            e = e + label_embedding(self, cond, x.shape[0], x.device).to(e.dtype)
        h1 = self.down(self.inp(h0), e)
        h2 = torch.nn.functional.avg_pool2d(h1, 2)
        h2 = self.mid2(self.mid1(h2, e), e)
        h3 = torch.nn.functional.interpolate(h2, scale_factor=2.0, mode="nearest")
        h = self.up(torch.cat([h3, h1], 1), e)
        return self.out(h).reshape(x.shape)


def backbone(kind: str, shape, width: int = 256, depth: int = 4, channels: int = 64,
             classes: int | None = None) -> nn.Module:
    """The network F of a model kind ("mlp": width, depth; "unet": channels); ``classes`` = K adds a label
    embedding of K + 1 rows (None: unconditional)."""
    if kind == "unet":
        return UNet(shape, channels=channels, classes=classes)
    if kind == "mlp":
        return MLP(shape, width=width, depth=depth, classes=classes)
    raise ValueError(f"unknown backbone kind {kind!r}; expected one of {', '.join(KINDS)}")


def denoiser(net: nn.Module, shape, sigma_data: float, outlier_aware: bool = True, data=None,
             anchored: bool = True) -> Precond:
    """The preconditioned denoiser D(x, sigma[, cond]) around a backbone F (``data``: the normalised
    training rows that set its outlier threshold and anchors, Precond.fit_data)."""
    n = shape if isinstance(shape, int) else math.prod(shape)
    return Precond(net, n_dim=n, sigma_data=sigma_data, outlier_aware=outlier_aware, data=data, anchored=anchored)
