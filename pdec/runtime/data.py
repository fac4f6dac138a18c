"""Built-in data sets, the .npy loader, EDM normalisation and the sliced Wasserstein metric.

Imports only numpy, torch and math: this file is copied verbatim into every emitted package.

Toy sets (2-D): moons, circles, 8gaussians, checkerboard, swissroll, drawn from a seeded numpy
Generator, so the same (name, n, seed) gives the same array on every machine. Image-like data
(digits, or any [n, ...] array from a .npy file) is loaded from disk with allow_pickle=False.

Labels (class conditioning): integers 0..K-1, one per row, from a .npy file beside a user's data, or
a built-in set's own (LABELLED_SETS: digits, its 10 classes; 8gaussians, the mode index k of the centre
2 (cos 2 pi k / 8, sin 2 pi k / 8)); the other sets have none. :func:`check_labels` refuses labels
that are not integers, do not match the data's rows, or lie outside 0..K-1.

Normalisation (EDM): x_n = (x - mean) / scale with a per-coordinate mean and one scalar scale
chosen so that the root-mean-square coordinate of x_n is sigma_data (0.5, EDM's value).
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: the per-coordinate RMS of normalised data (EDM's sigma_data)
SIGMA_DATA = 0.5

#: the built-in sets that have labels, and their number of classes K
LABELLED_SETS = {"8gaussians": 8, "digits": 10}

#: the digits split of BENCHMARKS.md: permutation seed 7, 1400 train / 397 held out
DIGITS_SPLIT_SEED = 7
DIGITS_N_TRAIN = 1400


def _moons(rng: np.random.Generator, n: int) -> np.ndarray:
    n_out = n // 2
    n_in = n - n_out
    a = rng.uniform(0.0, math.pi, n_out)
    b = rng.uniform(0.0, math.pi, n_in)
    outer = np.stack([np.cos(a), np.sin(a)], 1)
    inner = np.stack([1.0 - np.cos(b), 0.5 - np.sin(b)], 1)
    x = np.concatenate([outer, inner], 0)
    return x + 0.05 * rng.standard_normal(x.shape)


def _circles(rng: np.random.Generator, n: int) -> np.ndarray:
    n_out = n // 2
    a = rng.uniform(0.0, 2.0 * math.pi, n)
    radius = np.where(np.arange(n) < n_out, 1.0, 0.5)
    x = radius[:, None] * np.stack([np.cos(a), np.sin(a)], 1)
    return x + 0.05 * rng.standard_normal(x.shape)


def _eight_gaussians(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(points, their mode index k in 0..7)."""
    k = rng.integers(0, 8, n)
    angle = k * (2.0 * math.pi / 8.0)
    centres = 2.0 * np.stack([np.cos(angle), np.sin(angle)], 1)
    return centres + 0.1 * rng.standard_normal((n, 2)), k


def _checkerboard(rng: np.random.Generator, n: int) -> np.ndarray:
    # 4 x 4 board on [-2, 2]^2, mass on the squares whose integer coordinates have even sum
    u = rng.uniform(-2.0, 2.0, n)
    row = rng.integers(0, 2, n) * 2  # 0 or 2
    col = np.floor(u)  # -2, -1, 0, 1
    shift = np.mod(col, 2.0)  # 0 for even columns, 1 for odd
    v = rng.uniform(0.0, 1.0, n) + row + shift - 2.0
    return np.stack([u, v], 1)


def _swissroll(rng: np.random.Generator, n: int) -> np.ndarray:
    s = 1.5 * math.pi * (1.0 + 2.0 * rng.uniform(0.0, 1.0, n))
    x = np.stack([s * np.cos(s), s * np.sin(s)], 1) / 5.0
    return x + 0.1 * rng.standard_normal(x.shape)


_TOYS = {
    "moons": _moons,
    "circles": _circles,
    "8gaussians": _eight_gaussians,
    "checkerboard": _checkerboard,
    "swissroll": _swissroll,
}
#: the 2-D toy sets (one function each, in _TOYS), the image sets, all built-in sets
TOY_SETS = tuple(_TOYS)
IMAGE_SETS = ("digits",)
BUILTIN_SETS = TOY_SETS + IMAGE_SETS


def make_toy_labelled(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(n points of the 2-D toy set ``name`` as float32 [n, 2], their int64 labels or None); deterministic
    in (name, n, seed)."""
    if name not in _TOYS:
        raise ValueError(f"unknown toy data set {name!r}; known: {', '.join(TOY_SETS)}")
    rng = np.random.Generator(np.random.PCG64(seed))
    out = _TOYS[name](rng, n)
    x, y = out if isinstance(out, tuple) else (out, None)
    perm = rng.permutation(n)
    return x[perm].astype(np.float32), None if y is None else y[perm].astype(np.int64)


def make_toy(name: str, n: int, seed: int) -> np.ndarray:
    """n points of the 2-D toy set ``name`` (float32 [n, 2]); deterministic in (name, n, seed)."""
    return make_toy_labelled(name, n, seed)[0]


def load_npy(path: str) -> np.ndarray:
    """A numeric [n, ...] array from a .npy file (no pickles), as float32."""
    x = np.load(path, allow_pickle=False)
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(f"{path}: expected an array of shape [n, ...] with n >= 2, got {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise ValueError(f"{path}: expected a numeric array, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: the array holds NaN or inf")
    return x


def digits_from_counts(counts: np.ndarray) -> np.ndarray:
    """sklearn's 8x8 digits (pixel counts 0..16) as float32 [n, 1, 8, 8] scaled to [-1, 1]."""
    x = np.asarray(counts, dtype=np.float32).reshape(-1, 1, 8, 8)
    return x / 8.0 - 1.0


def split_train_test(x: np.ndarray, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded permutation of the rows, cut into (train, held out)."""
    perm = np.random.Generator(np.random.PCG64(seed)).permutation(x.shape[0])
    return x[perm[:n_train]], x[perm[n_train:]]


def load_dataset(name: str | None, path: str | None, split: str = "train", n_toy: int = 20000,
                 seed: int = 0) -> np.ndarray:
    """The raw (unnormalised) data: a built-in set by ``name`` or an [n, ...] array from ``path``.

    Toy sets draw the training split with ``seed`` and the held-out split with ``seed + 1``;
    digits (``path`` points at the shipped digits.npy of pixel counts) use BENCHMARKS.md's split;
    a user .npy is used whole for both splits.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if name in _TOYS:
        return make_toy(name, n_toy, seed if split == "train" else seed + 1)
    if name == "digits":
        if path is None:
            raise ValueError("digits need the path of the shipped digits.npy")
        x = digits_from_counts(np.load(path, allow_pickle=False))
        train, test = split_train_test(x, DIGITS_N_TRAIN, DIGITS_SPLIT_SEED)
        return train if split == "train" else test
    if name is not None:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(BUILTIN_SETS)}")
    if path is None:
        raise ValueError("give a data set name or a .npy path")
    return load_npy(path)


def check_labels(y, n_rows: int, classes: int | None = None, what: str = "labels") -> tuple[np.ndarray, int]:
    """(labels as int64 [n], K): one integer in 0..K-1 per row (K = ``classes``, else max + 1); a one-line
    ValueError otherwise (a float array is accepted only where every value is a whole number)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{what}: expected one label per row (shape [n]), got shape {list(y.shape)}")
    if y.shape[0] != n_rows:
        raise ValueError(f"{what}: {y.shape[0]} labels for {n_rows} rows of data (one label per row)")
    if np.issubdtype(y.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if bad.size:
            raise ValueError(f"{what}: labels must be integers, got {y[bad[0]].item()!r} at row {int(bad[0])}")
    elif not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: labels must be integers, got dtype {y.dtype}")
    if y.size == 0:
        raise ValueError(f"{what}: no labels")
    lo, hi = np.min(y), np.max(y)
    if lo < 0:
        raise ValueError(f"{what}: labels must be in 0..K-1, got {int(lo)} at row {int(np.argmin(y))}")
    k = int(hi) + 1 if classes is None else int(classes)
    if hi >= k:
        raise ValueError(f"{what}: labels must be in 0..{k - 1} (classes = {k}), got {int(hi)} at row "
                         f"{int(np.argmax(y))}")
    return y.astype(np.int64), k


def load_labels(name: str | None, path: str | None, split: str = "train", n_toy: int = 20000, seed: int = 0,
                classes: int | None = None) -> tuple[np.ndarray, int]:
    """(labels int64 [n], K) of the rows :func:`load_dataset` gives for the same arguments.

    A built-in set's own labels (``path``: digits, the shipped labels .npy); a user's data: the labels .npy
    at ``path``, used whole for both splits, as the data.
    """
    if name is not None and name not in LABELLED_SETS:
        raise ValueError(f"the data set {name!r} has no labels (labelled built-in sets: {', '.join(LABELLED_SETS)})")
    if name in _TOYS:
        _, y = make_toy_labelled(name, n_toy, seed if split == "train" else seed + 1)
        return y, LABELLED_SETS[name]
    if path is None:
        raise ValueError("labels need the path of a labels .npy file")
    y = np.load(path, allow_pickle=False)
    if name == "digits":
        y, _ = check_labels(y, y.shape[0] if y.ndim else 0, LABELLED_SETS["digits"], what=str(path))
        train, test = split_train_test(y, DIGITS_N_TRAIN, DIGITS_SPLIT_SEED)
        return (train if split == "train" else test), LABELLED_SETS["digits"]
    name = str(path).replace("\\", "/").rsplit("/", 1)[-1]
    return check_labels(y, y.shape[0] if y.ndim else 0, classes, what=name)


def normalisation(x: np.ndarray, sigma_data: float = SIGMA_DATA) -> tuple[np.ndarray, float]:
    """(mean, scale) with (x - mean)/scale centred and of per-coordinate RMS sigma_data."""
    x64 = np.asarray(x, dtype=np.float64)
    mean = x64.mean(0)
    rms = math.sqrt(float(((x64 - mean) ** 2).mean()))
    if not rms > 0.0:
        raise ValueError("the data has zero variance")
    return mean.astype(np.float32), rms / sigma_data


def normalise(x: np.ndarray, mean: np.ndarray, scale: float) -> np.ndarray:
    """(x - mean) / scale, float32."""
    return ((np.asarray(x, dtype=np.float64) - mean) / scale).astype(np.float32)


def denormalise(x, mean, scale):
    """x * scale + mean (numpy or torch)."""
    if isinstance(x, torch.Tensor):
        return x * scale + torch.as_tensor(mean, dtype=x.dtype, device=x.device)
    return np.asarray(x) * scale + mean


def sliced_w2(a, b, n_proj: int = 256, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance between two samples (rows, flattened).

    SW2^2 = mean over n_proj seeded random unit directions of W2^2 of the 1-D projections;
    the 1-D W2 compares 1000 matched quantiles, so the two samples may differ in size.
    """
    a = torch.as_tensor(np.asarray(a), dtype=torch.float64).reshape(len(a), -1)
    b = torch.as_tensor(np.asarray(b), dtype=torch.float64).reshape(len(b), -1)
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(a.shape[1], n_proj, generator=g, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    q = (torch.arange(1000, dtype=torch.float64) + 0.5) / 1000
    pa = torch.quantile(a @ theta, q, dim=0)
    pb = torch.quantile(b @ theta, q, dim=0)
    return float(((pa - pb) ** 2).mean().sqrt())


def fit_gaussian(x, n: int, seed: int = 0) -> np.ndarray:
    """n draws from the Gaussian with the mean and covariance of the rows of x (the baseline)."""
    z = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    rng = np.random.Generator(np.random.PCG64(seed))
    return rng.multivariate_normal(z.mean(0), np.cov(z, rowvar=False), size=n, method="eigh")
