"""The fused CPU kernels of kmeans_rbf.fused against the eager kernels of kmeans_rbf.streaming.

* ``one_hot``: bit for bit the eager ``index_add_`` in row order (so that every kind's
  exactly one-hot chunks are Lloyd's step bit for bit, whichever path ran);
* the streamed statistics with the fused kernels on and off, on planted near-ties, exact
  ties on integer grids, far offsets, float32 and float64, every shape of the vector
  loops (K below, at and above a group of 8 centres, every remainder mod 8; D below, at
  and above a vector of lanes; chunks of 1 to 120 rows: whole pairs of row tiles and
  the last rows a tile at a time), many chunks and (soft kinds) blocks: the same labels,
  so the same sums and masses bit for bit, and free energies within the bound;
* a build that fails: the eager kernels, with one warning; an error where required.

The streamed steps use the fused kernels by default, so every test of
``tests/test_streaming.py`` (the reference's labels on planted bisectors, chunk
boundaries, NaN in a later chunk, memory) checks them too; the equivalence here is what
keeps the eager kernels checked as well.

Every test names, in a comment starting ``Catches:``, a broken variant that makes it fail,
and the ``*_bites`` tests run it on that variant.
"""

import contextlib
import platform

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kmeans_rbf import fused, streaming
from kmeans_rbf.assertions import assert_within
from kmeans_rbf.backends import rounded
from kmeans_rbf.tolerances import error_bounds
from support import assert_bites_engine, fused_kernels, patched
from test_streaming import planted_bisectors

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@pytest.fixture(autouse=True)
def kernels():
    """The built extension; without it (no compiler) these tests have nothing to test.

    CI sets KMEANS_RBF_REQUIRE_FUSED=1: there a failed build raises here, not skips.
    """
    module = fused.kernels()
    if module is None:
        pytest.skip("the fused kernels could not be built on this machine")
    return module


# --- broken kernels: one realistic bug each --------------------------------------------


class _Wrapped:
    """The real kernels with one of them replaced."""

    def __init__(self, real, **replacements):
        self._real = real
        self.__dict__.update(replacements)

    def __getattr__(self, name):
        return getattr(self._real, name)


@contextlib.contextmanager
def kernels_as(module):
    # In place of the built module (so that use_fused(False) still turns them off).
    real = fused.kernels()
    fused._state["module"] = module
    try:
        yield
    finally:
        fused._state["module"] = real


def kernels_with(**replacements):
    return kernels_as(_Wrapped(fused.kernels(), **replacements))


def one_hot_in_reverse_order():
    # The bug: the one-hot sums accumulated in another order than the rows' (a parallel
    # or blocked reduction): other last bits than the eager index_add_.
    real = fused.kernels()

    def reversed_rows(x, origin, labels, sums, masses):
        b = x.shape[0]
        real.one_hot(x.flip(0).contiguous(), origin, labels[:b].flip(0).contiguous(), sums, masses)

    return kernels_with(one_hot=reversed_rows)


def scores_without_repair():
    # The bug: the fused scan's labels trusted, no near-tie re-decided (the band ignored).
    real = fused.kernels()

    def trusting(*args):
        real.scores(*args)
        args[-1].zero_()

    return kernels_with(scores=trusting)


def scores_without_the_last_centres():
    # The bug: the centres past the kernel's last full group of 8 (K not a multiple of 8)
    # left out of its register loop: their points go to another centre, unflagged.
    real = fused.kernels()

    def short(x, centre, minus_2B_T, m, *rest):
        kept = m.shape[0] - m.shape[0] % 8 or m.shape[0]
        real.scores(x, centre, minus_2B_T[:, :kept].contiguous(), m[:kept].contiguous(), *rest)

    return kernels_with(scores=short)


# --- one_hot ---------------------------------------------------------------------------


@given(
    dtype=st.sampled_from(sorted(DTYPES)),
    n_points=st.integers(1, 300),
    n_clusters=st.integers(1, 9),
    n_features=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-3, 1.0, 1e6]),
)
def test_one_hot_is_the_eager_index_add_bit_for_bit(dtype, n_points, n_clusters, n_features, seed, scale):
    # Sums of float32 rows in float64 are not exact: 300 rows of 2^-24-spaced values
    # far from the origin round differently in another order. Catches: another order.
    rng = np.random.default_rng(seed)
    x = torch.tensor(scale * rng.standard_normal((n_points, n_features)), dtype=DTYPES[dtype])
    origin = torch.tensor(scale * rng.standard_normal(n_features), dtype=DTYPES[dtype])
    labels = torch.tensor(rng.integers(0, n_clusters, n_points))
    eager = streaming._Accumulator(n_clusters, n_features, "cpu")
    workspace = streaming._Workspace(n_points, n_clusters, n_features, DTYPES[dtype], "cpu")
    eager.one_hot(x - origin, labels, workspace)
    fast = streaming._Accumulator(n_clusters, n_features, "cpu")
    fast.one_hot_fused(x, origin, labels, fused.kernels())
    assert torch.equal(fast.sums, eager.sums), "one-hot sums differ from index_add_'s"
    assert torch.equal(fast.masses, eager.masses)


def test_one_hot_bites():
    assert_bites_engine(test_one_hot_is_the_eager_index_add_bit_for_bit, one_hot_in_reverse_order)


# --- the statistics, fused and eager -----------------------------------------------------


@st.composite
def problems(draw):
    """``(X, C)`` tensors: planted near-ties (near and far), or integer grids (exact ties)."""
    dtype = draw(st.sampled_from(sorted(DTYPES)))
    n_clusters = draw(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 33]))
    n_features = draw(st.sampled_from([1, 2, 5, 8, 15, 16, 17, 40]))
    n_points = draw(st.integers(1, 400))
    seed = draw(st.integers(0, 2**32 - 1))
    if draw(st.booleans()) and n_clusters >= 2 and n_features >= 2:  # (a bisector needs D >= 2)
        offset = draw(st.sampled_from([0.0, 1e3] if dtype == "float32" else [0.0, 1e6]))
        X, C = planted_bisectors(n_points, n_clusters, n_features, offset, dtype, seed)
    else:
        rng = np.random.default_rng(seed)
        offset = draw(st.sampled_from([0.0, 2.0**20]))
        X = offset + rng.integers(-4, 5, size=(n_points, n_features)).astype(float)
        C = offset + rng.integers(-4, 5, size=(n_clusters, n_features)).astype(float)
        X, C = rounded(X, dtype), rounded(C, dtype)
    return torch.tensor(X, dtype=DTYPES[dtype]), torch.tensor(C, dtype=DTYPES[dtype])


@given(problem=problems(), rows=st.integers(1, 120))
def test_hard_statistics_fused_and_eager_are_the_same(problem, rows):
    # The same certified labels, hence the same one-hot sums bit for bit; the free energy
    # (sum of nearest distances, from each path's own expansion) within the bound on J.
    # Catches: the fused scan's labels trusted without the near-tie band; the centres
    # past the kernel's last full group of 8 left out of its scan.
    X, C = problem
    budget = rows * streaming._bytes_per_row(C.shape[0], C.shape[1], C.dtype)
    shift = streaming.default_shift(C)
    with fused_kernels(True):
        fast = streaming.sufficient_statistics(X, C, kind="hard", shift=shift, budget=budget)
    with fused_kernels(False):
        eager = streaming.sufficient_statistics(X, C, kind="hard", shift=shift, budget=budget)
    assert torch.equal(fast.masses, eager.masses), "the fused kernels' labels differ from the eager ones'"
    assert torch.equal(fast.sums, eager.sums)
    bound = error_bounds(X.double().numpy(), C.double().numpy(), None, "hard", C.dtype)["objective"]
    # Each is within N times the bound on a distance of the exact sum: 2 N between them.
    assert_within(float(fast.energy), float(eager.energy), 2 * X.shape[0] * bound, "free energy")


def test_hard_statistics_bite():
    assert_bites_engine(test_hard_statistics_fused_and_eager_are_the_same, scores_without_repair)


def test_hard_statistics_bite_on_the_centres_of_the_last_group():
    assert_bites_engine(test_hard_statistics_fused_and_eager_are_the_same, scores_without_the_last_centres)


def exact_columns_not_written():
    # The bug: the re-decided rows' exact distances not written into the scores, so their
    # weights come from the expansion (and, at a low temperature, from the wrong centre).
    return patched(streaming, _fused_exact_columns=lambda ST, nearest, labels, exact: None)


@given(problem=problems(), rows=st.integers(1, 120), block=st.integers(1, 40),
       temperature=st.sampled_from([1e-30, 0.05, 1.0, 30.0]), kind=st.sampled_from(["softmax", "entmax15"]))
def test_soft_steps_fused_and_eager_agree(problem, rows, block, temperature, kind):
    # Each within the soft step's bound of the reference (tests/test_torch_matches_
    # reference.py), so within twice it of each other. Where the eager step is exactly
    # Lloyd's (T = 1e-30: every weight but the nearest's underflows, or is outside the
    # entmax15 support, the certified nearest taking all), the fused one must be too, bit
    # for bit: there the bound is
    # infinite (a near-tie decides which centre a point moves), the certification is not.
    # Catches: the re-decided rows' weights taken from the expansion.
    X, C = problem
    budget = rows * streaming._bytes_per_row(C.shape[0], C.shape[1], C.dtype)
    with patched(streaming, _fused_block_rows=lambda rows, n_clusters, dtype: min(rows, block)):
        with fused_kernels(True):
            fast = streaming.step(X, C, temperature, kind, budget)
        with fused_kernels(False):
            eager = streaming.step(X, C, temperature, kind, budget)
            lloyd = streaming.step(X, C, None, "hard", budget)
    if torch.equal(eager, lloyd):
        assert torch.equal(fast, eager), f"an exactly one-hot {kind} step differs from Lloyd's"
    bound = error_bounds(X.double().numpy(), C.double().numpy(), temperature, kind, C.dtype)["soft_step"]
    assert_within(fast.double().numpy(), eager.double().numpy(), 2 * bound, f"fused vs eager {kind} step")


def test_soft_steps_bite():
    assert_bites_engine(test_soft_steps_fused_and_eager_agree, exact_columns_not_written)


# --- narrower vectors ----------------------------------------------------------------------

NARROWER = {
    "AVX2 (32-byte vectors)": ["-mno-avx512f"],
    "SSE (16-byte vectors)": ["-mno-avx512f", "-mno-avx", "-mno-avx2", "-mno-fma"],
}


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 instruction-set flags")
@pytest.mark.parametrize("width", sorted(NARROWER))
def test_kernels_built_for_narrower_vectors_agree_with_the_eager_ones(width):
    # The kernels follow the machine's vector width (fused.cpp, kVectorBytes), and this
    # machine, like CI's, has AVX-512: only a build without it runs the 8- and 4-lane
    # float32 code (the transposes' fewer stages, the other register tiles).
    # Catches: what the four tests it runs catch (their bites), in those builds. It found
    # a 64-byte assumption in the entmax15 kernel's spare columns (every soft entmax15
    # step raised in a 32-byte build).
    with kernels_as(fused._load(fused._FLAGS + NARROWER[width])):
        test_hard_statistics_fused_and_eager_are_the_same()
        test_soft_steps_fused_and_eager_agree()
        test_one_hot_is_the_eager_index_add_bit_for_bit()
        test_exp_is_within_two_units_in_the_last_place()


# --- the vector exp ----------------------------------------------------------------------


def low_precision_exp():
    # The bug: an exp of a few correct digits (here of the argument rounded to bfloat16).
    return kernels_with(exp_nonpositive=lambda x: x.copy_(torch.exp(x.to(torch.bfloat16).to(x.dtype))))


def test_exp_is_within_two_units_in_the_last_place():
    # On [floor, 0] (the softmax weights' arguments, floor = log of the smallest normal
    # number + 1): float32 on 2 million points against float64's exp (exact to 2^-29
    # relative, far below a float32 ulp); float64 on 2,000 points against mpmath at 120
    # bits. Two units: one from the reduction and polynomial (Cephes' bound), one from
    # the final scaling's rounding. exp(0) = 1 exactly (the one-hot checks need it).
    # Catches: an exp of a few correct digits.
    import mpmath

    for dtype, points in ((torch.float32, 2_000_003), (torch.float64, 2_000)):
        floor = float(np.log(torch.finfo(dtype).tiny)) + 1
        x = torch.cat([torch.linspace(floor, 0, points, dtype=dtype),
                       -torch.logspace(-30, 0, 1000, dtype=dtype), torch.zeros(1, dtype=dtype)])
        y = x.clone()
        fused.kernels().exp_nonpositive(y)
        assert y[-1] == 1.0, "exp(0) must be 1 exactly"
        if dtype == torch.float32:
            expected = torch.exp(x.double())
            ulp = torch.finfo(dtype).eps * torch.exp2(torch.floor(torch.log2(expected)))
            worst = float(((y.double() - expected).abs() / ulp).max())
        else:
            with mpmath.workprec(120):
                worst = 0.0
                for value, argument in zip(y.tolist(), x.tolist()):
                    want = mpmath.exp(mpmath.mpf(argument))
                    ulp = mpmath.mpf(2) ** (mpmath.floor(mpmath.log(want, 2)) - 52)
                    worst = max(worst, float(abs(mpmath.mpf(value) - want) / ulp))
        assert worst <= 2, f"{dtype} exp off by {worst:.2f} units in the last place"


def test_exp_bites():
    assert_bites_engine(test_exp_is_within_two_units_in_the_last_place, low_precision_exp)


# --- building ----------------------------------------------------------------------------


def test_a_failed_build_falls_back_to_the_eager_kernels_with_one_warning(monkeypatch):
    # Catches: a failed build that raises in every step (or fails silently).
    def no_compiler():
        raise RuntimeError("no C++ compiler\nlong log")

    state = dict(fused._state, module=None, failure=None, enabled=True)
    monkeypatch.setattr(fused, "_state", state)
    monkeypatch.setattr(fused, "build", no_compiler)
    monkeypatch.delenv("KMEANS_RBF_REQUIRE_FUSED", raising=False)
    with pytest.warns(RuntimeWarning, match=r"could not be built \(RuntimeError: no C\+\+ compiler\)"):
        assert fused.kernels() is None
    assert fused.kernels() is None  # once: not retried, no second warning (warnings are errors)
    X = torch.arange(12.0).reshape(6, 2)
    assert torch.equal(streaming.step(X, X[:2].clone(), kind="hard"), torch.tensor([[0.0, 1.0], [6.0, 7.0]]))
    monkeypatch.setenv("KMEANS_RBF_REQUIRE_FUSED", "1")
    monkeypatch.setitem(state, "failure", None)
    with pytest.raises(RuntimeError, match="no C"):
        fused.kernels()


def test_build_name_depends_on_the_machine(monkeypatch):
    # -march=native code must not be loaded on another CPU from a shared cache.
    # Catches: a build name that ignores the CPU's flags.
    here = fused._machine_digest()
    real_open = open

    def other_cpu(path, *args, **kwargs):
        if path == "/proc/cpuinfo":
            import io

            return io.StringIO("flags\t\t: fpu sse sse2\n")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", other_cpu)
    assert fused._machine_digest() != here


# --- memory of the rows set apart ----------------------------------------------------------


def deferred_without_bound():
    # The bug: the fused entmax15 kernel's rows apart deferred to the end of the worker's
    # chunks whatever their number (it took 1.2 GB at N = 2,000,000, K = 256): a bound
    # of 10^12 chunks.
    return patched(streaming, _DEFERRED_PER_CHUNK=1e-12)


def test_rows_apart_are_added_before_they_exceed_an_eighth_of_a_chunk():
    # Points planted on bisectors are re-decided, set apart and, among ordinary points
    # (every other row), deferred: the chunks are not one-hot at T = 0.3. The rows
    # deferred at once stay within an eighth of a chunk plus the chunk that crossed it,
    # whatever N. Catches: deferral without that bound.
    planted, C = planted_bisectors(3000, 8, 4, 0.0, "float64", 0)
    ordinary = C[np.arange(3000) % 8] + np.random.default_rng(1).standard_normal((3000, 4))
    X, C = torch.tensor(np.stack([planted, ordinary], axis=1).reshape(6000, 4)), torch.tensor(C)
    rows = 100  # at most: the workers share the budget
    budget = rows * streaming._bytes_per_row(8, 4, torch.float64)
    held = []
    add = streaming._add_deferred

    def recording(acc, frame):
        held.append(acc.deferred_rows)
        add(acc, frame)

    with patched(streaming, _add_deferred=recording):
        streaming.sufficient_statistics(X, C, 0.3, kind="entmax15", budget=budget)
    assert sum(held) > 4 * rows, "too few rows deferred for the bound to matter"
    assert max(held) <= rows // 8 + rows, f"{max(held)} rows deferred at once"


def test_rows_apart_bite():
    assert_bites_engine(test_rows_apart_are_added_before_they_exceed_an_eighth_of_a_chunk, deferred_without_bound)
