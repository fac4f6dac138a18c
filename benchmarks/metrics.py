"""Sample-quality metrics of the benchmarks: sliced W2, MMD, and a Frechet distance for digits.

- Sliced Wasserstein-2 (:func:`sliced_w2`): pdec.runtime.data.sliced_w2 with 256 seeded random
  directions (one implementation, shared with the emitted packages).
- MMD (:func:`mmd`): the biased (V-statistic) estimate of the maximum mean discrepancy with the
  Gaussian kernel k(x, y) = exp(-|x - y|^2 / (2 h^2)); the bandwidth h is the median pairwise
  distance of the reference (held-out) set (:func:`median_bandwidth`, 1000 seeded points), fixed per
  data set so every model is scored with the same kernel. Reported as sqrt(MMD^2) (>= 0, exactly 0
  for two identical sets).
- Digits (:class:`DigitsClassifier`): an MLP 64 -> 256 -> 256 -> 10 trained once, deterministically,
  on the real digits training split and then kept fixed. The Frechet distance between Gaussians
  fitted to its penultimate features (256-D) is the FID analogue; its mean max-softmax confidence
  and exp(E KL(p(c|x) || p(c))) on samples are the Inception-score analogue (10 at most).

Every metric is reported beside its floor: the training set against the held-out set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pdec.runtime.data import sliced_w2 as _sliced_w2

N_PROJ = 256


def _rows(x) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    return x.reshape(x.shape[0], -1)


def sliced_w2(a, b, n_proj: int = N_PROJ, seed: int = 0) -> float:
    """Sliced W2 between the rows of a and b: sqrt(mean over n_proj directions of 1-D W2^2)."""
    return _sliced_w2(np.asarray(a), np.asarray(b), n_proj=n_proj, seed=seed)


class SlicedW2To:
    """sliced_w2(a, ref) for many a against one fixed ref: the ref's projected quantiles computed once.

    The same directions, quantile levels and arithmetic as pdec.runtime.data.sliced_w2 (equal to it,
    tests/test_bench_fewstep.py); used where hundreds of sample sets are scored against one split.
    """

    def __init__(self, ref, n_proj: int = N_PROJ, seed: int = 0):
        b = _rows(ref)
        g = torch.Generator().manual_seed(seed)
        theta = torch.randn(b.shape[1], n_proj, generator=g, dtype=torch.float64)
        self.theta = theta / theta.norm(dim=0, keepdim=True)
        self.q = (torch.arange(1000, dtype=torch.float64) + 0.5) / 1000
        self.pb = torch.quantile(b @ self.theta, self.q, dim=0)

    def __call__(self, a) -> float:
        pa = torch.quantile(_rows(a) @ self.theta, self.q, dim=0)
        return float(((pa - self.pb) ** 2).mean().sqrt())


def median_bandwidth(ref, n: int = 1000, seed: int = 0) -> float:
    """h = the median pairwise distance (i < j) of up to n seeded rows of ref."""
    z = _rows(ref)
    if z.shape[0] > n:
        idx = torch.randperm(z.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
        z = z[idx]
    d = torch.cdist(z, z)
    iu = torch.triu_indices(z.shape[0], z.shape[0], 1)
    h = float(d[iu[0], iu[1]].median())
    if not h > 0:
        raise ValueError("the reference set has zero median pairwise distance")
    return h


def _mean_kernel(a: torch.Tensor, b: torch.Tensor, h: float, chunk: int = 1024) -> float:
    total = 0.0
    for i in range(0, a.shape[0], chunk):
        d2 = torch.cdist(a[i:i + chunk], b).square_()
        total += float(torch.exp(d2.mul_(-0.5 / h**2)).sum())
    return total / (a.shape[0] * b.shape[0])


def mmd(a, b, bandwidth: float) -> float:
    """sqrt of the biased MMD^2 = E k(a, a') + E k(b, b') - 2 E k(a, b), Gaussian kernel of width h."""
    A, B = _rows(a), _rows(b)
    m2 = _mean_kernel(A, A, bandwidth) + _mean_kernel(B, B, bandwidth) - 2.0 * _mean_kernel(A, B, bandwidth)
    return math.sqrt(max(m2, 0.0))


def frechet_distance(fa, fb) -> float:
    """|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)) between Gaussians fitted to two feature sets."""
    fa = np.asarray(fa, dtype=np.float64)
    fb = np.asarray(fb, dtype=np.float64)
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    Ca, Cb = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    # tr (Ca Cb)^(1/2) = sum of sqrt eig(Ca^(1/2) Cb Ca^(1/2)), a symmetric PSD matrix (stable when singular)
    w, V = np.linalg.eigh(Ca)
    root_a = (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T
    ev = np.linalg.eigvalsh(root_a @ Cb @ root_a)
    tr_root = float(np.sqrt(np.clip(ev, 0.0, None)).sum())
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(Ca) + np.trace(Cb) - 2.0 * tr_root)


class _ClassifierNet(nn.Module):
    def __init__(self, dim: int = 64, width: int = 256, n_class: int = 10):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(dim, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU())
        self.head = nn.Linear(width, n_class)

    def forward(self, x):
        return self.head(self.body(x))


@dataclass(frozen=True)
class SampleScores:
    """Classifier scores of a sample set: Frechet distance to the held-out features, confidence, IS analogue."""

    fd: float
    confidence: float
    inception: float


class DigitsClassifier:
    """A fixed digits classifier (64 -> 256 -> 256 -> 10, SiLU), trained deterministically (seeded Adam).

    Inputs are digits scaled to [-1, 1] and flattened to 64 coordinates. ``cache`` (an .npz) keeps the
    weights: loaded when present, written after training otherwise.
    """

    STEPS = 1500
    BATCH = 128

    def __init__(self, x_train, labels, x_test=None, labels_test=None, cache: Path | None = None, seed: int = 0):
        self.net = _ClassifierNet()
        if cache is not None and Path(cache).exists():
            with np.load(cache, allow_pickle=False) as z:
                self.net.load_state_dict({k: torch.from_numpy(z[k]) for k in z.files})
        else:
            self._train(_rows(x_train).float(), torch.as_tensor(np.asarray(labels), dtype=torch.long), seed)
            if cache is not None:
                Path(cache).parent.mkdir(parents=True, exist_ok=True)
                np.savez(cache, **{k: v.detach().numpy() for k, v in self.net.state_dict().items()})
        self.net.eval()
        self.accuracy = float("nan")
        if x_test is not None:
            pred = self.probs(x_test).argmax(1)
            self.accuracy = float((pred == np.asarray(labels_test)).mean())

    def _train(self, x, y, seed):
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.net = _ClassifierNet()
        opt = torch.optim.Adam(self.net.parameters(), lr=1e-3, weight_decay=1e-4)
        for _ in range(self.STEPS):
            idx = torch.randint(0, x.shape[0], (self.BATCH,), generator=g)
            # light input noise: the classifier must also see the imperfect digits a model draws
            xb = x[idx] + 0.1 * torch.randn(self.BATCH, x.shape[1], generator=g)
            loss = nn.functional.cross_entropy(self.net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    @torch.no_grad()
    def features(self, x) -> np.ndarray:
        """Penultimate features, [n, 256]."""
        return self.net.body(_rows(x).float()).numpy()

    @torch.no_grad()
    def probs(self, x) -> np.ndarray:
        """Class probabilities, [n, 10]."""
        return torch.softmax(self.net(_rows(x).float()), 1).numpy()

    def scores(self, samples, reference_features: np.ndarray) -> SampleScores:
        """Frechet distance of the samples' features to the reference features, confidence and IS analogue."""
        x = np.clip(np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0), -10.0, 10.0)
        fd = frechet_distance(self.features(x), reference_features)
        p = self.probs(x).astype(np.float64)
        conf = float(p.max(1).mean())
        marg = p.mean(0)
        kl = (p * (np.log(p + 1e-12) - np.log(marg + 1e-12))).sum(1).mean()
        return SampleScores(fd=fd, confidence=conf, inception=float(math.exp(kl)))
