"""Assertion helpers shared by the conformance oracle and the tests.

Each says what was expected and what came out. They raise ``Defect``, an
``AssertionError``: in a pytest test it fails like ``assert``, in the oracle it is a defect
of the implementation under test.

Examples
--------
>>> import numpy as np
>>> assert_within(np.array([1.0, 2.0]), np.array([1.0, 2.5]), 0.1, "centres")
Traceback (most recent call last):
...
kmeans_rbf.assertions.Defect: centres differs from the reference at entry (1,) by 0.5 (allowed there 0.1); 1 of 2 entries exceed their allowance
implementation:
[1. 2.]
reference:
[1.  2.5]
"""

import numpy as np

__all__ = ["Defect", "expect", "assert_within", "assert_finite_floats"]


class Defect(AssertionError):
    """An implementation disagrees with the specification (or a property does not hold)."""


def expect(condition, message):
    """Raise ``Defect(message)`` unless ``condition``."""
    if not condition:
        raise Defect(message)


def assert_within(actual, expected, bound, name):
    """``|actual - expected| <= bound`` entry by entry (``bound`` broadcasts).

    The message names the worst entry, by its excess over its own allowance, with that
    allowance: with per-entry bounds the largest difference need not be the one that fails.
    """
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    difference = np.abs(actual - expected)
    allowance = np.broadcast_to(np.asarray(bound, dtype=np.float64), difference.shape)
    with np.errstate(invalid="ignore"):  # inf - inf where an allowance is infinite: not an excess
        excess = np.where(np.isinf(allowance), -np.inf, difference - allowance)
    failing = ~(excess <= 0)  # NaN differences fail too
    if not failing.any():
        return
    worst = np.unravel_index(np.argmax(np.where(np.isnan(excess), np.inf, excess)), excess.shape)
    raise Defect(
        f"{name} differs from the reference at entry {tuple(int(i) for i in worst)} by "
        f"{difference[worst]:.3g} (allowed there {allowance[worst]:.3g}); "
        f"{int(failing.sum())} of {failing.size} entries exceed their allowance"
        f"\nimplementation:\n{actual}\nreference:\n{expected}"
    )


def assert_finite_floats(value, name, shape):
    """``value`` has ``shape``, a floating dtype and only finite entries; as float64."""
    value = np.asarray(value)
    expect(value.shape == tuple(shape), f"{name} returned shape {value.shape}; expected {tuple(shape)}")
    expect(value.dtype.kind == "f", f"{name} returned dtype {value.dtype}; expected floating point")
    expect(bool(np.all(np.isfinite(value))), f"{name} returned non-finite values where the reference is finite:\n{value}")
    return value.astype(np.float64)
