"""Classifier-free guidance: a denoiser wrapper that the solvers call as any denoiser.

Imports only torch (and its siblings): this file is copied verbatim into every emitted package.

A conditional network D(x, sigma, cond) trained with label dropout (the null label K in place of the
label with probability p) is both the conditional denoiser D(x, sigma | k) and the unconditional one
D(x, sigma | null). Guidance with weight w (Ho & Salimans 2022, in denoiser form) integrates

    D_w(x, sigma | k) = D(x, sigma | null) + w (D(x, sigma | k) - D(x, sigma | null)),

w = 1: plain conditional, w = 0: unconditional, w > 1: guided. Each evaluation is one batched call of
2B rows ([x; x] with [k; null]), so a solver's NFE count is unchanged (each evaluation costs two
network passes' worth of rows).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .precond import call


def check_weight(w: float) -> float:
    """The guidance weight as a float; ValueError unless it is finite and >= 0."""
    w = float(w)
    if not math.isfinite(w) or w < 0.0:
        raise ValueError(f"the guidance weight must be a finite number >= 0, got {w!r}")
    return w


class Guided(nn.Module):
    """D_w(x, sigma, cond) = D(x, sigma, null) + w (D(x, sigma, cond) - D(x, sigma, null)).

    ``net`` is a conditional denoiser net(x, sigma, cond=labels); ``null`` its null label K. cond=None
    is the unconditional denoiser itself (guidance needs a label); w = 1 is the plain conditional call.
    """

    def __init__(self, net: nn.Module, weight: float, null: int):
        super().__init__()
        self.net = net
        self.weight = check_weight(weight)
        self.null = int(null)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond=None) -> torch.Tensor:
        if cond is None or self.weight == 1.0:
            return call(self.net, x, sigma, cond)
        n = x.shape[0]
        sigma = torch.as_tensor(sigma, device=x.device).reshape(-1).expand(n)
        cond = torch.as_tensor(cond, device=x.device).reshape(-1).to(torch.long).expand(n)
        null = torch.full_like(cond, self.null)
        D = self.net(torch.cat([x, x]), torch.cat([sigma, sigma]), cond=torch.cat([cond, null]))
        d_cond, d_null = D[:n], D[n:]
        return d_null + self.weight * (d_cond - d_null)
