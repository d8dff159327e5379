"""Claims lloyd-descent and soft-step-descent: one step lowers J (resp. F_T), by a known amount.

Claims (theory/gradients.md; proofs in proofs/proof_gradients.py): with C' the step and n_k
the cell sizes (Lloyd) or the masses sum_i r_ik (soft step, either map),

    J(C) - J(C') >= (1/N) sum_k |S_k| |c_k - c'_k|^2,    F_T(C) - F_T(C') >= (1/N) sum_k n_k |c_k - c'_k|^2.

Both hold with empty cells (their centres are kept), which ``problems_with_empty_cells``
makes common. The objective L_T does not descend: claim objective-descent,
``test_objective_descent.py``.

Tolerances: the float64 bounds of the values and of the steps
(``kmeans_rbf.tolerances.error_bounds``), carried through the inequality by
``_descent_slack``.
"""

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf import reference
from kmeans_rbf.kinds import SOFT_KINDS
from kmeans_rbf.strategies import cluster_counts, problems
from kmeans_rbf.tolerances import error_bounds, tolerance
from support import assert_bites


@st.composite
def problems_with_empty_cells(draw):
    """``problems()`` whose centres often include one beyond the data: an empty cell.

    The extra centre sits outside the bounding box of X by 1 to 10 box widths, so no point
    is nearer to it than to the centres inside the box in most draws.
    """
    X, C, T = draw(problems(n_clusters=cluster_counts()))
    if draw(st.booleans()):
        low, high = X.min(axis=0), X.max(axis=0)
        width = np.max(high - low) + 1.0
        direction = draw(st.sampled_from([-1.0, 1.0]))
        offset = draw(st.floats(1.0, 10.0)) * width
        far = (high if direction > 0 else low) + direction * offset
        C = np.vstack([C, far])
    return X, C, T


def _descent_slack(X, C, new, mass, step_bound_times_mass):
    """Rounding allowance for ``decrease >= (1/N) sum_k n_k |c_k - c'_k|^2``.

    For exact centres m_k the identity of the proof gives the inequality with no slack. The
    computed c'_k = m_k + e_k changes the right-hand side by at most
    (2/N) sum_k n_k |c_k - c'_k| |e_k|, and |e_k| <= sqrt(D) * (the per-coordinate step
    bound of error_bounds), so n_k |e_k| <= sqrt(D) * step_bound_times_mass_k.
    """
    moved = np.linalg.norm(C - new, axis=1)
    return 2.0 / len(X) * np.sum(moved * np.sqrt(X.shape[1]) * step_bound_times_mass)


# --- lloyd-descent -------------------------------------------------------------------------


@pytest.mark.claim("lloyd-descent")
@given(problem=problems_with_empty_cells())
def test_lloyd_step_decreases_J(implementation, problem):
    X, C, _ = problem
    new = np.asarray(implementation.lloyd_step(X, C))
    before, after = implementation.objective(X, C), implementation.objective(X, new)
    sizes = reference.responsibilities(X, C).sum(axis=0)
    bounds_before = error_bounds(X, C, None, "hard", np.float64)
    bounds_after = error_bounds(X, new, None, "hard", np.float64)
    moved = np.sum(sizes * np.sum((C - new) ** 2, axis=1)) / len(X)
    # J at either point: the objective bound; the centres: the Lloyd-step bound (empty
    # cells are kept exactly, so size * bound = 0 there).
    slack = bounds_before["objective"] + bounds_after["objective"]
    slack += _descent_slack(X, C, new, sizes, sizes * bounds_before["lloyd_step"][:, 0])
    note(f"J {before!r} -> {after!r}, guaranteed decrease {moved!r}, slack {slack:.3g}")
    assert before - after >= moved - slack


@pytest.mark.claim("lloyd-descent")
def test_lloyd_descent_property_bites():
    assert_bites(test_lloyd_step_decreases_J, variants.CELL_SUMS_OVER_N)


# --- soft-step-descent ---------------------------------------------------------------------


@pytest.mark.claim("soft-step-descent")
@given(problem=problems_with_empty_cells(), kind=st.sampled_from(SOFT_KINDS))
def test_soft_step_decreases_free_energy(implementation, problem, kind):
    X, C, T = problem
    new = np.asarray(implementation.soft_step(X, C, T, kind))
    before, after = implementation.free_energy(X, C, T, kind), implementation.free_energy(X, new, T, kind)
    mass = reference.responsibilities(X, C, T, kind).sum(axis=0)
    bounds_before = error_bounds(X, C, T, kind, np.float64)
    bounds_after = error_bounds(X, new, T, kind, np.float64)
    moved = np.sum(mass * np.sum((C - new) ** 2, axis=1)) / len(X)
    # n_k times the soft-step bound tolerance(kappa N / n_k) * spread is
    # tolerance(kappa N) * spread (linear in the condition in float64): finite even
    # where n_k underflows to 0 (then the centre's move is ill-conditioned, but its
    # weight in the inequality is n_k).
    spread = max(np.max(np.abs(X)), np.max(np.abs(C)))
    per_centre = np.full(len(C), tolerance(np.float64, bounds_before["kappa"] * len(X)) * spread)
    slack = bounds_before["free_energy"] + bounds_after["free_energy"]
    slack += _descent_slack(X, C, new, mass, per_centre)
    note(f"F_T {before!r} -> {after!r}, guaranteed decrease {moved!r}, slack {slack:.3g}")
    assert before - after >= moved - slack


@pytest.mark.claim("soft-step-descent")
def test_soft_descent_property_bites():
    # The soft step normalised over the points of each centre, not the centres of each point.
    assert_bites(test_soft_step_decreases_free_energy, variants.SOFTMAX_OVER_POINTS)
