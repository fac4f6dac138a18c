"""EDM preconditioning of a denoiser D(x, sigma), the training distribution of sigma and the loss.

Imports only torch and math: this file is copied verbatim into every emitted package.

EDM (Karras et al. 2022), with sigma = sigma(t) the kernel's per-coordinate scale (DESIGN.md 6):

    D(x, sigma) = c_skip x + c_out F(c_in x, c_noise),
    c_skip = sd^2 / (s^2 + sd^2),  c_out = s sd / sqrt(s^2 + sd^2),  c_in = 1 / sqrt(s^2 + sd^2),
    c_noise = ln(sigma) / 4,        loss weight lambda = (s^2 + sd^2) / (s sd)^2,

with sd = sigma_data and s = sigma for a Gaussian kernel. A scale mixture x = y + sqrt(S) xi puts
some points at |x - y| >> sigma (heavy tails: PFGM, D = 1), where these coefficients ask the
network for outputs of size |x| / sigma. The outlier-aware scale replaces s^2 + sd^2 by

    (s^2 + sd^2) max(1, rho / q_N),   rho = |x|^2 / (N (s^2 + sd^2)),

where q_N is the 1 - 1e-3 quantile of chi^2_N / N (Wilson-Hilferty): a Gaussian kernel on data of
RMS sd exceeds it for about one point in a thousand, so the rule leaves EDM unchanged on ordinary
chi-square fluctuations and acts only on points a Gaussian kernel would not produce.
The threshold is q = max(q_N, DATA_MARGIN rho_data), rho_data = max_i |y_i|^2 / (N sd^2) over the
training rows (:meth:`Precond.fit_threshold`, a buffer saved with the weights). As sigma -> 0,
rho -> |y|^2 / (N sd^2) <= rho_data < q, so a genuine data row is never inflated: on data whose
own rows exceed q_N (8x8 digits: rho_data = 1.80 > q_64 = 1.64) an inflated v at sigma = 0.002 put
s^2 = v - sd^2 ~ 0.1 sd^2 >> sigma^2 into c_out, and the probability-flow ODE ran off on those rows.
The network still sees c_noise = ln(sigma) / 4 of the kernel's own sigma.

The anchored scale (``anchored``) catches the heavy tail's other points: x at a distance
d(x) >> sigma from every training row while |x| stays at the data's size (Yukawa, mixed
diffusion-Poisson, PFGM with small D put 10-17 % of the draws there at small sigma). D* must move
them by O(d), not O(sigma) (in ln sigma the tail's velocity is sigma-independent), so EDM's
c_out = O(sigma) asks for outputs of size d / sigma and their noise swamps the loss
(benchmarks/results/stall.md). With d^2 = min_i |x - a_i|^2 over anchor rows a_i (the training
rows, at most ANCHOR_ROWS of them, a buffer saved with the weights) the effective sigma^2 is

    s^2 = max(sigma^2, (d^2 - delta^2) / (N q_N)),

where delta^2 = DATA_MARGIN times the 1 - 1e-3 quantile of a training row's squared distance to its
nearest other anchor (:meth:`Precond.fit_anchors`, a buffer too): a point as far from the rows as a
new data point is (a held-out row, a sample that does not copy its training set) is never inflated,
and c_out grows to O(d) only beyond that, where no data point lies and a Gaussian kernel of scale
sigma around the nearest row would not put x. In high dimension (8x8 digits) delta is of the data's
own size and the rule is idle; as sigma grows, d / sigma -> 0 and s = sigma.

The conditioning seam: ``cond`` (class labels, a [B] long tensor; None: unconditional) goes from the
data through :func:`edm_loss` and :class:`Precond` to the backbone, as EDM's ``class_labels`` and
flow_matching's ``model_extras``. With cond=None the backbone is called as F(x, c_noise), so any
network of that signature works; with a condition, as F(x, c_noise, cond=cond).
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: EDM's training distribution: ln sigma ~ N(P_MEAN, P_STD^2)
P_MEAN = -1.2
P_STD = 1.2
#: the mean of ln sigma for the laws that are not self-similar (Yukawa, mixed): their heavy-tailed kernel
#: still moves far points at small sigma (benchmarks/results/stall.md section 7: moons, 4000 steps, Yukawa
#: SW2 0.046 -> 0.034; it hurts diffusion, 0.0165 -> 0.0206, and PFGM D = 1)
P_MEAN_NOT_SELF_SIMILAR = -2.0
#: the standard normal quantile of the outlier threshold (1 - 1e-3)
OUTLIER_Z = 3.090232306167813
#: the threshold's margin over the training rows' own largest rho (held-out rows, the added noise)
DATA_MARGIN = 1.25
#: the most training rows the anchored scale keeps (a seeded subset beyond)
ANCHOR_ROWS = 8192
#: the anchors of the first, coarse search (the anchors are in a seeded random order: a random subset)
ANCHOR_COARSE = 256
#: distances per block of the anchor search (rows of x x anchors)
ANCHOR_BLOCK = 2**20
#: the level of delta^2's quantile (the anchored scale's threshold)
ANCHOR_LEVEL = 1.0 - 1e-3


def chi2_quantile_per_dim(n_dim: int, z: float = OUTLIER_Z) -> float:
    """The quantile of chi^2_N / N at standard-normal level z (Wilson-Hilferty approximation)."""
    h = 2.0 / (9.0 * n_dim)
    return (1.0 - h + z * math.sqrt(h)) ** 3


def rho_data(x: torch.Tensor, sigma_data: float) -> float:
    """max_i |x_i|^2 / (N sd^2) over the rows of x: the largest rho of a data row as sigma -> 0."""
    flat = x.reshape(x.shape[0], -1).to(torch.float64)
    return float(flat.square().sum(1).max()) / (flat.shape[1] * sigma_data**2)


def nearest_d2(x: torch.Tensor, anchors: torch.Tensor, k: int = 1) -> torch.Tensor:
    """The k smallest |x_b - a_i|^2 per row of x ([B, ...] -> [B], or [B, k] for k > 1; float32), in blocks of
    ANCHOR_BLOCK distances."""
    flat = x.reshape(x.shape[0], -1).to(torch.float32)
    a2 = anchors.square().sum(1)
    rows = max(1, ANCHOR_BLOCK // max(1, anchors.shape[0]))
    out = []
    for xb in flat.split(rows):
        d2 = torch.addmm(a2[None], xb, anchors.T, alpha=-2.0).add_(xb.square().sum(1, keepdim=True))
        out.append(d2.amin(1) if k == 1 else torch.topk(d2, k, dim=1, largest=False).values)
    return torch.cat(out).clamp_min(0.0)


def call(fn, x: torch.Tensor, s: torch.Tensor, cond=None) -> torch.Tensor:
    """fn(x, s), or fn(x, s, cond=cond) when a condition is given (the one calling convention)."""
    return fn(x, s) if cond is None else fn(x, s, cond=cond)


class Precond(nn.Module):
    """D(x, sigma[, cond]) = c_skip x + c_out F(c_in x, c_noise[, cond]) around a backbone F.

    ``backbone(x, c_noise)`` takes x of the data's shape [B, ...] and c_noise of shape [B]
    and returns a tensor of x's shape. ``outlier_aware`` switches on the outlier-aware scale, ``anchored``
    the anchored one (it acts once :meth:`fit_data` has given it anchor rows).
    """

    def __init__(self, backbone: nn.Module, n_dim: int, sigma_data: float = 0.5, outlier_aware: bool = True,
                 data: torch.Tensor | None = None, anchored: bool = True):
        super().__init__()
        self.backbone = backbone
        self.n_dim = int(n_dim)
        self.sigma_data = float(sigma_data)
        self.outlier_aware = bool(outlier_aware)
        self.anchored = bool(anchored)
        #: the outlier threshold q (a buffer: saved in state_dict, so a checkpoint carries its data's q)
        self.register_buffer("q", torch.tensor(chi2_quantile_per_dim(self.n_dim), dtype=torch.float32))
        #: the anchored scale's rows [M, N] and threshold delta^2 (buffers: saved in state_dict; M = 0 until fit_data)
        self.register_buffer("anchors", torch.zeros(0, self.n_dim))
        self.register_buffer("delta2", torch.tensor(0.0))
        if data is not None:
            self.fit_data(data)

    @torch.no_grad()
    def fit_data(self, x: torch.Tensor) -> None:
        """Fit the outlier threshold and (when anchored) the anchor rows to the normalised training rows x."""
        self.fit_threshold(x)
        if self.anchored:
            self.fit_anchors(x)

    @torch.no_grad()
    def fit_anchors(self, x: torch.Tensor, max_rows: int = ANCHOR_ROWS) -> int:
        """Keep the rows of x (seeded order; a subset of max_rows beyond) as the anchors, and delta^2 = DATA_MARGIN
        times the ANCHOR_LEVEL quantile of a row's squared distance to its nearest other anchor (over at most
        max_rows rows of x); returns the number of anchors."""
        flat = x.reshape(x.shape[0], -1).to(torch.float32)
        order = torch.randperm(flat.shape[0], generator=torch.Generator().manual_seed(0)).to(flat.device)
        anchors = flat[order[:max_rows]]  # in a random order, so that the first ANCHOR_COARSE are a random subset
        probe = flat[order[-max_rows:]] if flat.shape[0] > max_rows else flat
        two = nearest_d2(probe, anchors, k=min(2, anchors.shape[0]))
        if two.ndim == 1:  # a single anchor: its own distance
            two = two[:, None]
        other = torch.where(two[:, 0] > 0, two[:, 0], two[:, -1])  # a row that is an anchor: its next one
        self.anchors = anchors.to(self.q.device).clone()
        self.delta2 = (DATA_MARGIN * torch.quantile(other.double(), ANCHOR_LEVEL)).float().to(self.q.device)
        return anchors.shape[0]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a checkpoint's anchors set their own number of rows (this module may have none yet)
        key = prefix + "anchors"
        if key in state_dict and state_dict[key].shape != self.anchors.shape:
            self.anchors = torch.empty_like(state_dict[key], device=self.anchors.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def fit_threshold(self, x: torch.Tensor) -> float:
        """Set q = max(q_N, DATA_MARGIN rho_data(x)) from the normalised training rows x; returns q."""
        q = max(chi2_quantile_per_dim(self.n_dim), DATA_MARGIN * rho_data(x, self.sigma_data))
        self.q.fill_(q)
        return q

    def scale2(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """s^2 + sd^2 per sample, shape [B] (inflated on outliers when outlier_aware)."""
        v = sigma.to(torch.float32) ** 2 + self.sigma_data**2
        if self.outlier_aware:
            rho = x.reshape(x.shape[0], -1).to(torch.float32).square().sum(1) / (self.n_dim * v)
            v = v * torch.clamp(rho / self.q, min=1.0)
        return v

    def anchored_sigma2(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """The anchored scale's s^2 = max(sigma^2, (d^2 - delta^2) / (N q_N)) per sample, shape [B]."""
        s2 = sigma.to(torch.float32) ** 2
        if not self.anchored or self.anchors.shape[0] == 0:
            return s2
        nq = self.n_dim * chi2_quantile_per_dim(self.n_dim)
        # d <= d_coarse (the coarse anchors are anchors): a row with d_coarse^2 <= delta^2 + N q_N sigma^2 is
        # not inflated, and only the others need the full search (at large sigma, almost none)
        d2 = nearest_d2(x, self.anchors[:ANCHOR_COARSE])
        need = d2 > self.delta2 + nq * s2
        if self.anchors.shape[0] > ANCHOR_COARSE and bool(need.any()):
            d2 = d2.masked_scatter(need, nearest_d2(x[need], self.anchors))
        return torch.maximum(s2, (d2 - self.delta2) / nq)

    def coefficients(self, x: torch.Tensor, sigma: torch.Tensor):
        """(c_skip, c_out, c_in, weight) per sample, each of shape [B]."""
        sd2 = self.sigma_data**2
        v_in = self.scale2(x, sigma)
        v = torch.maximum(v_in, self.anchored_sigma2(x, sigma) + sd2)
        s2 = v - sd2  # the effective sigma^2 (sigma^2 itself unless inflated)
        c_skip = sd2 / v
        c_out = torch.sqrt(s2 * sd2 / v)
        c_in = torch.rsqrt(v_in)
        weight = v / (s2 * sd2)
        return c_skip, c_out, c_in, weight

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond=None, with_weight: bool = False):
        """D(x, sigma[, cond]); with ``with_weight``, (D, the loss weight lambda) from the same coefficients."""
        sigma = sigma.reshape(-1).to(torch.float32).expand(x.shape[0])
        c_skip, c_out, c_in, weight = self.coefficients(x, sigma)
        view = (-1,) + (1,) * (x.ndim - 1)
        F = call(self.backbone, (c_in.view(view) * x).to(x.dtype), (torch.log(sigma) / 4).to(x.dtype), cond)
        D = c_skip.view(view) * x + c_out.view(view) * F.to(torch.float32)
        return (D, weight) if with_weight else D


def sample_train_sigma(n: int, generator: torch.Generator | None = None, device=None,
                       sigma_hi: float | None = None, p_mean: float = P_MEAN, p_std: float = P_STD,
                       sigma_lo: float | None = None) -> torch.Tensor:
    """n training sigmas, float64: ln sigma ~ N(p_mean, p_std^2), truncated to sigma_lo < sigma < sigma_hi.

    Inverse-CDF sampling of the (truncated) normal, so the truncation is exact and never a clamp
    (a kernel that is a density only for t_min < t < t_max trains only there).
    """

    def Phi(s):
        return 0.5 * (1.0 + math.erf((math.log(s) - p_mean) / (p_std * math.sqrt(2.0))))

    u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device if generator else device)
    lo = Phi(sigma_lo) if sigma_lo is not None else 0.0
    hi = Phi(sigma_hi) if sigma_hi is not None else 1.0
    if not lo < hi:
        raise ValueError(f"empty training range sigma in ({sigma_lo}, {sigma_hi})")
    u = lo + (hi - lo) * u
    u = u.clamp(min=1e-300, max=1.0 - 2.0**-53)  # ndtri(0) and ndtri(1) would be infinite
    sigma = torch.exp(p_mean + p_std * torch.special.ndtri(u))
    return sigma.to(device) if device is not None else sigma


def edm_loss(net: nn.Module, x: torch.Tensor, sigma: torch.Tensor, target: torch.Tensor,
             cond=None) -> torch.Tensor:
    """EDM's weighted denoising loss, mean over the batch: lambda(sigma) |D(x, sigma[, cond]) - target|^2 / N.

    ``net`` is a :class:`Precond` (or a DistributedDataParallel around one); ``target`` the
    denoiser target x - u / a(t) of the kernel; ``cond`` the batch's condition (None: unconditional).
    """
    D, weight = net(x, sigma.to(torch.float32), cond=cond, with_weight=True)  # one pass through the coefficients
    err = (D - target.to(D.dtype)).reshape(x.shape[0], -1).square().mean(1)
    return (weight * err).mean()
