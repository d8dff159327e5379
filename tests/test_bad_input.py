"""Every public function of both backends rejects bad input with a clear error.

"Clear" means: the documented exception type, and a message that names the argument and the
problem (``pytest.raises(..., match=...)``). The checks are shared (``_validation.py``), so the
same case must give the same message on the NumPy reference and on torch.

The cases are data: ``CASES`` lists, once, how to break a valid call (which arguments to
replace, and the error expected); ``BAD_CALLS`` applies each case to every public function
that takes those arguments, on every backend it concerns. Valid edge inputs (N = 1, K = 1,
D = 1, K > N, duplicates, -inf logits) are a second table, ``EDGE_CALLS``, that must *not*
raise and must return finite results of the documented shape and dtype.

Each case catches the broken variant of the same name: a check that is missing (the call
succeeds, or fails later with an unrelated error), or a message that does not say which
argument is wrong.
"""

import functools
import re
import math

import numpy as np
import pytest
import torch

from kmeans_rbf import reference
from kmeans_rbf import torch as krbf_torch
from kmeans_rbf.kinds import KINDS

NAN, INF = math.nan, math.inf
MODULES = {"reference": reference, "torch": krbf_torch}

X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
C = np.array([[0.0, 0.0], [2.0, 0.0]])
Z = np.array([[0.0, -1.0, 2.0], [0.5, 0.5, -INF]])

_SOFT = {"temperature": 1.0, "kind": "softmax"}
# A valid call of every public function, as keyword arguments (which also checks that both
# backends use the same parameter names).
VALID = {
    "squared_distances": {"X": X, "C": C},
    "assign": {"X": X, "C": C},
    "margins": {"X": X, "C": C},
    "softmax": {"Z": Z},
    "entmax15": {"Z": Z},
    "sparsemax": {"Z": Z},
    "responsibilities": {"X": X, "C": C, **_SOFT},
    "objective": {"X": X, "C": C, **_SOFT},
    "free_energy": {"X": X, "C": C, **_SOFT},
    "gradient": {"X": X, "C": C, **_SOFT},
    "free_energy_gradient": {"X": X, "C": C, **_SOFT},
    "lloyd_step": {"X": X, "C": C},
    "soft_step": {"X": X, "C": C, **_SOFT},
    "kmeans": {"X": X, "C0": C, "n_iter": 2},
    "anneal": {
        "X": X,
        "C0": C,
        "temperatures": [1.0, 0.1],
        "kind": "softmax",
        "steps_per_temperature": 1,
    },
}


class Raw:
    """A value passed to every backend as it is (not converted to a tensor for torch)."""

    def __init__(self, value):
        self.value = value


def convert(value, module):
    """NumPy float arrays become float64 tensors for torch; everything else is passed as is."""
    if isinstance(value, Raw):
        return value.value
    if module is krbf_torch and isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return torch.tensor(value)
    return value


def with_entry(a, value, index=(1, 0)):
    """A copy of ``a`` with one entry replaced by ``value``."""
    a = np.array(a, dtype=np.float64)
    a[index] = value
    return a


def parameter(function, role):
    """The parameter that plays ``role``: the centres are ``C0`` in kmeans and anneal."""
    return "C0" if role == "C" and "C0" in VALID[function] else role


def applies(function, overrides):
    return all(parameter(function, role) in VALID[function] for role in overrides)


def invoke(module, function, overrides):
    kwargs = dict(VALID[function])
    kwargs.update({parameter(function, role): value for role, value in overrides.items()})
    return getattr(module, function)(**{k: convert(v, module) for k, v in kwargs.items()})


BOTH, REFERENCE_ONLY, TORCH_ONLY = ("reference", "torch"), ("reference",), ("torch",)
_HUGE_X = np.array([[1e200, 0.0], [-1e200, 0.0]])

# (case id, arguments replaced by role, error type, message pattern, backends).
# "C" is the centres' role (the parameter C, or C0 in kmeans and anneal); the messages name
# the parameter, so named() puts C0 into the pattern where that is its name.
CASES = [
    # data and centres
    ("X-nan", {"X": with_entry(X, NAN)}, ValueError, r"X contains NaN", BOTH),
    ("X-inf", {"X": with_entry(X, INF)}, ValueError, r"X contains inf", BOTH),
    ("X-minus-inf", {"X": with_entry(X, -INF)}, ValueError, r"X contains inf", BOTH),
    ("C-nan", {"C": with_entry(C, NAN)}, ValueError, r"C contains NaN", BOTH),
    ("C-inf", {"C": with_entry(C, INF)}, ValueError, r"C contains inf", BOTH),
    ("X-rank-1", {"X": X[0]}, ValueError, r"X must be 2-D \(n_points, n_features\); got 1-D", BOTH),
    (
        "X-rank-3",
        {"X": X[None]},
        ValueError,
        r"X must be 2-D \(n_points, n_features\); got 3-D",
        BOTH,
    ),
    (
        "C-rank-1",
        {"C": C[0]},
        ValueError,
        r"C must be 2-D \(n_centres, n_features\); got 1-D",
        BOTH,
    ),
    (
        "C-rank-3",
        {"C": C[None]},
        ValueError,
        r"C must be 2-D \(n_centres, n_features\); got 3-D",
        BOTH,
    ),
    (
        "feature-dimension-mismatch",
        {"X": np.zeros((3, 3))},
        ValueError,
        r"X and C must have the same number of features; X has 3, C has 2",
        BOTH,
    ),
    ("X-no-rows", {"X": np.zeros((0, 2))}, ValueError, r"X is empty: it has no rows", BOTH),
    ("C-no-rows", {"C": np.zeros((0, 2))}, ValueError, r"C is empty: it has no rows", BOTH),
    (
        "no-features",
        {"X": np.zeros((3, 0)), "C": np.zeros((2, 0))},
        ValueError,
        r"X has no features",
        BOTH,
    ),
    # Finite coordinates whose squared distances overflow: the documented OverflowError.
    ("distances-overflow", {"X": _HUGE_X}, OverflowError, r"squared distances .* overflow", BOTH),
    # temperature
    (
        "temperature-zero",
        {"temperature": 0.0},
        ValueError,
        r"temperature must be a finite number > 0; got 0\.0",
        BOTH,
    ),
    (
        "temperature-negative",
        {"temperature": -1.0},
        ValueError,
        r"temperature must be a finite number > 0; got -1\.0",
        BOTH,
    ),
    (
        "temperature-nan",
        {"temperature": NAN},
        ValueError,
        r"temperature must be a finite number > 0; got nan",
        BOTH,
    ),
    (
        "temperature-inf",
        {"temperature": INF},
        ValueError,
        r"temperature must be a finite number > 0; got inf",
        BOTH,
    ),
    (
        "temperature-string",
        {"temperature": "1.0"},
        TypeError,
        r"temperature must be a real number; got str",
        BOTH,
    ),
    (
        "temperature-bool",
        {"temperature": True},
        TypeError,
        r"temperature must be a real number; got bool",
        BOTH,
    ),
    # The same two checks reached through a 0-d array: a NumPy bool is a bool, a 0-d array of
    # text is text.
    (
        "temperature-numpy-bool",
        {"temperature": np.True_},
        TypeError,
        r"temperature must be a real number",
        BOTH,
    ),
    (
        "temperature-0d-text-array",
        {"temperature": Raw(np.array("hot"))},
        TypeError,
        r"temperature must be a real number",
        BOTH,
    ),
    (
        "temperature-none",
        {"temperature": None},
        ValueError,
        r"temperature is required for kind='softmax'",
        BOTH,
    ),
    # kind
    (
        "kind-unknown",
        {"kind": "gaussian"},
        ValueError,
        r"kind must be one of .*; got 'gaussian'",
        BOTH,
    ),
    ("kind-none", {"kind": None}, ValueError, r"kind must be one of .*; got None", BOTH),
    (
        "anneal-kind-hard",
        {"kind": "hard", "temperatures": [1.0]},
        ValueError,
        r"kind must be one of 'softmax', 'entmax15'; got 'hard'",
        BOTH,
    ),
    # counts
    ("n_iter-negative", {"n_iter": -1}, ValueError, r"n_iter must be >= 0; got -1", BOTH),
    ("n_iter-float", {"n_iter": 2.0}, TypeError, r"n_iter must be an integer; got float", BOTH),
    ("n_iter-bool", {"n_iter": True}, TypeError, r"n_iter must be an integer; got bool", BOTH),
    (
        "steps-zero",
        {"steps_per_temperature": 0},
        ValueError,
        r"steps_per_temperature must be >= 1; got 0",
        BOTH,
    ),
    (
        "steps-float",
        {"steps_per_temperature": 1.5},
        TypeError,
        r"steps_per_temperature must be an integer; got float",
        BOTH,
    ),
    # temperatures (anneal)
    (
        "temperatures-empty",
        {"temperatures": []},
        ValueError,
        r"temperatures must be a non-empty 1-D sequence",
        BOTH,
    ),
    (
        "temperatures-2-d",
        {"temperatures": [[1.0, 0.1]]},
        ValueError,
        r"temperatures must be a non-empty 1-D",
        BOTH,
    ),
    (
        "temperatures-zero",
        {"temperatures": [1.0, 0.0]},
        ValueError,
        r"temperatures\[1\] must be a finite number > 0",
        BOTH,
    ),
    (
        "temperatures-negative",
        {"temperatures": [-1.0]},
        ValueError,
        r"temperatures\[0\] must be a finite number > 0",
        BOTH,
    ),
    (
        "temperatures-nan",
        {"temperatures": [1.0, NAN]},
        ValueError,
        r"temperatures\[1\] must be a finite number > 0",
        BOTH,
    ),
    (
        "temperatures-text",
        {"temperatures": ["hot"]},
        TypeError,
        r"temperatures\[0\] must be a real number; got str",
        BOTH,
    ),
    # logits (the maps)
    ("Z-nan", {"Z": with_entry(Z, NAN)}, ValueError, r"Z contains NaN", BOTH),
    ("Z-plus-inf", {"Z": with_entry(Z, INF)}, ValueError, r"Z contains \+inf", BOTH),
    (
        "Z-row-of-minus-inf",
        {"Z": np.array([[0.0, 1.0], [-INF, -INF]])},
        ValueError,
        r"Z has a row where every entry is -inf",
        BOTH,
    ),
    (
        "Z-1-d-all-minus-inf",
        {"Z": np.array([-INF, -INF])},
        ValueError,
        r"Z has a row where every entry is -inf",
        BOTH,
    ),
    (
        "Z-0-d",
        {"Z": np.array(1.0)},
        ValueError,
        r"Z must have a non-empty last axis; got shape \(\)",
        BOTH,
    ),
    (
        "Z-empty-last-axis",
        {"Z": np.zeros((2, 0))},
        ValueError,
        r"Z must have a non-empty last axis; got shape \(2, 0\)",
        BOTH,
    ),
    (
        "Z-empty-1-d",
        {"Z": np.zeros(0)},
        ValueError,
        r"Z must have a non-empty last axis; got shape \(0,\)",
        BOTH,
    ),
    # torch only: tensors of a floating dtype, the same for X and C
    (
        "X-numpy-array",
        {"X": Raw(X)},
        TypeError,
        r"X must be a torch\.Tensor; got ndarray",
        TORCH_ONLY,
    ),
    (
        "C-numpy-array",
        {"C": Raw(C)},
        TypeError,
        r"C must be a torch\.Tensor; got ndarray",
        TORCH_ONLY,
    ),
    (
        "Z-numpy-array",
        {"Z": Raw(Z)},
        TypeError,
        r"Z must be a torch\.Tensor; got ndarray",
        TORCH_ONLY,
    ),
    (
        "X-list",
        {"X": Raw(X.tolist())},
        TypeError,
        r"X must be a torch\.Tensor; got list",
        TORCH_ONLY,
    ),
    (
        "X-integer-tensor",
        {"X": Raw(torch.tensor([[0, 0], [1, 1]]))},
        TypeError,
        r"X must be a floating-point tensor; got torch\.int64",
        TORCH_ONLY,
    ),
    (
        "C-integer-tensor",
        {"C": Raw(torch.tensor([[0, 0], [2, 0]], dtype=torch.int32))},
        TypeError,
        r"C must be a floating-point tensor; got torch\.int32",
        TORCH_ONLY,
    ),
    (
        "Z-integer-tensor",
        {"Z": Raw(torch.tensor([[0, 1, 2]]))},
        TypeError,
        r"Z must be a floating-point tensor; got torch\.int64",
        TORCH_ONLY,
    ),
    (
        "X-complex-tensor",
        {"X": Raw(torch.tensor(X, dtype=torch.complex128))},
        TypeError,
        r"X must be a floating-point tensor; got torch\.complex128",
        TORCH_ONLY,
    ),
    (
        "X-bool-tensor",
        {"X": Raw(torch.tensor(X) > 0)},
        TypeError,
        r"X must be a floating-point tensor; got torch\.bool",
        TORCH_ONLY,
    ),
    (
        "X-and-C-dtypes-differ",
        {"C": Raw(torch.tensor(C, dtype=torch.float32))},
        TypeError,
        r"X and C must have the same dtype; got torch\.float64 and torch\.float32",
        TORCH_ONLY,
    ),
    # reference only: real numbers
    (
        "X-complex",
        {"X": X + 1j},
        TypeError,
        r"X must be (an array of )?real.*complex",
        REFERENCE_ONLY,
    ),
    (
        "C-complex",
        {"C": C + 0j},
        TypeError,
        r"C must be (an array of )?real.*complex",
        REFERENCE_ONLY,
    ),
    (
        "Z-complex",
        {"Z": Z + 0j},
        TypeError,
        r"Z must be (an array of )?real.*complex",
        REFERENCE_ONLY,
    ),
    (
        "X-text",
        {"X": np.array([["a", "b"]])},
        TypeError,
        r"X must be an array of real numbers",
        REFERENCE_ONLY,
    ),
    (
        "C-text",
        {"C": np.array([["0", "x"]])},
        TypeError,
        r"C must be an array of real numbers",
        REFERENCE_ONLY,
    ),
    ("Z-text", {"Z": "logits"}, TypeError, r"Z must be an array of real numbers", REFERENCE_ONLY),
    (
        "X-bool",
        {"X": X > 0},
        TypeError,
        r"X must be an array of real numbers; got dtype bool",
        REFERENCE_ONLY,
    ),
]


# The table: (id, call, error, match), one row per backend x function x applicable case.
def named(pattern, centres):
    """The pattern with the centres called by their parameter's name (C, or C0)."""
    return re.sub(r"\bC\b", centres, pattern)


BAD_CALLS = [
    (
        f"{backend}-{function}-{case}",
        functools.partial(invoke, MODULES[backend], function, overrides),
        error,
        named(match, parameter(function, "C")),
    )
    for case, overrides, error, match, backends in CASES
    for backend in backends
    for function in VALID
    if applies(function, overrides)
]


@pytest.mark.parametrize(
    "call, error, match", [pytest.param(*row[1:], id=row[0]) for row in BAD_CALLS]
)
def test_bad_input_is_rejected_clearly(call, error, match):
    # Catches (per case id): the check missing, the wrong exception type, or a message that
    # does not name the argument and the problem.
    with pytest.raises(error, match=match):
        call()


def test_every_public_function_is_covered():
    # Catches: a public function added to one backend and not to the other, or to neither
    # table; a case that applies to no function (a typo in its roles).
    assert set(VALID) == set(reference.__all__) == set(krbf_torch.__all__)
    covered = {row[0].split("-")[1] for row in BAD_CALLS}
    assert covered == set(VALID)
    for case, overrides, *_ in CASES:
        assert any(applies(function, overrides) for function in VALID), case


# --- valid edge inputs: must not raise -------------------------------------------------

EDGES = {
    "N=1": (X[:1], C),
    "K=1": (X, C[:1]),
    "D=1": (X[:, :1], C[:, :1]),
    "K>N-empty-clusters": (X[:2], np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0], [9.0, 9.0]])),
    "duplicate-points": (np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]), C),
    "duplicate-centres": (X, np.array([[1.0, 1.0], [1.0, 1.0]])),
    "N=K=D=1": (np.array([[3.0]]), np.array([[-2.0]])),
}
LOGIT_EDGES = {
    "minus-inf-entries": np.array([[0.0, -INF, 1.0], [-INF, -INF, -3.0]]),
    "K=1": np.array([[5.0], [-1e300]]),
    "1-D-row": np.array([0.0, -INF, 0.0]),
    "3-D-batch": np.arange(12.0).reshape(2, 3, 2),
}


def expected_shape(function, kwargs):
    """The documented shape of the result, from the arguments."""
    if "Z" in kwargs:
        return np.shape(kwargs["Z"])
    (n, d), k = np.shape(kwargs["X"]), np.shape(kwargs.get("C", kwargs.get("C0")))[0]
    if function == "anneal":
        return (1 + len(kwargs["temperatures"]) * kwargs["steps_per_temperature"], k, d)
    shapes = {"squared_distances": (n, k), "assign": (n,), "margins": (n,), "responsibilities": (n, k)}
    shapes.update(objective=(), free_energy=())
    return shapes.get(function, (k, d))  # gradients, steps and kmeans: like the centres


def kinds_of(function):
    """The kinds a function accepts (anneal: soft kinds only); [None] if it takes no kind."""
    if "kind" not in VALID[function]:
        return [None]
    return [kind for kind in KINDS if (function, kind) != ("anneal", "hard")]


def edge_overrides():
    """(id, function, overrides) for every valid edge input of every function."""
    for function, valid in VALID.items():
        if "Z" in valid:
            for edge, logits in LOGIT_EDGES.items():
                yield f"{function}-{edge}", function, {"Z": logits}
            continue
        # A low temperature is the edge: exp(-d/T) underflows, entmax is exactly hard.
        temperatures = [1e-3] if "temperature" in valid else [None]
        for edge, (points, centres) in EDGES.items():
            for kind in kinds_of(function):
                for temperature in temperatures:
                    overrides = {"X": points, "C": centres}
                    settings = {"kind": kind, "temperature": temperature}
                    overrides.update({k: v for k, v in settings.items() if v is not None})
                    suffix = "".join(f"-{v}" for v in settings.values() if v is not None)
                    yield f"{function}-{edge}{suffix}", function, overrides


EDGE_CALLS = [
    pytest.param(backend, function, overrides, id=f"{backend}-{case}")
    for backend in MODULES
    for case, function, overrides in edge_overrides()
]


@pytest.mark.parametrize("backend, function, overrides", EDGE_CALLS)
def test_valid_edge_input_is_accepted(backend, function, overrides):
    # Catches: a check that is too strict (rejects N = 1, K = 1, D = 1, empty clusters,
    # duplicates or -inf logits), and a result that is NaN or of the wrong shape/dtype there
    # (e.g. 0/0 for an empty cluster, a support of size 0).
    module = MODULES[backend]
    result = invoke(module, function, overrides)
    kwargs = {**VALID[function], **{parameter(function, r): v for r, v in overrides.items()}}
    if module is krbf_torch:
        assert isinstance(result, torch.Tensor)
        assert result.dtype == (torch.int64 if function == "assign" else torch.float64)
        result = result.detach().numpy()
    result = np.asarray(result)
    assert result.shape == expected_shape(function, kwargs)
    if function == "margins" and np.shape(kwargs["C"])[0] == 1:
        assert np.all(result == np.inf), result  # one centre: no runner-up, documented inf
    else:
        assert np.all(np.isfinite(result)), result
    if "Z" in kwargs:
        assert np.all(result[np.isneginf(kwargs["Z"])] == 0)
        np.testing.assert_allclose(result.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
