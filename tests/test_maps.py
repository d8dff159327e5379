"""The maps from logits to the simplex: softmax, entmax15 and sparsemax, on both backends.

theory/conventions.md, the maps: alpha-entmax(z) = argmax_{p in simplex} p.z + H_alpha(p),
softmax is alpha = 1 (Shannon entropy), entmax15 alpha = 1.5, sparsemax alpha = 2. Every map
acts on the last axis; -inf entries are excluded (probability 0).

Oracles, each independent of the code under test:

* peers: the ``entmax`` package (Peters, Niculae & Martins) for entmax15 and sparsemax,
  ``torch.softmax`` and ``scipy.special.softmax`` for softmax;
* closed forms: two entries ``[0, -g]`` (derived below) and the Jacobians of theory/conventions.md;
* the variational characterisation (random simplex points, local perturbations, scipy);
* properties: simplex, shift invariance, permutation equivariance, order preservation and
  the exact sparsity rules of entmax15 and sparsemax.

Implementations: the NumPy reference and torch in float64, float32, float16 and bfloat16
(half precisions are computed in float32 and rounded once). A low-precision implementation
is judged on the input *as rounded to its dtype*, so the tests never blame it for the
rounding of its input. Tolerances come from ``kmeans_rbf.tolerances`` (failure messages
quote the reason for their size).

Every test names, in a comment starting ``Catches:``, a broken variant that makes it fail.
"""

import math
import warnings

import entmax
import numpy as np
import pytest
import scipy.optimize
import scipy.special
import torch
from hypothesis import assume, example, given, note
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kmeans_rbf import reference, tolerances
from kmeans_rbf import torch as krbf_torch
from kmeans_rbf.backends import NumpyCalls, dtype_name, rounded
from kmeans_rbf.kinds import MAPS

SPARSE_MAPS = ("entmax15", "sparsemax")
# The exact sparsity threshold of each sparse map: p_k = 0 whenever z_k <= max z - gap, and
# a row is one-hot iff the gap between its two largest entries is >= gap (derived below).
ONE_HOT_GAP = {"entmax15": 2.0, "sparsemax": 1.0}
INF = math.inf


# --- implementations under test --------------------------------------------------------


class Implementation:
    """A backend in one dtype, called with NumPy float64 logits, returning NumPy float64.

    ``rounded(Z)`` is the input as the implementation sees it (rounded to its dtype): every
    check compares against the float64 truth *of that input*.
    """

    def __init__(self, module, dtype=None):
        self.dtype = dtype
        self.dtype_name = "float64" if dtype is None else dtype_name(dtype)
        self.id = "reference" if dtype is None else f"torch-{self.dtype_name}"
        self.calls = NumpyCalls(module, dtype, name=self.id)

    def rounded(self, Z):
        return rounded(Z, self.dtype_name)

    def representable(self, Z):
        """Whether rounding Z to the dtype keeps every finite entry finite."""
        Z = np.asarray(Z, dtype=np.float64)
        return bool(np.all(np.isfinite(self.rounded(Z)) == np.isfinite(Z)))

    def __call__(self, name, Z):
        Z = np.asarray(Z, dtype=np.float64)
        if self.dtype is None:  # the reference returns float64 NumPy arrays itself
            assert isinstance(getattr(reference, name)(Z), np.ndarray)
        P = np.asarray(getattr(self.calls, name)(np.ascontiguousarray(Z)))
        assert P.shape == Z.shape, f"{name}: shape {P.shape} for input shape {Z.shape}"
        assert np.all(np.isfinite(P)), f"{self.id} {name} returned a non-finite entry: {P!r}"
        return P

    def __repr__(self):
        return self.id


FLOAT64 = [Implementation(reference), Implementation(krbf_torch, torch.float64)]
LOW_PRECISION = [
    Implementation(krbf_torch, dtype) for dtype in (torch.float32, torch.float16, torch.bfloat16)
]
EVERY = FLOAT64 + LOW_PRECISION

float64_implementations = pytest.mark.parametrize("impl", FLOAT64, ids=repr)
every_implementation = pytest.mark.parametrize("impl", EVERY, ids=repr)
every_map = pytest.mark.parametrize("name", MAPS)
sparse_maps = pytest.mark.parametrize("name", SPARSE_MAPS)


# --- peers -----------------------------------------------------------------------------


def peer(name, Z):
    """The independent implementation of a map: the entmax package or torch.softmax."""
    Z = torch.tensor(np.ascontiguousarray(Z, dtype=np.float64))
    if name == "softmax":
        return torch.softmax(Z, dim=-1).numpy()
    return getattr(entmax, name)(Z, dim=-1).numpy()


def masked_peer(name, Z):
    """The peer on the finite entries of each row only, with 0 where the row has -inf."""
    Z = np.asarray(Z, dtype=np.float64)
    rows = Z.reshape(-1, Z.shape[-1])
    P = np.zeros_like(rows)
    for i, row in enumerate(rows):
        finite = np.isfinite(row)
        P[i, finite] = peer(name, row[finite])
    return P.reshape(Z.shape)


# --- tolerances ------------------------------------------------------------------------


def condition(name, Z, P):
    """The condition kappa of ``kmeans_rbf.tolerances`` for logits Z with output P.

    The maps see the regret ``max z - z_k`` (rounded with relative error u); entries with
    p_k = 0 have a zero row and column in the Jacobian (sparse maps) or a zero weight w_k
    (softmax), so their regret, possibly huge or inf, does not count.
    """
    Z, P = np.atleast_2d(Z), np.atleast_2d(P)
    regret = np.where(P > 0, Z.max(axis=-1, keepdims=True) - Z, 0.0)
    regret, P = regret.reshape(-1, Z.shape[-1]), P.reshape(-1, Z.shape[-1])
    if name == "sparsemax":  # J = diag(m) - m m^T / |S|: sum_k |J_jk| = 2 m_j (1 - 1/|S|)
        m = (P > 0).astype(np.float64)
        w = m * (1 - 1 / m.sum(axis=1, keepdims=True))
        return 1.0 + 2.0 * float(np.max(np.sum(w * regret, axis=1)))
    return tolerances.condition_of_responsibilities(regret, P, 1.0, name)


def assert_maps_close(actual, expected, *, dtype_name="float64", kappa=1.0, what=""):
    """max |actual - expected| <= tolerance(dtype, kappa): probabilities have scale 1."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    bound = tolerances.tolerance(dtype_name, kappa)
    error = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    assert error <= bound, (
        f"{what}: max |actual - expected| = {error:.3g} > {bound:.3g} = tolerance({dtype_name}, "
        f"condition {kappa:.3g}); rtol reason: {tolerances.TOLERANCES[dtype_name].reason}\n"
        f"actual   = {actual!r}\nexpected = {expected!r}"
    )


def simplex_bound(impl):
    """|sum p - 1| bound: each of the K roundings is relative to p_k, and sum p_k = 1."""
    return tolerances.tolerance(impl.dtype_name, 1.0)


# --- strategies ------------------------------------------------------------------------


@st.composite
def logit_arrays(
    draw, *, n_rows=st.integers(1, 4), n_entries=st.integers(1, 8), minus_inf=False, ties=True
):
    """Logits Z of shape (rows, K) in [-20, 20]; with ``minus_inf``, some entries -inf
    (every row keeps at least one finite entry).

    With ``ties``, half of the draws are rounded to the integers -5..5: exact ties, and
    entries exactly on the support boundaries (gaps 1 and 2). Cost ~1 ms per example.
    """
    rows, k = draw(n_rows), draw(n_entries)
    finite = st.floats(-20.0, 20.0, allow_subnormal=False)
    Z = draw(hnp.arrays(np.float64, (rows, k), elements=finite))
    if ties and draw(st.booleans()):
        Z = np.round(Z / 4) + 0.0  # + 0.0 turns -0.0 into 0.0
    if minus_inf:
        excluded = draw(hnp.arrays(np.bool_, (rows, k)))
        keep = draw(st.lists(st.integers(0, k - 1), min_size=rows, max_size=rows))
        excluded[np.arange(rows), keep] = False
        Z = np.where(excluded, -INF, Z)
    return Z


def rows_with_or_without_minus_inf():
    return st.booleans().flatmap(lambda flag: logit_arrays(minus_inf=flag))


@st.composite
def near_boundary_rows(draw, *, gap):
    """A row with top 0, entries exactly at ``-gap`` and entries just inside or outside it.

    These are the rows where a threshold computed with a rounding error lets mass through
    the exact sparsity boundary.
    """
    gap = draw(gap) if isinstance(gap, st.SearchStrategy) else gap
    near = [-gap + s * 2.0**-e for e in (1, 4, 10, 23, 27, 28, 29, 40, 52) for s in (1, -1)]
    values = st.sampled_from([-gap, -gap, -gap / 2, 0.0, -3 * gap, *near])
    rest = draw(st.lists(values, min_size=1, max_size=7))
    row = np.array([0.0, *rest])
    row = row[np.array(draw(st.permutations(range(len(row)))))]
    shift = draw(st.sampled_from([0.0, 1.0, -8.0, 256.0]))  # exact, even in float16
    return (row + shift)[None, :]


# Named adversarial rows (float64). Each is a batch of rows on the last axis.
ADVERSARIAL = {
    "all-equal": [[3.0, 3.0, 3.0, 3.0]],
    "two-way-tie-at-top": [[1.0, 1.0, 0.0, -0.5]],
    # entmax15: four tied tops give tau = -1/2 in u = z/2, so z = -1 is exactly on the
    # boundary; sparsemax: tau = -1/4, z = -1 is outside.
    "ties-at-support-boundary": [[0.0, 0.0, 0.0, 0.0, -1.0]],
    "runner-ups-tied-at-gap-2": [[0.0, -2.0, -2.0, -2.0, -2.0]],
    "runner-ups-tied-at-gap-1": [[0.0, -1.0, -1.0, -1.0]],
    "gap-2-minus-1e-9": [[0.0, -2.0 + 1e-9]],
    "gap-1-minus-1e-9": [[0.0, -1.0 + 1e-9]],
    "spread-1e6": [[0.0, -1e6, 1e6]],
    "minus-inf-entries": [[0.0, -INF, 1.0, -INF, 0.5]],
    "all-but-one-minus-inf": [[-INF, -INF, 2.0]],
    "single-entry": [[7.0]],
    "single-entry-huge": [[-1e300]],
    "huge": [[1e300, -1e300, 0.0]],
    "huge-tie": [[1e300, 1e300, -1e300]],
    "huge-negative-and-minus-inf": [[-1e300, -INF, -1e300 * (1 - 2**-52)]],
    "tiny-spread": [[1e-300, 0.0, -1e-300]],
    "subnormal-spread": [[5e-324, 0.0]],
    "mixed-batch": [[0.0, 1.0, 2.0], [2.0, 2.0, -INF], [-1e6, 0.0, 1e6]],
}
adversarial_rows = pytest.mark.parametrize(
    "row_id, Z",
    [(key, np.array(value)) for key, value in ADVERSARIAL.items()],
    ids=list(ADVERSARIAL),
)


# --- equal to the peers ----------------------------------------------------------------


@float64_implementations
@every_map
@given(Z=rows_with_or_without_minus_inf())
def test_equals_peer_on_random_rows(impl, name, Z):
    # Catches: entmax with alpha = 2 (or sparsemax's threshold in entmax15), u = z instead
    # of z/2, a wrong sign of tau, softmax without normalisation, the wrong axis.
    P = impl(name, Z)
    kappa = condition(name, Z, P)
    assert_maps_close(P, peer(name, Z), kappa=kappa, what=f"{impl} {name} vs peer")
    assert_maps_close(P, masked_peer(name, Z), kappa=kappa, what=f"{impl} {name} vs masked peer")
    if name == "softmax":
        assert_maps_close(P, scipy.special.softmax(Z, axis=-1), kappa=kappa, what="vs scipy")


@float64_implementations
@every_map
@adversarial_rows
def test_equals_peer_on_adversarial_rows(impl, name, row_id, Z):
    # Catches: a missing max-shift (1e6 and 1e300 overflow exp or the squares), -inf turned
    # into NaN (inf - inf in the cumulative sums), ties sorted into a wrong support size.
    P = impl(name, Z)
    kappa = condition(name, Z, P)
    assert_maps_close(P, masked_peer(name, Z), kappa=kappa, what=f"{impl} {name} [{row_id}]")
    assert_maps_close(P, peer(name, Z), kappa=kappa, what=f"{impl} {name} vs peer [{row_id}]")
    if name == "softmax":
        assert_maps_close(P, scipy.special.softmax(Z, axis=-1), kappa=kappa, what="vs scipy")


# --- the simplex and the invariances ---------------------------------------------------


def assert_on_simplex(impl, name, Z, P):
    assert np.all(P >= 0), f"{impl} {name}: negative entry in {P!r} for {Z!r}"
    deviation = float(np.max(np.abs(P.sum(axis=-1) - 1)))
    bound = simplex_bound(impl)
    assert deviation <= bound, (
        f"{impl} {name}: |sum p - 1| = {deviation:.3g} > {bound:.3g} "
        f"({tolerances.TOLERANCES[impl.dtype_name].reason})\nZ = {Z!r}\nP = {P!r}"
    )
    assert np.all(P[np.isneginf(Z)] == 0), f"{impl} {name}: mass on a -inf entry: {P!r}"


@every_implementation
@every_map
@given(Z=rows_with_or_without_minus_inf())
def test_random_rows_on_the_simplex_in_order_and_as_the_reference(impl, name, Z):
    # On the simplex: finite, >= 0, sum 1, no mass on -inf entries.
    # In order: z_j >= z_k implies p_j >= p_k (exactly: once tau is fixed the maps are
    # monotone elementwise functions of z_k, and rounding is monotone); so every argmax of z
    # is an argmax of p. The converse (argmax p => argmax z) holds only up to rounding:
    # z = (0, 1e-20) gives p = (1/2, 1/2).
    # Catches: a threshold tau off by a constant (sum != 1), [.]_+ forgotten (negative
    # entries), mass on -inf entries, NaN from -inf (impl() checks finiteness), sorting
    # ascending instead of descending, p_k = [tau - z_k/2]_+^2, the output left in sorted
    # order.
    # Equal to the reference on the same (rounded) input, within tolerance(dtype).
    # Catches: half precisions computed in their own dtype (sums of 8 entries with an 8-bit
    # significand), an output not rounded back once, a dtype-dependent shortcut.
    Z = impl.rounded(Z)
    P = impl(name, Z)
    assert_on_simplex(impl, name, Z, P)
    z_ge = Z[..., :, None] >= Z[..., None, :]
    p_ge = P[..., :, None] >= P[..., None, :]
    assert np.all(p_ge[z_ge]), f"{impl} {name}: z_j >= z_k but p_j < p_k\nZ = {Z!r}\nP = {P!r}"
    top = np.argmax(Z, axis=-1)[..., None]
    assert np.array_equal(np.take_along_axis(P, top, -1)[..., 0], P.max(axis=-1)), (Z, P)
    expected = getattr(reference, name)(Z)
    assert_maps_close(
        P, expected, dtype_name=impl.dtype_name, kappa=condition(name, Z, expected),
        what=f"{impl} {name} vs the reference on the rounded input",
    )


@every_implementation
@every_map
@adversarial_rows
def test_adversarial_rows_on_the_simplex(impl, name, row_id, Z):
    # Catches: NaN or inf from huge magnitudes, tiny spreads or -inf (see impl()), mass
    # leaking to -inf entries, a support size of 0 for K = 1.
    if not impl.representable(Z):  # e.g. 1e6 overflows float16: covered by the float64 rows
        Z = np.clip(Z, -100.0, 100.0)
    Z = impl.rounded(Z)
    assert_on_simplex(impl, name, Z, impl(name, Z))


@every_implementation
@every_map
def test_single_entry_is_one(impl, name):
    # Catches: a support size of 0 when K = 1 (index -1), 1 - 1/K type normalisations.
    big = float(torch.finfo(impl.dtype).max) if impl.dtype is not None else 1.7e308
    Z = np.array([[0.0], [-big], [big], [1e-3], [-3.5]])
    assert np.array_equal(impl(name, impl.rounded(Z)), np.ones_like(Z))


@every_implementation
@every_map
def test_spread_beyond_the_floating_range_is_exact_and_silent(impl, name):
    # Catches: a max-shift that overflows to -inf and then produces NaN, or an overflow
    # warning (warnings are errors in this project) for a valid finite row.
    big = float(torch.finfo(impl.dtype).max) if impl.dtype is not None else 1.7e308
    Z = impl.rounded(np.array([[big, -big, 0.0], [-big, 0.0, big]]))
    expected = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P = impl(name, Z)
    assert np.array_equal(P, expected), P


@float64_implementations
@every_map
@given(
    Z=logit_arrays(minus_inf=True).map(lambda Z: np.round(Z * 1024) / 1024),
    shift=st.sampled_from([2.0**40, -(2.0**40), 3.0, -1000.5, 2.0**-10]),
)
def test_shift_invariance(impl, name, Z, shift):
    # Z is on the grid 2^-10 Z with |Z| <= 20, so z + c is exact for these c and the regrets
    # max z - z_k of z and z + c are the same numbers: any implementation that shifts by the
    # row maximum gives bitwise equal outputs.
    # Catches: a missing max-shift (softmax overflows at 2^40, entmax15's sum of squares
    # loses every digit), a shift by the mean or the first entry instead of the maximum.
    P = impl(name, Z)
    shifted = impl(name, Z + shift)
    np.testing.assert_array_equal(shifted, P, err_msg=f"{impl} {name}: Z = {Z!r}, shift {shift}")


@float64_implementations
@every_map
@given(Z=rows_with_or_without_minus_inf(), data=st.data())
def test_permutation_equivariance(impl, name, Z, data):
    # Catches: returning the output in sorted order, gathering tau with the sort indices
    # applied to the wrong tensor, a threshold taken from the first rather than the k-th entry.
    perm = np.array(data.draw(st.permutations(range(Z.shape[-1]))))
    P = impl(name, Z)
    assert_maps_close(impl(name, Z[:, perm]), P[:, perm], kappa=condition(name, Z, P), what=impl.id)


@float64_implementations
@every_map
@pytest.mark.parametrize("k", [1, 2, 5])
def test_applies_to_the_last_axis_of_any_rank(impl, name, k):
    # Catches: normalising over the first axis (dim=0), flattening a batch into one row,
    # refusing 1-D or 3-D input.
    Z = np.round(np.random.default_rng(k).normal(scale=2.0, size=(6, k)), 1)  # some ties
    if k > 1:
        Z[2, 0] = -INF
    expected = np.stack([impl(name, row) for row in Z])  # one 1-D row at a time
    np.testing.assert_array_equal(impl(name, Z), expected)
    batched = Z.reshape(2, 3, Z.shape[-1])
    np.testing.assert_array_equal(impl(name, batched), expected.reshape(batched.shape))


# --- exact sparsity --------------------------------------------------------------------
#
# entmax15: p_k = [u_k - tau]_+^2 with u = z/2 and sum_k p_k = 1. At tau = max u - 1 the top
# entry alone has mass 1 and sum p is nondecreasing as tau decreases, so tau >= max u - 1;
# at tau = max u - 1/sqrt(K) every entry has mass >= 1/K, so tau <= max u - 1/sqrt(K).
# Hence z_k <= max z - 2 (u_k <= max u - 1 <= tau) gives p_k = 0 exactly. A row is one-hot
# iff tau = max u - 1, i.e. iff every other u_k <= max u - 1: iff the gap between its two
# largest entries is >= 2. With a gap g < 2 the runner-up has p = ((sqrt(8 - g^2) - g)/4)^2
# > 0 (closed form below).
# sparsemax: p_k = [z_k - tau]_+ with tau in [max z - 1, max z - 1/K]: the same statements
# with gap 1.


@every_implementation
@sparse_maps
@given(
    Z=st.one_of(
        rows_with_or_without_minus_inf(), near_boundary_rows(gap=st.sampled_from((1.0, 2.0)))
    )
)
@example(Z=np.array([[0.0, -2.0 + 2.0**-29, -2.0]]))  # reproducer: reference
@example(Z=np.array([[0.0, -2.0 + 2.0**-27, -2.0]]))  # reproducer: torch float64
@example(Z=np.array([[0.0, -2.0 + 2.0**-23, -2.0]]))  # reproducer: torch float32
def test_exactly_zero_beyond_the_gap(impl, name, Z):
    # p_k == 0 exactly (not 1e-32) whenever z_k <= max z - gap (2 for entmax15, 1 for
    # sparsemax): what makes entmax responsibilities exactly hard (claim entmax-one-hot-threshold).
    # Catches: a threshold that rounding pushes below max u - 1 (mass ~1e-32 beyond the
    # boundary, as the entmax package gives on [0, -2, -2, -2, -2]), the threshold of a
    # less sparse map (u = z/4: zero only beyond a gap of 4).
    Z = impl.rounded(Z)
    P = impl(name, Z)
    beyond = Z <= Z.max(axis=-1, keepdims=True) - ONE_HOT_GAP[name]
    assert np.all(P[beyond] == 0), (
        f"{impl} {name}: mass {P[beyond][P[beyond] != 0].tolist()} on entries at or beyond "
        f"the gap {ONE_HOT_GAP[name]} below the maximum of {Z.tolist()}"
    )


@every_implementation
@sparse_maps
@given(
    gap=st.floats(0.0, 8.0),
    runner_ups=st.integers(1, 6),
    below=st.lists(st.floats(0.0, 5.0), max_size=4),
    top=st.sampled_from([0.0, 1.5, -7.0, 64.0]),
    data=st.data(),
)
@example(gap=2.0, runner_ups=4, below=[], top=0.0, data=None)  # [0, -2, -2, -2, -2]
@example(gap=1.0, runner_ups=3, below=[], top=0.0, data=None)
def test_one_hot_iff_the_gap_is_large(impl, name, gap, runner_ups, below, top, data):
    # One-hot iff max z - (second largest z) >= gap (2 for entmax15, 1 for sparsemax), with
    # ties among the runner-ups. The "not one-hot" direction needs the runner-up's mass to
    # survive rounding: in float64 it is tested down to gap - 1e-9 (mass 2.5e-19 for
    # entmax15) in its own test below; here gaps closer than 1/16 to the threshold are left
    # to the float64 test for the half precisions.
    # Catches: a one-hot rule at gap 1 for entmax15 (alpha = 2), a strict ">" instead of
    # ">=" at the boundary, tau rounded below max u - 1 (runner-ups get 1e-32).
    threshold = ONE_HOT_GAP[name]
    row = np.array([top] + [top - gap] * runner_ups + [top - gap - b for b in below])
    if data is not None:
        row = row[np.array(data.draw(st.permutations(range(len(row)))))]
    Z = impl.rounded(row[None, :])
    ordered = np.sort(Z[0])[::-1]
    actual_gap = ordered[0] - ordered[1]
    P = impl(name, Z)[0]
    if actual_gap >= threshold:
        expected = (Z[0] == ordered[0]).astype(np.float64)
        np.testing.assert_array_equal(P, expected, err_msg=f"{impl} {name}: Z = {Z!r}")
    else:
        margin = 1e-9 if impl.dtype_name == "float64" else 2.0**-4
        assume(actual_gap <= threshold - margin)
        assert np.count_nonzero(P) >= 2, f"{impl} {name}: one-hot at gap {actual_gap} < {threshold}"


@float64_implementations
@sparse_maps
@pytest.mark.parametrize("below", [1e-9, 2.0**-40, 0.0], ids=["1e-9", "2^-40", "exact"])
def test_one_hot_boundary_in_float64(impl, name, below):
    # Gap exactly 2 (entmax15) or 1 (sparsemax): one-hot; a gap 1e-9 or 2^-40 smaller: the
    # runner-up keeps the mass of the closed form (entmax15 (sqrt(8 - g^2) - g)^2 / 16 ~
    # 2.5e-19; sparsemax (1 - g)/2 = 5e-10), computed to within its own size.
    # Catches: ">" vs ">=" at the boundary, a one-hot shortcut "gap > threshold - eps".
    g = ONE_HOT_GAP[name] - below
    P = impl(name, np.array([0.0, -g]))
    expected = two_entry_closed_form(name, g)
    if below == 0.0:
        np.testing.assert_array_equal(P, [1.0, 0.0])
    else:
        assert P[1] > 0, f"{impl} {name}: one-hot {P!r} at gap {g!r}"
        assert abs(P[1] - expected[1]) <= 1e-6 * expected[1], f"{P!r} vs closed form {expected!r}"


# --- closed forms ----------------------------------------------------------------------


def two_entry_closed_form(name, g):
    """The map of the row [0, -g], g >= 0, in closed form.

    softmax:   (1, e^-g) / (1 + e^-g).
    sparsemax: p = (-tau, -g - tau), p_1 + p_2 = 1 gives tau = -(1 + g)/2, so
               p = ((1 + g)/2, (1 - g)/2) for g < 1 and (1, 0) for g >= 1.
    entmax15:  u = (0, -g/2), p = (t^2, (t - g/2)^2) with t = -tau >= g/2, and
               t^2 + (t - g/2)^2 = 1, i.e. 2 t^2 - g t + g^2/4 - 1 = 0, so
               t = (g + sqrt(8 - g^2)) / 4; t >= g/2 iff sqrt(8 - g^2) >= g iff g <= 2:
               p = (((g + sqrt(8 - g^2))/4)^2, ((sqrt(8 - g^2) - g)/4)^2) for g < 2 and
               (1, 0) for g >= 2 (at g = 2 both give (1, 0): continuous).
    """
    if name == "softmax":
        e = math.exp(-g)
        return np.array([1.0 / (1.0 + e), e / (1.0 + e)])
    if name == "sparsemax":
        return np.array([(1 + g) / 2, (1 - g) / 2]) if g < 1 else np.array([1.0, 0.0])
    if g >= 2:
        return np.array([1.0, 0.0])
    root = math.sqrt(8 - g * g)
    return np.array([((g + root) / 4) ** 2, ((root - g) / 4) ** 2])


def test_two_entry_closed_form_oracle():
    # Meta-test of the oracle itself: the closed forms sum to 1 and reach (1, 0) at the gap.
    for name in MAPS:
        for g in np.linspace(0, 3, 61):
            p = two_entry_closed_form(name, g)
            assert abs(p.sum() - 1) < 1e-15 and np.all(p >= 0)
    assert np.allclose(two_entry_closed_form("entmax15", 0.0), [0.5, 0.5])
    assert np.allclose(two_entry_closed_form("entmax15", 2 - 1e-12), [1.0, 0.0])
    assert np.allclose(reference.entmax15([0.0, -0.4]), two_entry_closed_form("entmax15", 0.4))


@every_implementation
@every_map
@given(
    g=st.floats(0.0, 3.0),
    shift=st.sampled_from([0.0, 1024.0, -1000.0]),
    swap=st.booleans(),
)
@example(g=2.0 - 1e-9, shift=0.0, swap=False)
@example(g=1.0 - 1e-9, shift=0.0, swap=True)
@example(g=0.0, shift=0.0, swap=False)
def test_two_entries_closed_form(impl, name, g, shift, swap):
    # Catches: entmax15 with alpha = 2 (gives (1+g)/2 instead), u = z instead of z/2 (support
    # up to g = 1 only), softmax with exp(+z), the branch of the quadratic with the minus sign.
    Z = impl.rounded(np.array([shift, shift - g]))
    effective_gap = Z[0] - Z[1]  # exact: Sterbenz, the entries are within a factor 2
    expected = two_entry_closed_form(name, effective_gap)
    Z, expected = (Z[::-1], expected[::-1]) if swap else (Z, expected)
    P = impl(name, Z)
    assert_maps_close(
        P, expected, dtype_name=impl.dtype_name, kappa=condition(name, Z, expected),
        what=f"{impl} {name} of {Z!r}",
    )


# --- the variational characterisation -------------------------------------------------


def entropy(name, p):
    """The regulariser whose maximiser the map is: Shannon, Tsallis 1.5, Tsallis 2 (Gini)."""
    p = np.asarray(p, dtype=np.float64)
    if name == "softmax":
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    if name == "entmax15":
        return (4.0 / 3.0) * (1.0 - np.sum(p**1.5, axis=-1))
    return 0.5 * (1.0 - np.sum(p**2, axis=-1))


def score(name, z, p):
    """p . (z - max z) + H(p): the objective that map(z) maximises over the simplex."""
    return np.asarray(p) @ (z - z.max()) + entropy(name, p)


@float64_implementations
@every_map
@given(
    Z=logit_arrays(n_rows=st.just(1), n_entries=st.integers(1, 6)),
    seed=st.integers(0, 2**32 - 1),
)
def test_maximises_the_regularised_score(impl, name, Z, seed):
    # p = map(z) maximises p.z + H(p) over the simplex (H_1.5 = (4/3)(1 - sum p^1.5) for
    # entmax15): no random simplex point, vertex, the centre, or small step from p towards
    # one of them scores higher, up to rounding of the score.
    # Catches: entmax15 computed with alpha = 2 (sparsemax's p loses at first order along
    # a step towards entmax's p), softmax in place of entmax15, a support one entry too small.
    z = Z[0]
    p = impl(name, z)
    rng = np.random.default_rng(seed)
    k = len(z)
    points = np.concatenate(
        [
            rng.dirichlet(np.full(k, 0.3), 32),
            rng.dirichlet(np.ones(k), 32),
            np.eye(k),
            np.full((1, k), 1 / k),
        ]
    )
    steps = np.concatenate([p + eps * (points - p) for eps in (1e-1, 1e-3)])
    candidates = np.concatenate([points, steps])
    best = score(name, z, p)
    slack = tolerances.tolerance("float64", 1.0) * (1.0 + np.sum(np.abs(z - z.max())))
    others = score(name, z, candidates)
    worst = int(np.argmax(others))
    assert others[worst] <= best + slack, (
        f"{impl} {name}: the simplex point {candidates[worst]!r} scores {others[worst]!r} > "
        f"{best!r} at p = {p!r} for z = {z!r}"
    )


@float64_implementations
@given(Z=logit_arrays(n_rows=st.just(1), n_entries=st.integers(2, 4)))
def test_entmax15_agrees_with_scipy_optimize(impl, Z):
    # SLSQP maximises p.z + (4/3)(1 - sum p^1.5) over the simplex from the centre; entmax15
    # must score at least as well, and lie near the optimiser's point (H_1.5 is 1-strongly
    # concave on the simplex, so a score within 1e-10 puts the points within ~1e-5).
    # Catches: the Tsallis entropy of the wrong alpha, a wrong support on small rows.
    z = Z[0]
    p = impl("entmax15", z)

    def negative_score(q):
        q = np.clip(q, 0.0, None)
        return -score("entmax15", z, q)

    result = scipy.optimize.minimize(
        negative_score,
        np.full(len(z), 1 / len(z)),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * len(z),
        constraints=[{"type": "eq", "fun": lambda q: np.sum(q) - 1.0}],
        options={"ftol": 1e-14, "maxiter": 500},
    )
    q = np.clip(result.x, 0.0, None)
    q = q / q.sum()
    note(f"z = {z!r}\np = {p!r}\nscipy q = {q!r} ({result.message})")
    assert score("entmax15", z, p) >= score("entmax15", z, q) - 1e-12
    assert np.max(np.abs(p - q)) <= 1e-4


# --- Jacobians -------------------------------------------------------------------------


def closed_form_jacobian(name, p):
    """dp/dz from theory/conventions.md: softmax diag(p) - p p^T; entmax15 diag(s) - s s^T / sum s with
    s = sqrt(p); sparsemax diag(m) - m m^T / |S| with m the support indicator."""
    if name == "softmax":
        return np.diag(p) - np.outer(p, p)
    s = np.sqrt(p) if name == "entmax15" else (p > 0).astype(np.float64)
    return np.diag(s) - np.outer(s, s) / s.sum()


def autograd_jacobian(function, z):
    z = torch.tensor(z, dtype=torch.float64)
    return torch.autograd.functional.jacobian(function, z).numpy()


def peer_function(name):
    if name == "softmax":
        return lambda z: torch.softmax(z, dim=-1)
    return lambda z: getattr(entmax, name)(z, dim=-1)


@every_map
@given(Z=logit_arrays(n_rows=st.just(1), n_entries=st.integers(1, 6), minus_inf=True))
def test_autograd_jacobian_equals_the_closed_form(name, Z):
    # Catches: a backward with p instead of sqrt(p) (entmax15 with softmax's Jacobian), a
    # missing "- s s^T / sum s" (rows of J not summing to 0), sparsemax's backward on the
    # whole row instead of the support, a transposed Jacobian, NaN gradients at -inf.
    z = Z[0]
    function = getattr(krbf_torch, name)
    J = autograd_jacobian(function, z)
    p = getattr(reference, name)(z)
    assert np.all(np.isfinite(J)), J
    kappa = condition(name, Z, p[None])
    assert_maps_close(J, closed_form_jacobian(name, p), kappa=kappa, what=name)


@every_map
@given(Z=logit_arrays(n_rows=st.just(1), n_entries=st.integers(1, 6), minus_inf=True))
def test_autograd_jacobian_equals_the_peer(name, Z):
    # Catches: the same backward bugs, judged by an independent implementation (the entmax
    # package's custom backward, torch.softmax's autograd).
    z = Z[0]
    J = autograd_jacobian(getattr(krbf_torch, name), z)
    expected = autograd_jacobian(peer_function(name), z)
    p = getattr(reference, name)(z)
    assert_maps_close(J, expected, kappa=condition(name, Z, p[None]), what=f"{name} vs peer")


def distance_to_support_boundary(name, z, p):
    """min_k |u_k - tau| over finite entries: how far the row is from a support change."""
    j = int(np.argmax(p))
    if name == "entmax15":
        u = (z - z.max()) / 2
        tau = u[j] - math.sqrt(p[j])
    else:
        u = z - z.max()
        tau = u[j] - p[j]
    return float(np.min(np.abs(u - tau)))


@every_map
@given(Z=logit_arrays(n_rows=st.just(1), n_entries=st.integers(1, 6), ties=False))
def test_gradcheck_away_from_support_boundaries(name, Z):
    # Finite differences (torch.autograd.gradcheck, float64) agree with the custom backward
    # where the support does not change within the step (margin 1e-4 >> eps = 1e-6).
    # Catches: a backward off by a factor 2 (u = z/2 forgotten in d/dz), a wrong sign, a
    # backward that uses the sorted order.
    if name != "softmax":
        for z in Z:
            assume(distance_to_support_boundary(name, z, getattr(reference, name)(z)) > 1e-4)
    z = torch.tensor(Z, dtype=torch.float64, requires_grad=True)
    # fast_mode checks a random projection of the Jacobian: ~10x faster, as strict per example.
    assert torch.autograd.gradcheck(
        getattr(krbf_torch, name),
        (z,),
        eps=1e-6,
        atol=1e-8,
        rtol=1e-6,
        fast_mode=True,
        check_undefined_grad=False,  # the custom backwards always receive a gradient
    )


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@every_map
def test_backward_through_minus_inf_is_zero(name, dtype):
    # The gradient with respect to an excluded (-inf) entry is exactly 0 and every gradient
    # is finite.  Catches: a backward computing 0 * inf = NaN, or inf - inf in a saved input.
    z = torch.tensor([[0.0, -INF, 0.7, -0.4, -INF]], dtype=dtype, requires_grad=True)
    weights = torch.tensor([[1.0, 2.0, -3.0, 4.0, 5.0]], dtype=dtype)
    (grad,) = torch.autograd.grad((getattr(krbf_torch, name)(z) * weights).sum(), z)
    assert torch.isfinite(grad).all(), grad
    assert torch.all(grad[torch.isneginf(z)] == 0), grad


# --- the peer's own behaviour (findings about the entmax package 1.3) ------------------


def test_peer_entmax_handles_minus_inf_entries():
    # Finding: entmax 1.3 handles -inf entries (its NaNs from inf - inf in the cumulative
    # sums sit after the support and compare False), so comparing against it directly is
    # valid; it agrees with the masked computation on finite entries.
    Z = np.array([[0.0, -INF, 1.0, -INF, 0.5], [-INF, 2.0, -INF, -INF, 1.5]])
    for name in SPARSE_MAPS:
        P = peer(name, Z)
        assert np.all(np.isfinite(P)) and np.all(P[np.isneginf(Z)] == 0)
        np.testing.assert_allclose(P, masked_peer(name, Z), rtol=0, atol=1e-15)


def test_peer_entmax_fails_on_a_row_of_all_minus_inf():
    # Finding (deep-spin/entmax issue #19): a row of all -inf makes entmax 1.3 raise an
    # obscure IndexError-like RuntimeError (support size 0, gather at index -1), and
    # torch.softmax returns NaN. kmeans_rbf rejects the row with a clear ValueError
    # (tests/test_bad_input.py). If this test fails, the peer changed: update the finding.
    Z = torch.tensor([[0.0, 1.0], [-INF, -INF]], dtype=torch.float64)
    for name in SPARSE_MAPS:
        with pytest.raises(RuntimeError, match="out of bounds"):
            getattr(entmax, name)(Z, dim=-1)
    assert torch.isnan(torch.softmax(Z, dim=-1)[1]).all()
    for module in (reference, krbf_torch):
        Zm = Z.numpy() if module is reference else Z
        for name in MAPS:
            with pytest.raises(ValueError, match="every entry is -inf"):
                getattr(module, name)(Zm)


def test_peer_entmax15_leaks_mass_past_gap_2_with_tied_runner_ups():
    # Finding: entmax 1.3 is not exactly sparse at gap 2 with 4 to 6 tied runner-ups:
    # entmax15([0, -2, -2, -2, -2]) puts 4.9e-32 on each -2: its threshold for a support of
    # 5 rounds to -1 - 2^-52 <= -1, so all five enter the support and the top gets
    # 1 + 4.4e-16. kmeans_rbf gives exactly (1, 0, ...) on this row, which claim
    # entmax-exact-below-margin (exact hardness) needs. The two agree within tolerance.
    # If this test fails on the peer assertion, the peer changed: update the finding.
    z = np.array([0.0, -2.0, -2.0, -2.0, -2.0])
    leaked = peer("entmax15", z)
    assert np.all(leaked[1:] > 0) and np.all(leaked[1:] < 1e-30)
    for impl in FLOAT64:
        P = impl("entmax15", z)
        np.testing.assert_array_equal(P, [1.0, 0.0, 0.0, 0.0, 0.0])
        assert_maps_close(P, leaked, what=f"{impl} vs peer")


def test_peer_handles_huge_rows():
    # Finding: entmax 1.3 is exact on rows with entries of magnitude 1e300 and spreads that
    # overflow (its max-shift makes the support entries small; the overflowing squares of
    # the excluded entries only produce NaN/inf thresholds that are never selected).
    for name in SPARSE_MAPS:
        np.testing.assert_array_equal(peer(name, [1e300, -1e300, 0.0]), [1.0, 0.0, 0.0])
        # (entmax15 gives 1/2 + 2^-53 on this tie: within tolerance, not exact)
        tie = peer(name, [1e300, 1e300, -1e300])
        np.testing.assert_allclose(tie, [0.5, 0.5, 0.0], rtol=0, atol=2e-16)
        np.testing.assert_array_equal(peer(name, [-1.7e308, 1.7e308, 0.0]), [0.0, 1.0, 0.0])
