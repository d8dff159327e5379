"""kmeans_rbf.out_of_core: fits over a memory-mapped .npy file and over chunks.

Each fit equals ``kmeans_rbf.torch`` on the data in memory (float64 centres within
1e-12 relative, hard labels identical); the data are read in pieces whose count does not
divide N (a partial last piece), and chunks come in uneven sizes, with an empty one. The
progress bar's output is captured and read. (The same fit over one file per rank of a
process group is in tests/test_distributed.py.)

Every test says in a comment starting ``Catches:`` which broken variant makes it fail;
the ``*_bites`` tests run it on that variant.
"""

import io
import itertools

import numpy as np
import pytest
import torch
from tqdm import tqdm

from distributed_workers import relative_error
from kmeans_rbf import distributed, out_of_core, streaming
from kmeans_rbf import torch as krbf
from support import assert_bites_engine, patched

RTOL = 1e-12
K, D = 5, 3
ROWS = 16  # streaming's rows per chunk with BUDGET; a memory map is read 2 x threads chunks at a time
BUDGET = ROWS * streaming._bytes_per_row(K, D, torch.float64)
N = 1001  # not a multiple of any piece size used here: the last piece is partial


def data(n_points=N, seed=0):
    rng = np.random.default_rng(seed)
    means = 4.0 * rng.standard_normal((K, D))
    X = means[rng.integers(0, K, size=n_points)] + rng.standard_normal((n_points, D))
    return X, torch.tensor(X[:K] + 0.1)


def assert_in_memory_result(actual, expected, X=None, name="centres"):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    error = relative_error(actual, expected)
    assert error <= RTOL, f"{name}: relative error {error:.3g} against the in-memory fit (allowed {RTOL})"
    if X is not None:
        assert torch.equal(krbf.assign(X, actual), krbf.assign(X, expected)), f"{name}: labels differ"


# --- a memory-mapped .npy file -------------------------------------------------------------------


def check_memory_map(tmp_path, kind):
    X, C0 = data()
    path = tmp_path / "X.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    Xt = torch.tensor(X)
    if kind == "hard":
        expected = krbf.kmeans(Xt, C0, 6)
        assert_in_memory_result(out_of_core.kmeans(mapped, C0, 6, progress=False, budget=BUDGET), expected, Xt)
        assert_in_memory_result(out_of_core.kmeans(str(path), C0, 6, progress=False, budget=BUDGET), expected, Xt)
        assert_in_memory_result(out_of_core.lloyd_step(mapped, C0, progress=False, budget=BUDGET),
                                krbf.lloyd_step(Xt, C0), Xt)
    else:
        temperatures = [4.0, 1.0, 0.1]
        expected = krbf.anneal(Xt, C0, temperatures, kind, 2)
        actual = out_of_core.anneal(mapped, C0, temperatures, kind, 2, progress=False, budget=BUDGET)
        assert_in_memory_result(actual, expected, name="trajectory")
        assert_in_memory_result(out_of_core.soft_step(path, C0, 0.5, kind, progress=False, budget=BUDGET),
                                krbf.soft_step(Xt, C0, 0.5, kind))


@pytest.mark.parametrize("kind", ["hard", "softmax", "entmax15"])
def test_fit_over_a_memory_mapped_file_equals_the_in_memory_fit(tmp_path, kind):
    # N = 1001 rows read in pieces of 32 (one thread) or 64: the last piece is partial.
    # Catches: a read loop that drops the last, partial piece (range(0, N - rows + 1, rows)).
    check_memory_map(tmp_path, kind)


def _whole_pieces_only(data, C, budget, centres_name):
    # The bug: only whole pieces are read.
    passes, n_rows = _real_array_source(data, C, budget, centres_name)
    rows = 2 * torch.get_num_threads() * streaming.chunk_rows(*C.shape, C.dtype, budget)
    return (lambda: itertools.islice(passes(), n_rows // rows)), n_rows


_real_array_source = out_of_core._array_source


def test_memory_map_bites(tmp_path):
    assert_bites_engine(check_memory_map, lambda: patched(out_of_core, _array_source=_whole_pieces_only), tmp_path, "hard")


# --- chunks ------------------------------------------------------------------------------------------


def uneven_chunks(X):
    """Chunks of 1, 0, 37, 500 and the rest of the rows, as NumPy arrays and tensors."""
    bounds = [0, 1, 1, 38, 538, len(X)]
    return [X[a:b] if i % 2 else torch.tensor(X[a:b]) for i, (a, b) in enumerate(itertools.pairwise(bounds))]


def check_chunks(kind):
    X, C0 = data(seed=1)
    Xt = torch.tensor(X)
    chunks = uneven_chunks(X)
    reopened = lambda: iter(uneven_chunks(X))  # noqa: E731 - a fresh iterator per pass, like re-reading a file
    if kind == "hard":
        expected = krbf.kmeans(Xt, C0, 6)
        for source in (chunks, reopened):
            assert_in_memory_result(out_of_core.kmeans(source, C0, 6, progress=False, budget=BUDGET), expected, Xt)
        # One step reads the data once: a one-shot iterator will do.
        assert_in_memory_result(out_of_core.lloyd_step(iter(chunks), C0, progress=False), krbf.lloyd_step(Xt, C0), Xt)
    else:
        expected = krbf.anneal(Xt, C0, [4.0, 0.5], kind, 3)
        for source in (chunks, reopened):
            actual = out_of_core.anneal(source, C0, [4.0, 0.5], kind, 3, progress=False, budget=BUDGET)
            assert_in_memory_result(actual, expected, name="trajectory")


@pytest.mark.parametrize("kind", ["hard", "softmax", "entmax15"])
def test_fit_over_chunks_equals_the_in_memory_fit(kind):
    # A list of chunks, and a callable that returns a fresh iterator of them per pass.
    # Catches: an empty chunk taken for the end of the data (the chunks after it are lost).
    check_chunks(kind)


def _stops_at_an_empty_chunk(iterable, n_features, centres_name):
    return itertools.takewhile(lambda item: item[0].shape[0] > 0, _real_chunks(iterable, n_features, centres_name))


_real_chunks = out_of_core._chunks


def test_chunks_bite():
    assert_bites_engine(check_chunks, lambda: patched(out_of_core, _chunks=_stops_at_an_empty_chunk), "hard")


# --- the progress bar ----------------------------------------------------------------------------------


def final_line(text):
    """The bar as last drawn (tqdm redraws it after a carriage return)."""
    return text.replace("\n", "\r").rstrip("\r").split("\r")[-1]


def check_progress(tmp_path, capsys):
    X, C0 = data(seed=2)
    path = tmp_path / "X.npy"
    np.save(path, X)
    buffer, bars = io.StringIO(), []

    def factory(**options):  # tqdm writing to a buffer, kept for its counts
        bars.append(tqdm(file=buffer, mininterval=0, **options))
        return bars[-1]

    out_of_core.kmeans(path, C0, 4, progress=factory, budget=BUDGET)
    assert bars[0].n == bars[0].total == 4 * N  # every point of every pass, counted
    line = final_line(buffer.getvalue())
    assert "kmeans: 100%" in line and "4.00k/4.00k" in line, line
    J = float(krbf.objective(torch.tensor(X), krbf.kmeans(torch.tensor(X), C0, 3)))
    assert "step=4/4" in line and f"F={J:.6g}" in line, line  # F: J of the centres before the last step
    # Chunks of unknown number: the total is known after the first pass.
    chunks = uneven_chunks(X)
    out_of_core.anneal(chunks, C0, [1.0, 0.5], "softmax", progress=True, budget=BUDGET)
    line = final_line(capsys.readouterr().err)
    assert "anneal: 100%" in line and "step=2/2" in line and "T=0.5" in line, line
    out_of_core.kmeans(chunks, C0, 2, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_bar_output(tmp_path, capsys):
    # Catches: a bar that counts pieces instead of rows (it would never reach N per pass),
    # a total that stays unknown for chunks, or a bar printed with progress=False.
    check_progress(tmp_path, capsys)


def test_progress_bites(tmp_path, capsys):
    def pieces_not_rows():
        real = distributed._Bar.update
        return patched(distributed._Bar, update=lambda self, rows: real(self, 1))

    assert_bites_engine(check_progress, pieces_not_rows, tmp_path, capsys)


# --- bad input ------------------------------------------------------------------------------------------


def _bad_cases(tmp_path):
    X, C0 = data(n_points=40)
    npz = tmp_path / "X.npz"
    np.savez(npz, X=X)
    nan = X.copy()
    nan[-1, 1] = np.nan
    return [
        (lambda: out_of_core.kmeans(iter([X]), C0, 2), TypeError, "data is an iterator, which can be read once"),
        (lambda: out_of_core.kmeans(3, C0, 2), TypeError, "data must be a NumPy array, a torch tensor, a path"),
        (lambda: out_of_core.kmeans(tmp_path / "missing.npy", C0, 2), ValueError, "data: cannot memory-map"),
        (lambda: out_of_core.kmeans(npz, C0, 2), ValueError, "is an .npz archive"),
        (lambda: out_of_core.kmeans(X[:, :2], C0, 2), ValueError, "data has 2 features; C0 has 3"),
        (lambda: out_of_core.kmeans(X[0], C0, 2), ValueError, r"data must be 2-D \(n_points, n_features\)"),
        (lambda: out_of_core.kmeans(X.astype(np.float32), C0, 2), TypeError, "data and C0 must have the same dtype"),
        (lambda: out_of_core.kmeans(X.astype(np.int64), C0, 2), TypeError, "data and C0 must have the same dtype"),
        (lambda: out_of_core.kmeans([X, X[:, :2]], C0, 2), ValueError, "data chunk 1 has 2 features; C0 has 3"),
        (lambda: out_of_core.kmeans([X, [[1.0, 2.0, 3.0]]], C0, 2), TypeError, "data chunk 1 must be a NumPy array"),
        (lambda: out_of_core.kmeans([X, X.astype(np.float32)], C0, 2), TypeError, "data chunk 1 and the centres must have the same dtype"),
        (lambda: out_of_core.kmeans([X, nan], C0, 2, budget=BUDGET), ValueError, "data chunk 1: X contains NaN"),
        (lambda: out_of_core.kmeans(nan, C0, 2, budget=BUDGET), ValueError, "data rows 32:40: X contains NaN"),
        (lambda: out_of_core.kmeans([X[:0]], C0, 2), ValueError, "data is empty"),
        (lambda: out_of_core.kmeans(X, C0, 2.5), TypeError, "n_iter must be an integer"),
        (lambda: out_of_core.anneal(X, C0, [], "softmax"), ValueError, "temperatures must be a non-empty"),
        (lambda: out_of_core.soft_step(X, C0, -1.0), ValueError, "temperature must be a finite number > 0"),
        (lambda: out_of_core.kmeans(X, C0, 2, progress="yes"), TypeError, "progress must be None, a bool"),
    ]


def test_bad_input_raises_naming_the_argument(tmp_path):
    # Catches: a check left out (each message names the argument, or the chunk and rows).
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # "rows 32:40": pieces of 2 x 16 rows
    try:
        for call, error, match in _bad_cases(tmp_path):
            with pytest.raises(error, match=match):
                call()
    finally:
        torch.set_num_threads(torch_threads)
