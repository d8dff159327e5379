"""Claims trajectories-entmax, trajectories-softmax, gradient-trajectories and
grid-ties-common: soft steps retrace Lloyd's trajectory when no point is tied along it, and
on quantised data ties are common. Statements, proofs and status: theory/trajectories.md
(ids in its headings; MATH.md claims 6 and 8).

* trajectories-entmax: with margins >= m along Lloyd's trajectory, entmax-1.5 soft steps at
  T <= m/2 retrace it bit for bit.
* trajectories-softmax: softmax soft steps stay within a computable bound that is
  O(e^{-m/T}) and does not grow with the number of steps (Lloyd's map is locally constant).
* gradient-trajectories: gradient descent with step N/(2 n_k) on F_T (= the soft step) and
  on L_T (the soft step plus the term through r) inherits both statements.
* grid-ties-common: on integer data an exact tie on Lloyd's trajectory is common, and it is
  the only way an entmax trajectory below the margin leaves Lloyd's.

m is computed from each implementation's own distances (``margins``, the same subtraction
as the regret inside the maps). The rounding of each step is the float64 entry of
kmeans_rbf.tolerances.error_bounds for that step; bounds that come from the mathematics are
derived where they are computed (``trajectory_bounds``).
"""

import numpy as np
import pytest
from hypothesis import assume, example, given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf import reference
from kmeans_rbf.assertions import assert_within
from kmeans_rbf.strategies import centres, cluster_counts, datasets, problems_with_full_cells
from kmeans_rbf.tolerances import error_bounds, unit_roundoff
from support import assert_bites


@st.composite
def trajectory_problems(draw, *, data=datasets(), n_clusters=cluster_counts(min_value=2, max_value=16), horizon=st.integers(1, 5)):
    """``(X, C0, n)``: data, initial centres and a number of steps.

    At least two centres by default: with one, every trajectory claim is trivially true.
    More than five centres come with every cell occupied at C0 (``problems_with_full_cells``):
    the softmax claims need full cells, which random centres rarely give."""
    K = draw(n_clusters) if isinstance(n_clusters, st.SearchStrategy) else n_clusters
    if K > 5:
        X, C0, _ = draw(problems_with_full_cells(n_clusters=K))
        return X, C0, draw(horizon)
    X = draw(data)
    return X, draw(centres(X, n_clusters=K)), draw(horizon)


def iterate(step, X, C0, n):
    """The states ``C0, step(X, C0), ...`` of n steps."""
    trajectory = [np.asarray(C0, dtype=np.float64)]
    for _ in range(n):
        trajectory.append(np.asarray(step(X, trajectory[-1])))
        # A NaN or inf state is a failure of the property, not an error of the test.
        assert np.all(np.isfinite(trajectory[-1])), f"non-finite state {trajectory[-1].ravel()}"
    return trajectory


def smallest_margin(implementation, X, trajectory):
    """m = the smallest margin over the states the steps start from (all but the last)."""
    return min(float(np.min(implementation.margins(X, C))) for C in trajectory[:-1])


# --- trajectories-entmax -----------------------------------------------------------------

# X = {0, 1, 3}, C0 = (0, 3): margins 9, 3, 9, so m = 3 and T = m/2 = 1.5 is the edge case.
EDGE = (np.array([[0.0], [1.0], [3.0]]), np.array([[0.0], [3.0]]), 2)


@pytest.mark.claim("trajectories-entmax")
@given(problem=trajectory_problems(), fraction=st.sampled_from([1.0, 0.5, 1e-3]))
@example(problem=EDGE, fraction=1.0)
def test_entmax_trajectory_is_lloyds_bit_for_bit(implementation, problem, fraction):
    X, C0, n = problem
    lloyd = iterate(implementation.lloyd_step, X, C0, n)
    m = smallest_margin(implementation, X, lloyd)
    assume(m > 0)  # a tie on Lloyd's trajectory: the claim does not apply (see the tie claims)
    temperature = fraction * m / 2 if np.isfinite(m) else 1.0
    soft = iterate(lambda X, C: implementation.soft_step(X, C, temperature, "entmax15"), X, C0, n)
    note(f"m = {m}, T = {temperature}")
    for t, (a, b) in enumerate(zip(soft, lloyd)):
        assert np.array_equal(a, b), f"step {t}: entmax {a.ravel()} != Lloyd {b.ravel()}"


@pytest.mark.claim("trajectories-entmax")
def test_entmax_trajectory_property_bites():
    # The maps see 2T: entmax is then exact only for T <= m/4.
    assert_bites(test_entmax_trajectory_is_lloyds_bit_for_bit, variants.TEMPERATURE_DOUBLED)


@pytest.mark.claim("trajectories-entmax")
def test_entmax_trajectory_with_thirteen_centres_at_the_margin(implementation):
    # K = 13, X = {0}: d = (0, 1, 100, 121, ...), margin m = 1, T = m/2: entmax's row is
    # exactly one-hot in exact arithmetic (gap 2T), so the soft step is Lloyd's step, which
    # keeps the empty centre c_1 = 1 in place. Before the fix, the package's entmax15 gave
    # c_1 a weight of 4.9e-32 for K >= 13 (a threshold rounded below -1), so the soft step
    # moved c_1 onto the point. Found by this claim; a regression test since the fix of
    # entmax15's support (leading run of tau_k < u_(k), entries at -1 excluded).
    X = np.array([[0.0]])
    C = np.array([[0.0], [1.0]] + [[10.0 + j] for j in range(11)])
    soft = np.asarray(implementation.soft_step(X, C, 0.5, "entmax15"))
    lloyd = np.asarray(implementation.lloyd_step(X, C))
    assert np.array_equal(soft, lloyd), f"c_1: soft {soft[1, 0]}, Lloyd {lloyd[1, 0]}"


# --- trajectories-softmax ----------------------------------------------------------------


def cells_are_full(X, trajectory):
    K = trajectory[0].shape[0]
    return all(len(np.unique(reference.assign(X, C))) == K for C in trajectory[:-1])


def _phi(g, temperature):
    """An upper bound of (rho/T) e^{-rho/T} over rho >= g: x e^{-x} decreases for x >= 1, max 1/e."""
    x = g / temperature
    finite = np.where(np.isfinite(x) & (x >= 1), x, 1.0)  # no inf * 0 where g = inf (own cell)
    return np.where(x >= 1, np.where(np.isfinite(x), finite * np.exp(-finite), 0.0), np.exp(-1.0))


def trajectory_bounds(X, lloyd, soft, temperature, *, through_r=False, gradient_rounding=False):
    """Per-step, per-centre bounds b_t on ||soft_t,k - lloyd_t,k|| (softmax), theory/trajectories.md.

    Returns the bounds for t = 0..t_max, where t_max is the last step at which the hypotheses
    of the recursion hold (every regret stays positive at the soft state, every Lloyd cell is
    non-empty, the cells keep mass). With e = max_k b_t,k and R_i = max_l ||x_i - c_l||, each
    regret of point i at the soft state is at least its regret at Lloyd's state minus
    2 e (2 R_i + e) (a squared distance moves by at most e (2 R_i + e)). Then the partition
    is Lloyd's, Phi(soft_t) = lloyd_{t+1}, and with E_il = exp(-g_il / T) for the lowered
    regrets g_il (l not the cell j of i), out_i = sum_l E_il:

        ||Psi(soft_t)_k - lloyd_{t+1,k}|| <= (sum_{i in S_k} out_i |x_i - mu_k| + sum_{i not in S_k} E_ik |x_i - mu_k|)
                                             / (n_k - sum_{i in S_k} out_i).

    ``through_r`` adds the term of the gradient step on L_T, (1/n_soft) sum_i |delta_ik| |c_k - x_i|,
    with |delta_ik| <= sum_l phi(g_il) (i in S_k) and max(phi(g_ik), E_ik sum_l phi(g_il)) (i not in S_k).
    The rounding of each step is added from the tolerance table: the soft step at the soft
    state and the Lloyd step at Lloyd's state (and, for gradient steps, N/(2 n_k) times the
    gradient's bound); it does not accumulate, because Lloyd's map is locally constant.
    """
    N, K = X.shape[0], lloyd[0].shape[0]
    rows = np.arange(N)
    bounds = [np.zeros(K)]
    for t in range(len(lloyd) - 1):
        C, following, S = lloyd[t], lloyd[t + 1], soft[t]
        d = reference.squared_distances(X, C)
        labels = np.argmin(d, axis=1)
        if len(np.unique(labels)) < K:
            break
        e = float(bounds[-1].max())
        reach = np.sqrt(d.max(axis=1))
        g = d - d[rows, labels][:, None] - (2 * e * (2 * reach + e))[:, None]
        g[rows, labels] = np.inf
        if K > 1 and not np.all(g > 0):
            break
        E = np.exp(-g / temperature)
        out = E.sum(axis=1)
        phi = _phi(g, temperature)
        phi[rows, labels] = 0.0
        phi_out = phi.sum(axis=1)
        step = np.zeros(K)
        for k in range(K):
            inside = labels == k
            mass = inside.sum() - out[inside].sum()
            if mass <= 0:
                return bounds
            to_mean = np.linalg.norm(X - following[k], axis=1)
            step[k] = ((out * to_mean)[inside].sum() + (E[:, k] * to_mean)[~inside].sum()) / mass
            if through_r:
                delta = np.where(inside, phi_out, np.maximum(phi[:, k], E[:, k] * phi_out))
                to_centre = np.linalg.norm(X - C[k], axis=1) + e
                step[k] += (delta * to_centre).sum() / mass
        rounding_soft = error_bounds(X, S, temperature, "softmax", np.float64)
        rounding_hard = error_bounds(X, C, None, "hard", np.float64)
        rounding = rounding_soft["soft_step"].ravel() + rounding_hard["lloyd_step"].ravel()
        if gradient_rounding:
            n_soft = reference.responsibilities(X, S, temperature, "softmax").sum(axis=0)
            name = "gradient" if through_r else "free_energy_gradient"
            with np.errstate(divide="ignore"):  # a mass that underflows to 0: an infinite bound
                rounding = rounding + len(X) / (2 * n_soft) * rounding_soft[name]
        bounds.append(step + rounding)
    return bounds


# X = {0, 30, 61}, C0 = (0, 61): x = 30 has d = (900, 961), margin 61; at m/T = 100 every
# exp(-d/T) of that point underflows in float64, which only a max-shifted softmax survives.
UNDERFLOW = (np.array([[0.0], [30.0], [61.0]]), np.array([[0.0], [61.0]]), 3)


@pytest.mark.claim("trajectories-softmax")
@given(problem=trajectory_problems(), sharpness=st.floats(2.0, 100.0))
@example(problem=UNDERFLOW, sharpness=100.0)
def test_softmax_trajectory_stays_within_the_bound(implementation, problem, sharpness):
    X, C0, n = problem
    lloyd = iterate(implementation.lloyd_step, X, C0, n)
    m = smallest_margin(implementation, X, lloyd)
    # Hypotheses: no tie on Lloyd's trajectory, no empty Lloyd cell (softmax moves an
    # empty centre while Lloyd keeps it; claim empty-clusters).
    assume(m > 0 and cells_are_full(X, lloyd))
    temperature = m / sharpness if np.isfinite(m) else 1.0
    soft = iterate(lambda X, C: implementation.soft_step(X, C, temperature, "softmax"), X, C0, n)
    bounds = trajectory_bounds(X, lloyd, soft, temperature)
    note(f"m = {m}, T = {temperature}, bound holds for {len(bounds) - 1} of {n} steps")
    for t, bound in enumerate(bounds):
        assert_within(np.linalg.norm(soft[t] - lloyd[t], axis=1), 0.0, bound, f"distance to Lloyd's centres at step {t}")


@pytest.mark.claim("trajectories-softmax")
def test_softmax_trajectory_property_bites():
    # Without the max-shift every exp(-d/T) of a point underflows at low T: 0/0 = NaN.
    assert_bites(test_softmax_trajectory_stays_within_the_bound, variants.SOFTMAX_WITHOUT_SHIFT)


def _blobs(seed, n_points=30, n_clusters=3):
    """Three Gaussian blobs in 2-D (means ~ N(0, 16 I), unit spread) and K data points as C0."""
    rng = np.random.default_rng(seed)
    means = 4 * rng.normal(size=(n_clusters, 2))
    X = means[rng.integers(0, n_clusters, n_points)] + rng.normal(size=(n_points, 2))
    return X, X[rng.choice(n_points, n_clusters, replace=False)]


def trajectory_errors(implementation, X, C0, n, sharpnesses, step_of):
    """m, and per sharpness m/T the max-norm distances to Lloyd's states of ``step_of(T)``'s trajectory."""
    lloyd = iterate(implementation.lloyd_step, X, C0, n)
    m = smallest_margin(implementation, X, lloyd)
    errors = []
    for sharpness in sharpnesses:
        soft = iterate(step_of(m / sharpness), X, C0, n)
        errors.append([float(np.abs(a - b).max()) for a, b in zip(soft, lloyd)])
    return m, np.array(errors)


@pytest.mark.claim("trajectories-softmax")
def test_softmax_distance_to_lloyd_decays_at_rate_m(implementation):
    # Blobs (seed 3): Lloyd converges in 1 step; margins 1.108, 2.552, ... so m = 1.108.
    # Fit log(max_t error) against 1/T over m/T in [10, 26]. The fit is a measurement: it
    # absorbs the drift of the prefactor A(T) in error = A(T) e^{-m/T}; a drift by a factor
    # up to e^{0.8} over the range (Delta(1/T) = 16/m) moves the rate by at most 5%.
    X, C0 = _blobs(3)
    sharpnesses = np.array([10.0, 14.0, 18.0, 22.0, 26.0])
    m, errors = trajectory_errors(
        implementation, X, C0, 5, sharpnesses, lambda T: lambda X, C: implementation.soft_step(X, C, T, "softmax")
    )
    worst = errors.max(axis=1)
    rate = -np.polyfit(sharpnesses / m, np.log(worst), 1)[0]
    print(f"m = {m}, errors {worst}, fitted rate {rate}")
    assert abs(rate / m - 1) < 0.05
    # The error does not grow with the number of steps: after Lloyd's trajectory has
    # converged (step 1), every later error equals the last one to rounding.
    U = unit_roundoff(np.float64)
    assert np.all(errors[:, 2:].max(axis=1) <= 2 * errors[:, 1] + 64 * U * np.abs(X).max())


@pytest.mark.slow
@pytest.mark.claim("trajectories-softmax")
def test_softmax_distance_table():
    print("\nseed  m        rate/m   max_t error at m/T = 6, 10, 14, 18, 22, 26   (per step at m/T = 10)")
    sharpnesses = np.array([6.0, 10.0, 14.0, 18.0, 22.0, 26.0])
    for seed in range(6):
        X, C0 = _blobs(seed)
        m, errors = trajectory_errors(
            reference, X, C0, 5, sharpnesses, lambda T: lambda X, C: reference.soft_step(X, C, T, "softmax")
        )
        worst = errors.max(axis=1)
        rate = -np.polyfit(sharpnesses[1:] / m, np.log(worst[1:]), 1)[0]
        print(f"{seed:4d}  {m:.4g}  {rate / m:.4f}  " + " ".join(f"{e:.2e}" for e in worst), errors[1].round(12))
        assert abs(rate / m - 1) < 0.05


# --- gradient-trajectories ---------------------------------------------------------------


def gradient_descent_step(implementation, objective, kind, temperature):
    """``c_k <- c_k - N/(2 n_k) grad_{c_k}`` of F_T (``objective='F'``) or L_T (``'L'``), n_k = sum_i r_ik.

    A centre without mass (entmax) keeps its place, as in the soft step."""

    def step(X, C):
        n = np.asarray(implementation.responsibilities(X, C, temperature, kind)).sum(axis=0)
        function = implementation.free_energy_gradient if objective == "F" else implementation.gradient
        grad = np.asarray(function(X, C, temperature, kind))
        size = np.divide(len(X), 2 * n, out=np.zeros_like(n), where=n > 0)
        return C - size[:, None] * grad

    return step


@pytest.mark.claim("gradient-trajectories")
@given(
    problem=trajectory_problems(),
    objective=st.sampled_from(["F", "L"]),
    kind=st.sampled_from(["entmax15", "softmax"]),
    sharpness=st.floats(2.0, 60.0),
)
@example(problem=EDGE, objective="F", kind="softmax", sharpness=10.0)
def test_gradient_descent_trajectories_follow_lloyds(implementation, problem, objective, kind, sharpness):
    X, C0, n = problem
    lloyd = iterate(implementation.lloyd_step, X, C0, n)
    m = smallest_margin(implementation, X, lloyd)
    assume(m > 0 and cells_are_full(X, lloyd))
    temperature = m / sharpness if np.isfinite(m) else 1.0
    soft = iterate(gradient_descent_step(implementation, objective, kind, temperature), X, C0, n)
    note(f"m = {m}, T = {temperature}")
    if kind == "softmax":
        bounds = trajectory_bounds(X, lloyd, soft, temperature, through_r=objective == "L", gradient_rounding=True)
        for t, bound in enumerate(bounds):
            assert_within(np.linalg.norm(soft[t] - lloyd[t], axis=1), 0.0, bound, f"distance to Lloyd's centres at step {t}")
        return
    # entmax at T <= m/2 (sharpness >= 2, strictly below m/2 but for rounding): the weights
    # are one-hot and the term through r vanishes, so each step is Lloyd's up to the
    # rounding of a gradient step (N/(2 n_k) times the gradient's bound, plus the soft
    # step's), which does not accumulate.
    for t in range(n):
        rounding = error_bounds(X, soft[t], temperature, kind, np.float64)
        n_k = reference.responsibilities(X, soft[t], temperature, kind).sum(axis=0)
        name = "free_energy_gradient" if objective == "F" else "gradient"
        size = np.divide(len(X), 2 * n_k, out=np.full_like(n_k, np.inf), where=n_k > 0)
        bound = size * rounding[name] + rounding["soft_step"].ravel()
        bound = bound + error_bounds(X, lloyd[t], None, "hard", np.float64)["lloyd_step"].ravel()
        error = np.linalg.norm(soft[t + 1] - lloyd[t + 1], axis=1)
        assert np.all(error <= bound), f"step {t + 1}: error {error} > rounding {bound}"


@pytest.mark.claim("gradient-trajectories")
def test_gradient_trajectory_property_bites():
    # The gradient of the summed objective with the step of the mean: N-fold overshoot.
    assert_bites(test_gradient_descent_trajectories_follow_lloyds, variants.GRADIENTS_SUMMED)


@pytest.mark.claim("gradient-trajectories")
def test_gradient_descent_on_the_objective_has_an_extra_factor_m_over_t():
    # Softmax, blobs (seed 3): at C0 one point has the margin m = 1.108, the next margin is
    # 3.06 and Lloyd's fixed point (from step 1) has margins >= 2.55. So for m/T >= 10 both
    # errors come from that one point: F_T's is A e^{-m/T}, L_T's adds the term through r,
    # B (m/T) e^{-m/T}, and their ratio is linear in m/T up to relative corrections
    # (K - 1) e^{-m/T} <= 9e-5 (masses) and e^{-(3.06 - 1.108)/T} <= 3e-9 (other points):
    # the residual of a straight-line fit must stay below 1e-3 (ten times that).
    X, C0 = _blobs(3)
    sharpnesses = np.array([10.0, 14.0, 18.0, 22.0, 26.0])
    worst = {}
    for objective in ("F", "L"):
        _, errors = trajectory_errors(
            reference, X, C0, 5, sharpnesses, lambda T: gradient_descent_step(reference, objective, "softmax", T)
        )
        worst[objective] = errors.max(axis=1)
    ratio = worst["L"] / worst["F"]
    slope, intercept = np.polyfit(sharpnesses, ratio, 1)
    residual = np.abs(ratio - (slope * sharpnesses + intercept)) / ratio
    print(f"L/F = {ratio}, fit {slope} m/T + {intercept}, residual {residual}")
    assert slope > 0.1 and residual.max() < 1e-3


# --- grid-ties-common --------------------------------------------------------------------


def tie_frequency(implementation, geometry, n_datasets=200, seed=0, horizon=10, temperature=1e-9):
    """Among random datasets: how many have an exact tie on Lloyd's trajectory, and how many
    entmax trajectories at ``temperature`` differ from Lloyd's (and whether all differences
    come with a tie). Grid data mirrors kmeans_rbf.strategies' "grid" geometry (integers in
    [-3, 3]); "uniform" has the same sizes with real coordinates. Centres are K distinct
    data points. 1e-9 is below half of every non-zero margin on such data (distances are
    rationals with denominators <= N^2 <= 400, so non-zero margins are >= 1/160000)."""
    rng = np.random.default_rng(seed)
    counts = {"datasets": 0, "tie": 0, "differ": 0, "differ_without_tie": 0}
    for _ in range(n_datasets):
        n, dim, k = rng.integers(6, 21), rng.integers(1, 3), rng.integers(2, 5)
        if geometry == "grid":
            X = rng.integers(-3, 4, (n, dim)).astype(np.float64)
        else:
            X = rng.uniform(-3.0, 3.0, (n, dim))
        distinct = np.unique(X, axis=0)
        if len(distinct) < k:
            continue
        C0 = distinct[rng.choice(len(distinct), k, replace=False)]
        lloyd = iterate(implementation.lloyd_step, X, C0, horizon)
        tie = any(np.any(implementation.margins(X, C) == 0) for C in lloyd[:-1])
        soft = iterate(lambda X, C: implementation.soft_step(X, C, temperature, "entmax15"), X, C0, horizon)
        differ = not all(np.array_equal(a, b) for a, b in zip(soft, lloyd))
        counts["datasets"] += 1
        counts["tie"] += tie
        counts["differ"] += differ
        counts["differ_without_tie"] += differ and not tie
    return counts


# A frequency on data, measured with the NumPy reference alone (torch counts the same, at
# three times the cost).
@pytest.mark.claim("grid-ties-common")
@pytest.mark.parametrize("implementation", [reference], ids=["reference"])
def test_ties_are_common_on_grid_data(implementation):
    grid = tie_frequency(implementation, "grid")
    uniform = tie_frequency(implementation, "uniform")
    print(f"grid {grid}, uniform {uniform}")
    # The claim: on quantised data more than 10% of datasets have a tie on Lloyd's
    # trajectory and more than 10% of entmax trajectories differ from Lloyd's because of
    # it; never without a tie; on real-valued data neither happens.
    assert grid["tie"] > 0.1 * grid["datasets"]
    assert grid["differ"] > 0.1 * grid["datasets"]
    assert grid["differ_without_tie"] == 0 and uniform["tie"] == 0 and uniform["differ"] == 0


@pytest.mark.claim("grid-ties-common")
def test_grid_ties_property_bites():
    # A soft step that is Lloyd's: then nothing ever differs.
    assert_bites(test_ties_are_common_on_grid_data, variants.SOFT_STEP_IS_LLOYDS)
