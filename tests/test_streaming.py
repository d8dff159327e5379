"""The fast machinery of kmeans_rbf.torch and kmeans_rbf.streaming.

* the certified repair: labels equal the reference's exactly on points planted on
  bisectors, near and far from the origin, in float32 and float64;
* the exact rows: NumPy's summation order, bit for bit;
* chunk boundaries: N one below and above a chunk, N below a chunk, N = 1;
* the sufficient-statistics API: pieces combined (in any grouping, or as an all-reduce)
  give the statistics of the whole;
* the streaming softmax step at underflow (T = 1e-12, coordinates 1e150), where each
  centre's weights are rescaled in the log domain across chunks;
* entmax15's Newton threshold against the reference and the entmax package on
  adversarial rows, and entmax15 supports certified at the one-hot boundary;
* what steps promise when inputs require grad; NaN in a later chunk; memory (allocations
  counted by the profiler); torch.compile (slow).

Every test names, in a comment starting ``Catches:``, a broken variant that makes it fail,
and the ``*_bites`` tests run it on that variant (a context manager below that breaks one
piece of the engine) to show that it does.
"""

import contextlib
import tracemalloc

import entmax
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.profiler import ProfilerActivity, profile

from kmeans_rbf import reference, streaming
from kmeans_rbf import torch as krbf
from kmeans_rbf.assertions import assert_within
from kmeans_rbf.backends import NumpyCalls, rounded
from kmeans_rbf.tolerances import error_bounds, tolerance
from support import assert_bites_engine, fused_kernels, patched

DTYPES = {"float32": torch.float32, "float64": torch.float64}


# --- broken engines: one realistic bug each, applied for the duration of a bite ----------


def without_repair():
    # The bug: trusting the expansion, with no error bound and no slack for the argmin's
    # packed keys (so no near-tie is re-decided).
    return patched(krbf, _expansion_error=lambda dtype, n_features: (0.0, 0.0),
                   _argmin_slack_factors=lambda dtype, n_clusters: (0.0, 0.0))


@contextlib.contextmanager
def uncentred_without_repair():
    # The bug: |x|^2 - 2 x.c + |c|^2 about the origin, trusted (scikit-learn's distances).
    with patched(krbf, _shift=lambda C: torch.zeros_like(C[0])), without_repair():
        yield


def torch_summed_exact_rows():
    # The bug: the exact rows computed by torch's float64 differences and sum (another
    # summation order than the reference's, other last bits), not by the reference.
    def exact(X, C):
        X64, C64 = X.to(torch.float64), C.to(torch.float64)
        return torch.square(X64[:, None, :] - C64[None, :, :]).sum(dim=-1)

    return patched(krbf, _exact_squared_distances=exact)


def torch_summed_pairs():
    # The bug: each row's two smallest distances made exact by torch's float64 sum (another
    # summation order than the reference's), not by the reference's.
    return patched(krbf, _exact_pair_distances=lambda X, C: torch.square(X.double() - C.double()).sum(dim=1))


def unaligned_combine():
    # The bug: chunks' softmax statistics added without rescaling to a common offset.
    return patched(streaming, aligned=lambda stats, offsets, temperature=None: stats._replace(offsets=offsets))


def unchecked_newton():
    # The bug: the threshold after the Newton steps accepted without the exact solve's check.
    real = krbf._solve_threshold

    def trusting(v, kind, t, scratch, closeness=False, steps=None, tau=None):
        result = list(real(v, kind, t, scratch, closeness, steps=steps, tau=tau))
        result[1] = torch.ones_like(result[1])
        return tuple(result)

    return patched(krbf, _solve_threshold=trusting)


def uncertified_supports():
    # The bug: the support check allows for the rounding of the logits but not for the
    # error of the distances (entmax15 supports taken from the expansion's logits).
    return patched(streaming, _support_slack=lambda error, temperature, dtype: 8 * torch.finfo(dtype).eps + 0 * error)


def dense_steps():
    # The bug: a step that forms the (N, K) matrix (the dense, differentiable path) always.
    return patched(krbf, _requires_grad=lambda *tensors: True)


# --- the certified repair ----------------------------------------------------------------


def planted_bisectors(n_points, n_clusters, n_features, offset, dtype, seed):
    """Centres of spread 1 at ``offset`` from the origin, and points on bisectors of
    nearest pairs of centres (a small orthogonal step keeps them off the centres' line),
    rounded to ``dtype``: in exact arithmetic every point is tied, after rounding the
    nearest centre is decided by the last bits."""
    rng = np.random.default_rng(seed)
    C = offset + rng.uniform(-1.0, 1.0, size=(n_clusters, n_features))
    d = reference.squared_distances(C, C) + np.diag(np.full(n_clusters, np.inf))
    first = rng.integers(0, n_clusters, size=n_points)
    second = np.argmin(d[first], axis=1)
    axis = C[second] - C[first]
    step = rng.standard_normal((n_points, n_features))
    step -= np.sum(step * axis, axis=1, keepdims=True) / np.sum(axis * axis, axis=1, keepdims=True) * axis
    step *= 0.05 * np.linalg.norm(axis, axis=1, keepdims=True) / np.linalg.norm(step, axis=1, keepdims=True)
    X = (C[first] + C[second]) / 2 + step
    return rounded(X, dtype), rounded(C, dtype)


CASES = [  # (dtype, offset): near the origin, and far (1e3 times the spread in float32, 1e6 in float64)
    ("float32", 0.0), ("float32", 1e3), ("float64", 0.0), ("float64", 1e6),
]


@pytest.mark.parametrize("dtype, offset", CASES)
@pytest.mark.parametrize("shape", [(3000, 16, 8), (2000, 64, 32)], ids=str)
def test_planted_bisector_labels_equal_the_reference(dtype, offset, shape):
    # Catches: the expansion trusted without its error bound (no near-tie re-decided:
    # ~1 % of these points mislabelled), and, far from the origin, an uncentred expansion.
    X, C = planted_bisectors(*shape, offset, dtype, seed=shape[1])
    expected = reference.assign(X, C)
    Xt, Ct = torch.tensor(X, dtype=DTYPES[dtype]), torch.tensor(C, dtype=DTYPES[dtype])
    labels = krbf.assign(Xt, Ct).numpy()
    wrong = np.flatnonzero(labels != expected)
    assert not wrong.size, f"{wrong.size} of {len(X)} labels differ from the reference, e.g. point {wrong[:5]}"
    # The streamed Lloyd step (several chunks): its counts are the reference's cell sizes.
    counts = streaming.sufficient_statistics(Xt, Ct, budget=2**16).masses.numpy()
    assert np.array_equal(counts, np.bincount(expected, minlength=len(C)))


def test_planted_bisectors_bite():
    assert_bites_engine(test_planted_bisector_labels_equal_the_reference, without_repair, "float32", 0.0, (3000, 16, 8))
    assert_bites_engine(test_planted_bisector_labels_equal_the_reference, torch_summed_exact_rows, "float64", 0.0, (3000, 16, 8))
    assert_bites_engine(test_planted_bisector_labels_equal_the_reference, uncentred_without_repair, "float64", 1e6, (3000, 16, 8))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_far_offsets_and_relative_gaps_of_the_scale_tier(dtype):
    # Points at relative gaps 1e-6 .. 1e-12 from the bisector, 1e3 .. 1e6 times the spread
    # from the origin (the oracle's scale tier): labels exactly the reference's.
    # Catches: an uncentred expansion (the digits of the offset are lost) with no repair
    # (in the streamed step: the dense labels' exact top two distances hide it there).
    rng = np.random.default_rng(5)
    for offset in (1e3, 1e6):
        C = offset + rng.uniform(-1.0, 1.0, size=(8, 4))
        pairs = rng.integers(0, 8, size=(400, 2))
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        gaps = 10.0 ** rng.uniform(-12, -6, size=len(pairs))
        a, b = C[pairs[:, 0]], C[pairs[:, 1]]
        X = (a + b) / 2 + gaps[:, None] * (b - a)
        X, Cr = rounded(X, dtype), rounded(C, dtype)
        Xt, Ct = torch.tensor(X, dtype=DTYPES[dtype]), torch.tensor(Cr, dtype=DTYPES[dtype])
        expected = reference.assign(X, Cr)
        assert np.array_equal(krbf.assign(Xt, Ct).numpy(), expected), f"offset {offset}"
        counts = streaming.sufficient_statistics(Xt, Ct).masses.numpy()
        assert np.array_equal(counts, np.bincount(expected, minlength=len(Cr))), f"offset {offset}"


@pytest.mark.slow
@pytest.mark.parametrize("dtype, offset", [("float32", 1e3), ("float64", 1e6)])
def test_planted_bisectors_at_the_scale_tiers_sizes(dtype, offset):
    # K = 1024 centres in D = 256, far from the origin: labels exactly the reference's
    # (the reference evaluated by blocks of rows: it forms (rows, K, D) differences).
    X, C = planted_bisectors(3000, 1024, 256, offset, dtype, seed=11)
    expected = np.concatenate([reference.assign(X[i : i + 50], C) for i in range(0, len(X), 50)])
    labels = krbf.assign(torch.tensor(X, dtype=DTYPES[dtype]), torch.tensor(C, dtype=DTYPES[dtype])).numpy()
    assert np.array_equal(labels, expected), f"{np.sum(labels != expected)} labels differ"
    counts = streaming.sufficient_statistics(torch.tensor(X, dtype=DTYPES[dtype]), torch.tensor(C, dtype=DTYPES[dtype]),
                                             budget=2**22).masses.numpy()
    assert np.array_equal(counts, np.bincount(expected, minlength=len(C)))


def test_far_offsets_bite():
    assert_bites_engine(test_far_offsets_and_relative_gaps_of_the_scale_tier, uncentred_without_repair, "float64")


@pytest.mark.parametrize("dtype, offset", CASES)
def test_three_way_near_ties_labels_equal_the_reference(dtype, offset):
    # Points near the circumcentre of three centres (the others farther), from 1e-12 of
    # the radius (or 16 units in the last place of the offset) to 1e-2: the true nearest
    # may be the expansion's third, where exact top-two distances alone do not look.
    # Labels exactly the reference's, dense and streamed.
    # Catches: an uncentred expansion trusted without its error bound.
    rng = np.random.default_rng(3)
    angles = np.array([0.3, 2.4, 4.4])
    C = np.concatenate([np.stack([np.cos(angles), np.sin(angles)], axis=1), 3 + rng.uniform(-1, 1, size=(5, 2))])
    smallest = max(1e-12, 16 * float(np.spacing(np.dtype(dtype).type(offset))))
    radii = 10.0 ** rng.uniform(np.log10(smallest), -2, size=(600, 1))
    X, Cr = rounded(offset + radii * rng.standard_normal((600, 2)), dtype), rounded(offset + C, dtype)
    Xt, Ct = torch.tensor(X, dtype=DTYPES[dtype]), torch.tensor(Cr, dtype=DTYPES[dtype])
    expected = reference.assign(X, Cr)
    assert np.array_equal(krbf.assign(Xt, Ct).numpy(), expected)
    counts = streaming.sufficient_statistics(Xt, Ct).masses.numpy()
    assert np.array_equal(counts, np.bincount(expected, minlength=len(Cr)))


def test_three_way_near_ties_bite():
    assert_bites_engine(test_three_way_near_ties_labels_equal_the_reference, uncentred_without_repair, "float32", 1e3)


@given(D=st.integers(1, 300), seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1e-3, 1.0, 1e5]))
def test_exact_rows_are_the_references_distances_bit_for_bit(D, seed, scale):
    # Re-decided rows have the very numbers the reference compares (on the CPU the
    # reference computes them), so their ties and near-ties go the same way.
    # Catches: the exact rows summed by torch (another order, other last bits).
    rng = np.random.default_rng(seed)
    X, C = scale * rng.standard_normal((6, D)), scale * rng.standard_normal((5, D))
    exact = krbf._exact_squared_distances(torch.tensor(X), torch.tensor(C)).numpy()
    assert np.array_equal(exact, reference.squared_distances(X, C))


def test_exact_rows_bite():
    assert_bites_engine(test_exact_rows_are_the_references_distances_bit_for_bit, torch_summed_exact_rows)


def unblocked_exact_rows():
    # The bug: every flagged row's (rows, K, D) float64 differences at once (the deferred
    # rows of a soft step at N = 2,000,000, K = 256 took 1.2 GB).
    return patched(krbf, _exact_block_rows=lambda n_clusters, n_features: 2**62)


def test_exact_rows_take_bounded_memory_however_many_rows_are_flagged():
    # 2000 rows flagged: their differences to 32 centres in D = 16 are 8 MiB (16 with
    # their squares). In blocks of 256 KiB NumPy's peak (tracemalloc traces it) is the
    # (2000, 32) distances twice while the blocks are joined (1 MiB), the rows in float32
    # and float64 (0.4 MiB) and one block's differences and squares (0.5 MiB): below 3 MiB.
    # The distances stay the reference's bit for bit. Catches: unblocked differences.
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.standard_normal((2000, 16)), dtype=torch.float32)
    C = X[:32].clone()
    frame = streaming._frame(C, streaming.default_shift(C), None, "hard", energy=False)
    with patched(krbf, _EXACT_BLOCK_BYTES=2**18):
        tracemalloc.start()
        try:
            exact = streaming._exact_rows(X, frame, torch.ones(2000, dtype=torch.bool))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert np.array_equal(exact.d.numpy(), reference.squared_distances(X.double().numpy(), C.double().numpy()))
    assert peak < 3 * 2**20, f"the exact rows took {peak / 2**20:.1f} MiB"


def test_exact_rows_memory_bites():
    assert_bites_engine(test_exact_rows_take_bounded_memory_however_many_rows_are_flagged, unblocked_exact_rows)


def test_two_smallest_distances_and_margins_are_the_references_bit_for_bit():
    # Every row's two smallest distances are exact and the reference's own numbers (in
    # float64 with many features the summation order decides the last bits), so margins
    # are the reference's bit for bit, and T = margin / 2 is exactly the one-hot boundary.
    rng = np.random.default_rng(2)
    X, C = rng.standard_normal((500, 100)), rng.standard_normal((7, 100))
    expected = reference.squared_distances(X, C)
    d = krbf.squared_distances(torch.tensor(X), torch.tensor(C)).numpy()
    two = np.argsort(expected, axis=1, kind="stable")[:, :2]
    assert np.array_equal(np.take_along_axis(d, two, axis=1), np.take_along_axis(expected, two, axis=1))
    assert np.array_equal(krbf.margins(torch.tensor(X), torch.tensor(C)).numpy(), reference.margins(X, C))


def test_two_smallest_distances_bite():
    assert_bites_engine(test_two_smallest_distances_and_margins_are_the_references_bit_for_bit, torch_summed_pairs)


# Found by review: rows whose fourth centre's only candidate sits within rounding of the
# entmax15 threshold (p = 1.2e-32 in the reference); X = {(0,0), (+-3,0), (0,3)}. The
# threshold computed by other arithmetic than the reference's put it on the other side.
THRESHOLD_WITHIN_ROUNDING = [
    ([[-1, 0], [1.017784969547877, 0], [0, 1.0033055271057059], [0, -2.313270239200272]], 3.7560195697076777),
    ([[-1, 0], [1, 0], [0, 1.127392337464291], [0, -1.7697867137638703]], 1.771714937345657),
]


@pytest.mark.parametrize("C, temperature", THRESHOLD_WITHIN_ROUNDING)
@pytest.mark.parametrize("path", ["streamed", "dense"])
def test_support_at_a_threshold_within_rounding(C, temperature, path):
    # The reference gives the point's weight 1.2e-32 on c_3 (its only mass) and so moves
    # c_3 onto it, or gives 0 and keeps c_3; every path must do the same (a wrong decision
    # moves c_3 by about 2, the rounding of a right step is ~1e-15). (The compiled kernels
    # take the same _reference_rows; they run on full chunks only, not on four points.)
    # Catches: re-decided rows whose threshold is solved again instead of taken from the
    # reference.
    X, C = np.array([[0.0, 0.0], [-3.0, 0.0], [3.0, 0.0], [0.0, 3.0]]), np.array(C, dtype=float)
    expected = reference.soft_step(X, C, temperature, "entmax15")
    Ct = torch.tensor(C, requires_grad=path == "dense")  # a differentiable step is dense
    got = krbf.soft_step(torch.tensor(X), Ct, temperature, "entmax15").detach().numpy()
    assert np.allclose(got, expected, rtol=0, atol=1e-12)


def test_support_at_a_threshold_within_rounding_bites():
    # The bug: the re-decided rows keep the threshold this module's arithmetic solved
    # (the eager kernel: _reference_rows skipped; the fused one: the re-decided rows not
    # set apart for the reference, their threshold solved by the kernel, unchecked).
    def without_reference_rows():
        return patched(streaming, _reference_rows=lambda tau, t, exact, temperature: None)

    def re_decided_rows_solved_by_the_kernel():
        # (and no support check: it alone would set the row apart again, since its
        # entry is within the slack of the threshold)
        return patched(streaming, _rows_apart=lambda uncertain, ws: ws.apart[: uncertain.numel()].zero_(),
                       _support_slack=lambda error, temperature, dtype: -1.0)

    with fused_kernels(False):  # _reference_rows is the eager kernels' piece
        assert_bites_engine(test_support_at_a_threshold_within_rounding, without_reference_rows,
                            *THRESHOLD_WITHIN_ROUNDING[1], "streamed")
    assert_bites_engine(test_support_at_a_threshold_within_rounding, re_decided_rows_solved_by_the_kernel,
                        *THRESHOLD_WITHIN_ROUNDING[1], "streamed")


# --- chunks and the sufficient-statistics API ----------------------------------------------


def budget_for(rows, n_clusters, n_features, dtype):
    """A budget that gives exactly ``rows`` rows per chunk."""
    budget = rows * streaming._bytes_per_row(n_clusters, n_features, dtype)
    assert streaming.chunk_rows(n_clusters, n_features, dtype, budget) == rows
    return budget


@pytest.mark.parametrize("kind", ["hard", "softmax", "entmax15"])
@pytest.mark.parametrize("n_points", [1, 6, 7, 8, 23], ids=lambda n: f"N={n}")
def test_chunk_boundaries(kind, n_points):
    # Chunks of 7 rows: N = 1, N below a chunk, one below and one above it, several chunks.
    # The statistics equal those of one chunk, the step the reference's step.
    # Catches: a chunk loop that drops (or repeats) the last partial chunk.
    rng = np.random.default_rng(n_points)
    X, C = rng.standard_normal((n_points, 3)), rng.standard_normal((4, 3))
    T = None if kind == "hard" else 0.7
    Xt, Ct = torch.tensor(X), torch.tensor(C)
    chunked = streaming.sufficient_statistics(Xt, Ct, T, kind, budget=budget_for(7, 4, 3, torch.float64))
    whole = streaming.sufficient_statistics(Xt, Ct, T, kind, budget=2**24)
    assert int(chunked.n_points) == n_points
    bounds = error_bounds(X, C, T, kind, np.float64)
    assert_within(chunked.masses.numpy(), whole.masses.numpy(), tolerance(np.float64) * n_points, "masses")
    assert_within(chunked.energy.item(), whole.energy.item(), bounds["free_energy"] * n_points, "energy")
    shift = streaming.default_shift(Ct)
    step = streaming.centres(chunked, Ct, shift).numpy()
    expected = reference.lloyd_step(X, C) if kind == "hard" else reference.soft_step(X, C, T, kind)
    assert_within(step, expected, bounds["lloyd_step" if kind == "hard" else "soft_step"], "step")


def _dropping_last_chunk(X, C, temperature, kind, shift, budget=None, energy=True):
    # The bug: range(0, N - rows + 1, rows) (only whole chunks).
    K, D = C.shape
    rows = min(streaming.chunk_rows(K, D, C.dtype, budget), X.shape[0])
    frame = streaming._frame(C, shift.to(C.dtype), temperature, kind, energy)
    acc = streaming._Accumulator(K, D, C.device)
    with streaming._workspace(rows, K, D, C.dtype, C.device) as ws:
        for start in range(0, X.shape[0] - rows + 1, rows):
            x = X[start : start + rows]
            streaming._KERNELS[kind](x, frame, ws, acc)
            acc.count += len(x)
    return acc.statistics()


def test_chunk_boundaries_bite():
    assert_bites_engine(test_chunk_boundaries, lambda: patched(streaming, _statistics=_dropping_last_chunk), "hard", 8)


@pytest.mark.parametrize("kind", ["hard", "softmax", "entmax15"])
def test_pieces_combine_to_the_whole(kind):
    # The API for distributed and out-of-core fits: statistics of shards, combined in any
    # grouping, or all-reduced (MIN of the offsets, align, SUM), are those of the whole.
    # The data put every point of the first centre's cell in the last shard and the
    # temperature is low, so softmax's offsets differ between shards.
    # Catches: softmax statistics added without aligning their offsets.
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.standard_normal((60, 2)), 8.0 + 0.1 * rng.standard_normal((20, 2))])
    C = np.array([[8.0, 8.0], [0.0, 0.0], [1.0, 1.0], [40.0, 40.0]])
    T = None if kind == "hard" else 0.05
    Xt, Ct = torch.tensor(X), torch.tensor(C)
    shift = streaming.default_shift(Ct)
    pieces = [streaming.sufficient_statistics(Xt[a:b], Ct, T, kind, shift=shift) for a, b in ((0, 25), (25, 60), (60, 80))]
    whole = streaming.sufficient_statistics(Xt, Ct, T, kind, shift=shift)
    left = streaming.combine(streaming.combine(pieces[0], pieces[1], T), pieces[2], T)
    right = streaming.combine(pieces[2], streaming.combine(pieces[1], pieces[0], T), T)
    offsets = torch.stack([p.offsets for p in pieces]).min(dim=0).values
    reduced = [streaming.aligned(p, offsets, T) for p in pieces]
    all_reduced = streaming.Statistics(*(sum(getattr(p, f) for p in reduced) for f in ("sums", "masses")), offsets,
                                       sum(p.energy for p in reduced), sum(p.n_points for p in reduced))
    expected = reference.lloyd_step(X, C) if kind == "hard" else reference.soft_step(X, C, T, kind)
    bound = error_bounds(X, C, T, kind, np.float64)["lloyd_step" if kind == "hard" else "soft_step"]
    for name, stats in (("left", left), ("right", right), ("all-reduce", all_reduced), ("whole", whole)):
        assert int(stats.n_points) == len(X), name
        assert_within(streaming.centres(stats, Ct, shift).numpy(), expected, bound, f"centres ({name})")


def test_pieces_combine_bite():
    assert_bites_engine(test_pieces_combine_to_the_whole, unaligned_combine, "softmax")


# --- softmax at underflow ------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1.0, 1e150], ids=["1", "1e150"])
def test_streamed_softmax_step_at_underflow(scale):
    # T = 1e-12: every weight of the far centre underflows; the reference moves it onto
    # its point of least regret (per-centre log-domain rescaling). Streamed in chunks of
    # 5 rows, that point is in the last chunk and the others' least regrets are larger:
    # the running minimum of the regret per centre must pick it, exactly.
    # Catches: chunk statistics added without aligning their offsets (the far centre
    # would land on a mixture of each chunk's least-regret point).
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.uniform(-1, 1, (19, 2)), [[2.5, 0.0]]]) * scale
    C = np.array([[0.0, 0.0], [40.0, 0.0]]) * scale
    T = 1e-12 * scale**2
    expected = reference.soft_step(X, C, T, "softmax")
    stats = streaming.sufficient_statistics(torch.tensor(X), torch.tensor(C), T, "softmax",
                                            budget=budget_for(5, 2, 2, torch.float64))
    actual = streaming.centres(stats, torch.tensor(C), streaming.default_shift(torch.tensor(C))).numpy()
    assert np.all(np.isfinite(actual))
    np.testing.assert_allclose(actual, expected, rtol=tolerance(np.float64), atol=0)
    np.testing.assert_array_equal(actual[1], X[-1])  # the least-regret point, exactly


def test_streamed_softmax_step_with_a_centre_faint_in_some_chunks_only():
    # The far centre's weights are all tiny in the first chunks (rescaled: offsets > 0)
    # and ordinary in the last one (a point near it): the running statistics must be
    # rescaled to the last chunk's offset 0, not lost or left at the first chunks'.
    # Catches: chunk statistics added without aligning their offsets.
    # The last chunk has a point near every centre and soft rows: no centre is faint
    # there, so it is added to statistics that earlier chunks left rescaled.
    rng = np.random.default_rng(8)
    X = np.concatenate([rng.uniform(-1, 1, (15, 2)), [[39.0, 0.5], [40.5, -0.2], [0.3, 0.1]]])
    C = np.array([[0.0, 0.0], [0.5, 0.0], [40.0, 0.0]])
    T = 0.5
    expected = reference.soft_step(X, C, T, "softmax")
    stats = streaming.sufficient_statistics(torch.tensor(X), torch.tensor(C), T, "softmax",
                                            budget=budget_for(5, 3, 2, torch.float64))
    actual = streaming.centres(stats, torch.tensor(C), streaming.default_shift(torch.tensor(C))).numpy()
    assert_within(actual, expected, error_bounds(X, C, T, "softmax", np.float64)["soft_step"], "soft_step")


@pytest.mark.parametrize("temperature", [1e-3, 1e-30, 1e-300])
def test_faint_centre_at_tied_least_regrets_on_integer_data(temperature):
    # Every point has regret exactly 1 for the far centre: its soft step is the mean of
    # all of them at every T, as in the reference. On integers the expansion about the
    # dyadic centre is exact, so the ties are exact too (at T = 1e-30 a last-bit
    # difference would separate them).
    # Catches: squared norms taken as a norm squared (a rounded square root, squared:
    # 1.25 becomes 1.2500000000000002), which breaks the ties.
    X = np.zeros((15, 2))
    X[14] = [1.0, 0.0]
    C = np.array([[0.0, 0.0], [0.0, 1.0]])
    actual = NumpyCalls(krbf, torch.float64).soft_step(X, C, temperature, "softmax")
    np.testing.assert_allclose(actual, reference.soft_step(X, C, temperature, "softmax"), rtol=tolerance(np.float64))


def test_streamed_softmax_underflow_bites():
    assert_bites_engine(test_streamed_softmax_step_at_underflow, unaligned_combine, 1.0)
    assert_bites_engine(test_streamed_softmax_step_with_a_centre_faint_in_some_chunks_only, unaligned_combine)


# --- entmax15 and sparsemax thresholds -------------------------------------------------------


def adversarial_rows(k, rng):
    """Rows where a threshold search goes wrong: ties at the top and at the support
    boundary, entries just inside and outside the boundary, huge spreads, -inf, long
    supports whose entries Newton's method adds one by one."""
    rows = [
        np.zeros(k),
        np.r_[0.0, 0.0, np.full(k - 2, -1.0)],
        np.r_[np.zeros(k // 2), np.full(k - k // 2, -2.0)],
        np.r_[0.0, np.full(k - 1, -2.0)],
        np.r_[0.0, np.full(k - 1, -2.0 + 2.0**-40)],
        np.r_[0.0, -1e6 * rng.uniform(size=k - 1)],
        np.where(rng.uniform(size=k) < 0.5, -np.inf, rng.standard_normal(k)),
        -np.geomspace(1e-6, 4.0, k),
        -np.linspace(0, 2.5, k),
        -np.sqrt(np.arange(k) / k) * 2,
        np.round(rng.standard_normal(k) * 3) / 4,
        rng.standard_normal(k) * 0.01,
    ]
    rows = np.array(rows)
    rows[6, 0] = 0.0  # at least one finite entry
    return rows


@pytest.mark.parametrize("k", [2, 3, 17, 64, 1024])
@pytest.mark.parametrize("name", ["entmax15", "sparsemax"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threshold_on_adversarial_rows(k, name, dtype):
    # Catches: Newton's iterate accepted without the exact solve on its support and the
    # check (rows whose support it has not identified keep a wrong threshold).
    rng = np.random.default_rng(k)
    Z = rounded(adversarial_rows(k, rng), dtype)
    P = getattr(krbf, name)(torch.tensor(Z, dtype=DTYPES[dtype])).double().numpy()
    expected = getattr(reference, name)(Z)
    finite = np.where(np.isfinite(Z), Z, 0.0)
    spread = np.max(finite, axis=1, keepdims=True) - np.where(np.isfinite(Z), Z, np.inf).min(axis=1, keepdims=True)
    bound = tolerance(dtype, 1 + 2 * np.minimum(spread, 4.0))  # the regrets that matter are < 2 (or 1)
    assert_within(P, expected, bound, name)
    # Supports exactly the reference's in float64. In float32 the map computes in float32,
    # so an entry within float32 rounding of the threshold can carry a mass the float64
    # reference does not: that mass is bounded by assert_within above, not excluded.
    assert np.all(P[expected == 0] == 0) or dtype == "float32", "mass outside the reference's support"
    peer = getattr(entmax, name)(torch.tensor(np.where(np.isfinite(Z), Z, -1e30)), dim=-1).numpy()
    assert_within(P, peer, bound, f"{name} vs the entmax package")


def test_threshold_bites():
    assert_bites_engine(test_threshold_on_adversarial_rows, unchecked_newton, 64, "entmax15", "float64")


def test_threshold_fallback_is_rare_on_random_rows():
    # The sort-based fallback is for the rows Newton's steps have not settled: a few in a
    # thousand on random rows (it is what makes the map fast, not what makes it right).
    Z = torch.randn(20000, 64, generator=torch.Generator().manual_seed(0)) * 3
    real = krbf._sorted_threshold
    calls = []

    def counting(v, kind):
        calls.append(v.shape[0])
        return real(v, kind)

    with patched(krbf, _sorted_threshold=counting):
        krbf.entmax15(Z)
    assert sum(calls) <= 0.01 * len(Z), f"{sum(calls)} of {len(Z)} rows took the sort"


def entmax_boundary_problem(dtype, offset, fraction):
    """A dead centre whose only candidates are points at a gap of 2T (1 + fraction): it
    stays (no mass) iff fraction >= 0. Far from the origin, in ``dtype``; a fourth centre,
    far from everything, moves the centres' mean away from the data, so the expansion's
    error (~ u |x - mean|^2) is well above the rounding of the logits."""
    X = np.array([[0.0, 0.0], [0.1, 0.0], [0.9, 0.0], [1.0, 0.0]]) + offset
    C = np.array([[0.05, 0.0], [0.95, 0.0], [0.5, 0.3], [40.0, 40.0]]) + offset
    X, C = rounded(X, dtype), rounded(C, dtype)
    d = reference.squared_distances(X, C)
    gaps = d[:, 2] - d[:, :2].min(axis=1)
    T = float(gaps.min()) / 2 / (1 + fraction)
    return X, C, T


BOUNDARY_CASES = [  # gaps of 2T (1 + fraction): decidable in the dtype once the regret is exact
    (dtype, offset, sign * fraction)
    for dtype, offset, fraction in (("float32", 0.0, 1e-7), ("float32", 100.0, 1e-6), ("float64", 1e4, 1e-14))
    for sign in (1, -1)
] + [("float32", 100.0, 1e-3), ("float64", 1e4, -1e-3)]


@pytest.mark.parametrize("dtype, offset, fraction", BOUNDARY_CASES)
def test_streamed_entmax_support_at_the_one_hot_boundary(dtype, offset, fraction):
    # The dead centre stays exactly where the reference keeps it, and moves onto the
    # boundary points where the reference moves it: the support decision is certified.
    # Catches: supports taken from the expansion's logits without re-deciding the rows
    # near the threshold (the dead centre gets a mass of ~1e-10 and jumps onto a point).
    X, C, T = entmax_boundary_problem(dtype, offset, fraction)
    expected = reference.soft_step(X, C, T, "entmax15")
    actual = NumpyCalls(krbf, DTYPES[dtype]).soft_step(X, C, T, "entmax15")
    if np.array_equal(expected[2], C[2]):
        assert np.array_equal(actual[2], C[2]), f"the dead centre moved to {actual[2]} (T = {T!r})"
    else:
        assert not np.array_equal(actual[2], C[2]), f"the centre stayed where the reference moves it (T = {T!r})"


def test_streamed_entmax_support_bites():
    assert_bites_engine(test_streamed_entmax_support_at_the_one_hot_boundary, uncertified_supports, "float32", 100.0, 1e-6)


# --- grad, bad input, memory, compile ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["hard", "softmax", "entmax15"])
def test_steps_are_differentiable_when_inputs_require_grad(kind):
    # Promise: with inputs that require grad (and grad mode on) a step is differentiable
    # (the dense path: its gradient agrees with finite differences; Lloyd's step is
    # piecewise constant in C); otherwise it streams. The values agree.
    # Catches: the streamed step (no autograd graph through r) used whatever the inputs.
    rng = np.random.default_rng(4)
    X, C = torch.tensor(rng.standard_normal((30, 2))), torch.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    T = None if kind == "hard" else 0.5
    step = krbf.lloyd_step if kind == "hard" else (lambda X, C: krbf.soft_step(X, C, T, kind))
    differentiable = step(X, C)
    assert differentiable.requires_grad
    differentiable.sum().backward()
    assert C.grad is not None and torch.isfinite(C.grad).all()
    if kind != "hard":
        assert torch.autograd.gradcheck(lambda C: step(X, C), (C,), raise_exception=False)
    with torch.no_grad():
        streamed = step(X, C)
    assert not streamed.requires_grad
    bound = error_bounds(X.numpy(), C.detach().numpy(), T, kind, np.float64)["lloyd_step" if kind == "hard" else "soft_step"]
    assert_within(differentiable.detach().numpy(), streamed.numpy(), 2 * bound, "dense vs streamed step")


def test_differentiable_steps_bite():
    assert_bites_engine(test_steps_are_differentiable_when_inputs_require_grad,
                 lambda: patched(krbf, _requires_grad=lambda *tensors: False), "softmax")


@pytest.mark.parametrize("bad, error, match", [(np.nan, ValueError, "X contains NaN"), (np.inf, ValueError, "X contains inf"),
                                               (1e200, OverflowError, "overflow")])
@pytest.mark.parametrize("kind", ["hard", "softmax", "entmax15"])
def test_bad_entry_in_a_later_chunk(bad, error, match, kind):
    # X's finiteness is checked from the norms each chunk computes, not by a separate
    # pass: a bad entry in the last chunk still gets the documented error.
    # Catches: a check on the first chunk only (or none).
    X = torch.tensor(np.random.default_rng(0).standard_normal((40, 3)))
    X[37, 1] = bad
    C = X[:3].clone()
    with pytest.raises(error, match=match):
        streaming.sufficient_statistics(X, C, None if kind == "hard" else 1.0, kind, budget=budget_for(8, 3, 3, torch.float64))


def profiled_peak(function):
    """Peak of the bytes allocated and not yet freed while ``function`` runs (torch profiler)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        function()
    changes = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage)
    live = peak = 0
    for _, change in changes:
        live += change
        peak = max(peak, live)
    return peak


def workspace_bytes():
    """Bytes of the buffers in the cached workspace of the calling thread's steps."""
    workspace = streaming._cache.get(0)
    if workspace is None:  # a step that did not stream
        return 0
    tensors = [value for value in vars(workspace).values() if isinstance(value, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors)


@pytest.mark.parametrize("kind", ["hard", "softmax", "entmax15"])
def test_a_step_allocates_its_chunk_buffers_not_an_n_by_k_matrix(kind):
    # 40,000 points, 64 centres: the (N, K) matrix is 10 MiB; with a 1 MiB budget a step
    # allocates its chunk buffers (at most the budget: chunk_rows) and, beyond them, only
    # vectors of a chunk's 740 rows and the (K, D) statistics (8 KiB each): 128 KiB allows
    # a few dozen of those, and is less than one more (chunk, K) matrix (185 KiB).
    # The profiler sees the calling thread only, so the chunks run there (no workers);
    # that it sees the step at all is checked by the peak covering the buffers the step
    # left in its cached workspace (allocated on first use: the eager kernels' (chunk, K)
    # matrices, or the fused kernels' fewer ones).
    # Catches: a step that forms the (N, K) matrix (e.g. the dense path always).
    X = torch.randn(40000, 16, generator=torch.Generator().manual_seed(0))
    C = X[:64].clone()
    budget = 2**20
    previous, workers = streaming.DEFAULT_BUDGET, krbf._WORKERS["enabled"]
    streaming.DEFAULT_BUDGET, krbf._WORKERS["enabled"] = budget, False
    try:
        streaming.release_workspace()
        step = (lambda: krbf.lloyd_step(X, C)) if kind == "hard" else (lambda: krbf.soft_step(X, C, 0.5, kind))
        peak = profiled_peak(step)
        buffers = workspace_bytes()
    finally:
        streaming.DEFAULT_BUDGET, krbf._WORKERS["enabled"] = previous, workers
    matrix = X.shape[0] * C.shape[0] * 4
    assert peak <= budget + 2**17, f"a step allocated {peak / 2**20:.2f} MiB (the (N, K) matrix is {matrix / 2**20:.0f} MiB)"
    assert 0 < buffers <= peak, f"the profiler saw {peak} bytes, the workspace holds {buffers} (another thread?)"


def test_memory_bites():
    assert_bites_engine(test_a_step_allocates_its_chunk_buffers_not_an_n_by_k_matrix, dense_steps, "softmax")


@pytest.mark.slow
# Raised by torch's own modules as torch.compile imports them (torch 2.13); not ours.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_steps_equal_the_eager_ones(dtype):
    # torch.compile of the chunk kernels (first call ~5-40 s): the same steps, and a new
    # temperature or new centres do not recompile. Catches: a compiled kernel that
    # differs from the eager one (e.g. drops the exact rows), or recompiles every step.
    import torch._dynamo

    rng = np.random.default_rng(6)
    X = torch.tensor(rng.standard_normal((3000, 8)), dtype=DTYPES[dtype])
    C = X[:16].clone()
    budget = budget_for(1024, 16, 8, DTYPES[dtype])
    previous = streaming.use_compile(True)
    try:
        for kind, T in (("hard", None), ("softmax", 0.3), ("entmax15", 0.3)):
            compiled = streaming.step(X, C, T, kind, budget)
            frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
            streaming.step(X, C + 0.01, None if T is None else 0.2, kind, budget)
            assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == frames, f"{kind} recompiled"
            streaming.use_compile(False)
            eager = streaming.step(X, C, T, kind, budget)
            streaming.use_compile(True)
            bound = error_bounds(X.double().numpy(), C.double().numpy(), T, kind, DTYPES[dtype])
            assert_within(compiled.double().numpy(), eager.double().numpy(),
                          2 * bound["lloyd_step" if kind == "hard" else "soft_step"], f"{kind} compiled vs eager")
    finally:
        streaming.use_compile(previous)


@pytest.mark.parametrize("kind", ["hard", "softmax", "entmax15"])
def test_worker_threads_give_the_same_step(kind):
    # With two intra-op threads a large step runs its chunks on two worker threads (torch
    # ops single-threaded meanwhile): the same step as inline, the same every time, the
    # thread setting restored, and a bad chunk's error raised in the caller.
    # Catches: a worker that skips or repeats chunks (parts taking blocks i::workers
    # wrongly), or a thread count left at 1.
    rng = np.random.default_rng(7)
    X, C = torch.tensor(rng.standard_normal((5000, 3))), torch.tensor(rng.standard_normal((4, 3)))
    T = None if kind == "hard" else 0.4
    # 2 workers x at most 300 rows: 9 chunks each (of 278 rows: as many for each worker)
    budget = budget_for(300, 4, 3, torch.float64) * 2
    inline = streaming.step(X, C, T, kind, budget)
    bound = error_bounds(X.numpy(), C.numpy(), T, kind, np.float64)["lloyd_step" if kind == "hard" else "soft_step"]
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert krbf._workers(X.device, 17) == 2
        first, again = streaming.step(X, C, T, kind, budget), streaming.step(X, C, T, kind, budget)
        assert torch.get_num_threads() == 2
        assert torch.equal(first, again)
        assert_within(first.numpy(), inline.numpy(), 2 * bound, "workers vs inline")
        X[4321, 0] = float("nan")
        with pytest.raises(ValueError, match="X contains NaN"):
            streaming.step(X, C, T, kind, budget)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_worker_threads_bite():
    # The bug: every worker takes the first worker's chunks (the others' are skipped).
    def repeated_part():
        return patched(krbf, _in_workers=lambda work, workers: [work(0) for _ in range(max(workers, 1))])

    assert_bites_engine(test_worker_threads_give_the_same_step, repeated_part, "softmax")
