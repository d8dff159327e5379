"""The scale tier's own promises: reproducible problems, the sizes the issue asks for, and a
reference that decides every planted near-tie exactly."""

from fractions import Fraction

import numpy as np
import pytest

from kmeans_rbf import reference
from kmeans_rbf.oracle import scale

NEAR_TIES = [p.name for p in scale.PROBLEMS if p.name.startswith("near-ties")]


def test_problems_are_reproducible_from_their_name_and_seed():
    # Catches: a problem drawn from global randomness (its counterexample could not be rebuilt).
    first = scale.build("offset-1e4")["problem"]
    scale._built.cache_clear()
    again = scale.build("offset-1e4")["problem"]
    assert all(np.array_equal(a, b) for a, b in zip(first[:2], again[:2])) and first[2] == again[2]
    other = scale.build("offset-1e4", seed=1)["problem"]
    assert not np.array_equal(first[0], other[0])


def test_the_tier_reaches_the_sizes_and_boundaries_it_promises():
    shapes = {p.name: tuple(a.shape for a in p.build()["problem"][:2]) for p in scale.PROBLEMS}
    sizes = {name: (X[0], C[0], X[1]) for name, (X, C) in shapes.items()}
    assert max(n for n, _, _ in sizes.values()) == 100_000
    assert max(k for _, k, _ in sizes.values()) == 1024
    assert max(d for _, _, d in sizes.values()) == 1024
    assert {25, 26, 1023, 1025, 65535, 65537} <= {n for n, _, _ in sizes.values()}
    assert any(n == k for n, k, _ in sizes.values()) and any(k == 1 for _, k, _ in sizes.values())
    assert any(n == 1 for n, _, _ in sizes.values()) and any(k > n for n, k, _ in sizes.values())
    offsets = [float(np.abs(p.build()["problem"][0]).mean()) for p in scale.PROBLEMS if "offset-1e6" in p.name]
    assert offsets and min(offsets) > 1e5


def _exact_distance(x, c):
    return sum((Fraction(a) - Fraction(b)) ** 2 for a, b in zip(x, c))


@pytest.mark.parametrize("name", NEAR_TIES)
def test_the_reference_decides_every_planted_near_tie_exactly(name):
    # The oracle judges labels against the reference's float64 distances: on the planted
    # near-ties (relative gaps down to 1e-12) they must pick the exact nearest centre. The
    # planted points are the last 200 rows. Catches: a gap below float64's resolution of the
    # distances (the reference would then decide by rounding).
    X, C, _ = scale.build(name)["problem"]
    planted = X[-200:]
    labels = reference.assign(planted, C)
    d = reference.squared_distances(planted, C)
    nominal = 10.0 ** -int(name.split("-")[3])  # near-ties-1e-9[-offset-...]
    for i, x in enumerate(planted):
        two = np.argsort(d[i])[:2]
        exact = {k: _exact_distance(x, C[k]) for k in two}
        assert exact[labels[i]] == min(exact.values()), (name, i)
        gap = abs(exact[two[0]] - exact[two[1]]) / max(exact.values())
        assert 0 < gap < 2 * nominal, (name, i, float(gap))  # a near-tie as planted, never an exact one
