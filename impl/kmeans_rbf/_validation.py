"""Argument validation shared by the NumPy reference and the torch implementation.

Every public function validates its arguments here, once (the ``validate_*`` functions),
and then calls a private twin that computes. The validators work on NumPy arrays and torch
tensors alike, so the error messages are the same whichever backend a user calls. (The
word "check" is kept for the conformance oracle's checks, ``kmeans_rbf.oracle``.)
"""

import math
import numbers

import numpy as np

from .kinds import KINDS


def _namespace(a):
    """The array module of ``a``: torch for a tensor, NumPy otherwise."""
    if type(a).__module__.startswith("torch"):
        import torch

        return torch
    return np


def validate_kind(kind, allowed=KINDS):
    if not isinstance(kind, str) or kind not in allowed:
        raise ValueError(f"kind must be one of {', '.join(map(repr, allowed))}; got {kind!r}")
    return kind


def validate_temperature(temperature, kind="softmax", name="temperature"):
    """A finite temperature > 0 as a float; None is accepted for kind='hard' only."""
    if temperature is None:
        if kind == "hard":
            return None
        raise ValueError(f"{name} is required for kind={kind!r} (a finite number > 0)")
    if getattr(temperature, "ndim", None) == 0:  # a 0-d NumPy array or torch tensor
        temperature = temperature.item()
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(temperature).__name__} {temperature!r}")
    value = float(temperature)
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {temperature!r}")
    return value


def validate_temperatures(temperatures, kind):
    """A non-empty 1-D sequence of valid temperatures, as a list of floats."""
    values = np.atleast_1d(np.asarray(temperatures, dtype=object))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"temperatures must be a non-empty 1-D sequence; got shape {values.shape}"
        )
    return [validate_temperature(t, kind, name=f"temperatures[{i}]") for i, t in enumerate(values)]


def validate_count(value, name, minimum=0):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def validate_finite(a, name):
    xp = _namespace(a)
    if not bool(xp.isfinite(a).all()):
        what = "NaN" if bool(xp.isnan(a).any()) else "inf"
        raise ValueError(f"{name} contains {what}; every entry must be finite")


def validate_points(a, name, finite=True):
    """A finite (rows, features) array with at least one row and one feature.

    ``finite=False`` leaves the finiteness to the caller (a streamed computation that
    detects NaN and inf from the squared norms it computes anyway, chunk by chunk).
    """
    if a.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_{'points' if name == 'X' else 'centres'}, n_features); "
            f"got {a.ndim}-D with shape {tuple(a.shape)}"
        )
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has no rows (shape {tuple(a.shape)})")
    if a.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {tuple(a.shape)})")
    if finite:
        validate_finite(a, name)


def validate_data_and_centres(X, C, centres_name="C", finite_data=True):
    validate_points(X, "X", finite=finite_data)
    validate_points(C, centres_name)
    if X.shape[1] != C.shape[1]:
        raise ValueError(
            f"X and {centres_name} must have the same number of features; "
            f"X has {X.shape[1]}, {centres_name} has {C.shape[1]}"
        )


def validate_logits(Z, name="Z"):
    """Rows on the last axis, each with a finite entry; -inf allowed, NaN and +inf not."""
    xp = _namespace(Z)
    if Z.ndim == 0 or Z.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last axis; got shape {tuple(Z.shape)}")
    if bool(xp.isnan(Z).any()):
        raise ValueError(f"{name} contains NaN")
    if bool(xp.isposinf(Z).any()):
        raise ValueError(f"{name} contains +inf; only -inf (an excluded entry) is allowed")
    if bool(xp.isneginf(Z).all(-1).any()):
        raise ValueError(f"{name} has a row where every entry is -inf; no distribution fits it")


def validate_distances_finite(d):
    """Squared distances beyond the dtype's range are an overflow, never a silent inf."""
    xp = _namespace(d)
    if not bool(xp.isfinite(d).all()):
        raise OverflowError(
            "squared distances between X and C overflow the floating-point range; "
            "rescale X and C (the results are scale-equivariant with temperature ~ scale**2)"
        )
