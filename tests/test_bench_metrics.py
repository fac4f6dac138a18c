"""The benchmarks' metrics (benchmarks/metrics.py) against closed forms."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is a folder of scripts, not installed
from benchmarks import metrics as M  # noqa: E402


def _normal(n, d, seed, scale=1.0, shift=0.0):
    return np.random.Generator(np.random.PCG64(seed)).standard_normal((n, d)) * scale + shift


def test_sliced_w2_zero_against_itself_and_equal_to_shift_norm_over_sqrt_d():
    a = _normal(4000, 8, 0)
    assert M.sliced_w2(a, a) == pytest.approx(0.0, abs=1e-12)
    c = np.zeros(8)
    c[0] = 1.0
    # a translation by c moves every 1-D projection by theta.c: SW2^2 = E (theta.c)^2 = |c|^2 / d
    vals = [M.sliced_w2(a, a + s * c) for s in (0.1, 0.5, 1.0, 2.0)]
    assert all(x < y for x, y in zip(vals, vals[1:]))
    for s, v in zip((0.1, 0.5, 1.0, 2.0), vals):
        assert v == pytest.approx(s / math.sqrt(8), rel=0.15)


def test_sliced_w2_sees_a_scale_change():
    a = _normal(4000, 2, 1)
    b = _normal(4000, 2, 2, scale=2.0)
    # 1-D projections are N(0, 1) and N(0, 4): W2 = |1 - 2| = 1 in every direction
    assert M.sliced_w2(a, b) == pytest.approx(1.0, rel=0.05)


def test_mmd_zero_against_itself_and_matches_the_gaussian_closed_form():
    d, s, h = 2, 1.0, 1.5
    a = _normal(2000, d, 3)
    assert M.mmd(a, a, h) == pytest.approx(0.0, abs=1e-6)
    vals = []
    for shift in (0.25, 0.5, 1.0, 2.0):
        c = np.array([shift, 0.0])
        b = _normal(2000, d, 4, shift=c)
        # population MMD^2 for N(0, s^2 I) vs N(c, s^2 I) with k = exp(-|x - y|^2 / (2 h^2))
        r = (h**2 / (h**2 + 2 * s**2)) ** (d / 2)
        m2 = 2 * r * (1 - math.exp(-shift**2 / (2 * (h**2 + 2 * s**2))))
        est = M.mmd(a, b, h)
        vals.append(est)
        # the biased estimate adds about 2 (1 - r) / n to MMD^2; sampling noise ~ 1/sqrt(n)
        assert est**2 == pytest.approx(m2 + 2 * (1 - r) / 2000, abs=0.02 * m2 + 3e-3)
    assert all(x < y for x, y in zip(vals, vals[1:]))


def test_median_bandwidth_is_scale_equivariant():
    a = _normal(1500, 3, 5)
    h = M.median_bandwidth(a)
    assert h > 0
    assert M.median_bandwidth(3.0 * a) == pytest.approx(3.0 * h, rel=1e-9)
    # |x - y| for x, y ~ N(0, I_3) is sqrt(2) chi_3: median sqrt(2 * 2.366) = 2.175
    assert h == pytest.approx(2.175, rel=0.05)


def test_frechet_distance_closed_forms():
    a = _normal(20000, 4, 6)
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # equal covariances: FD = |mu_a - mu_b|^2
    assert M.frechet_distance(a, _normal(20000, 4, 7, shift=np.array([1.0, 1.0, 0, 0]))) == pytest.approx(2.0,
                                                                                                     abs=0.1)
    # N(0, I) vs N(0, 4 I) in d = 4: FD = d (1 + 4 - 2 * 2) = 4
    assert M.frechet_distance(a, _normal(20000, 4, 8, scale=2.0)) == pytest.approx(4.0, abs=0.2)


def test_digits_classifier_accurate_and_its_scores_separate_real_from_noise(tmp_path):
    from sklearn.datasets import load_digits

    from pdec.runtime.data import digits_from_counts, split_train_test

    d = load_digits()
    x = digits_from_counts(d.data).reshape(len(d.data), -1)
    i_train, i_test = split_train_test(np.arange(len(x)), 1400, 7)
    cache = tmp_path / "clf.npz"
    clf = M.DigitsClassifier(x[i_train], d.target[i_train], x[i_test], d.target[i_test], cache=cache)
    assert clf.accuracy > 0.93
    again = M.DigitsClassifier(x[i_train], d.target[i_train], x[i_test], d.target[i_test], cache=cache)
    assert again.accuracy == clf.accuracy  # loaded from the cache, same weights
    ref = clf.features(x[i_test])
    real = clf.scores(x[i_train], ref)
    noise = clf.scores(np.random.Generator(np.random.PCG64(0)).uniform(-1, 1, (1400, 64)), ref)
    one_class = clf.scores(np.repeat(x[i_train][:1], 500, 0), ref)
    assert real.fd < 0.2 * noise.fd
    assert real.confidence > 0.9 > noise.confidence
    assert real.inception > 7.0  # ten balanced, confidently classified classes: close to 10
    assert one_class.inception < 1.05  # a single repeated digit: exp(KL) = 1
