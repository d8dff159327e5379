"""Trajectories, ties and annealing (MATH.md claims 6, 8, 13); theory/trajectories.md.

Claims (theory/claims.toml):

* trajectories-entmax: with margins >= m along Lloyd's trajectory, entmax-1.5 soft steps at
  T <= m/2 retrace it bit for bit.
* trajectories-softmax: softmax soft steps stay within a computable bound that is
  O(e^{-m/T}) and does not grow with the number of steps (Lloyd's map is locally constant).
* gradient-trajectories: gradient descent with step N/(2 n_k) on F_T (= the soft step) and
  on L_T (the soft step plus the term through r) inherits both statements.
* ties-break-trajectories, tied-fixed-point-unstable, grid-ties-common: X = {0, 1, 2},
  C = (0, 2), and how often ties occur on quantised data.
* monotone-collapse (refuted), anneal-coincident-centres.

Strategies: ``trajectory_problems`` (below) combines ``datasets`` and ``centres`` of
kmeans_rbf.strategies with a horizon. Tolerances: the rounding of each step is the float64
entry of kmeans_rbf.tolerances.error_bounds for that step; bounds that come from the
mathematics are derived where they are computed.
"""

import itertools

import numpy as np
import pytest
from hypothesis import assume, example, given, note
from hypothesis import strategies as st

from conftest import BACKENDS
from kmeans_rbf import reference
from kmeans_rbf.strategies import centres, datasets, problems, temperatures
from kmeans_rbf.tolerances import error_bounds, unit_roundoff
from support import legacy_assert_bites as assert_bites
from variants import variant

U = unit_roundoff(np.float64)


# --- strategies and helpers ----------------------------------------------------------------


@st.composite
def trajectory_problems(draw, *, data=datasets(), n_clusters=st.integers(2, 5), horizon=st.integers(1, 5)):
    """``(X, C0, n)``: data, initial centres and a number of steps (new strategy, this module).

    At least two centres by default: with one, every trajectory claim is trivially true."""
    X = draw(data)
    return X, draw(centres(X, n_clusters=n_clusters)), draw(horizon)


def lloyd_trajectory(impl, X, C0, n):
    trajectory = [np.asarray(C0, dtype=np.float64)]
    for _ in range(n):
        trajectory.append(np.asarray(impl.lloyd_step(X, trajectory[-1])))
    return trajectory


def margins(d):
    """Per point, the gap between its two smallest squared distances (inf if K = 1).

    Computed as fl(d_(2) - d_(1)), the same subtraction as the regret inside the maps."""
    if d.shape[1] == 1:
        return np.full(d.shape[0], np.inf)
    two = np.sort(d, axis=1)[:, :2]
    return two[:, 1] - two[:, 0]


def smallest_margin(impl, X, trajectory):
    """m = the smallest margin over the states the steps start from (all but the last)."""
    return min(float(margins(np.asarray(impl.squared_distances(X, C))).min()) for C in trajectory[:-1])


def cells_are_full(X, trajectory):
    K = trajectory[0].shape[0]
    return all(len(np.unique(reference.assign(X, C))) == K for C in trajectory[:-1])


def iterate(step, X, C0, n):
    trajectory = [np.asarray(C0, dtype=np.float64)]
    for _ in range(n):
        trajectory.append(np.asarray(step(X, trajectory[-1])))
        # A NaN or inf state is a failure of the property, not an error of the test.
        assert np.all(np.isfinite(trajectory[-1])), f"non-finite state {trajectory[-1].ravel()}"
    return trajectory


def gradient_descent_step(impl, objective, kind, temperature):
    """``c_k <- c_k - N/(2 n_k) grad_{c_k}`` of F_T (``objective='F'``) or L_T (``'L'``), n_k = sum_i r_ik.

    A centre without mass (entmax) keeps its place, as in the soft step."""

    def step(X, C):
        n = np.asarray(impl.responsibilities(X, C, temperature, kind)).sum(axis=0)
        function = impl.free_energy_gradient if objective == "F" else impl.gradient
        grad = np.asarray(function(X, C, temperature, kind))
        size = np.divide(len(X), 2 * n, out=np.zeros_like(n), where=n > 0)
        return C - size[:, None] * grad

    return step


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


def assert_within(trajectory, lloyd, bounds):
    for t, bound in enumerate(bounds):
        error = np.linalg.norm(trajectory[t] - lloyd[t], axis=1)
        note(f"step {t}: error {error}, bound {bound}")
        assert np.all(error <= bound), f"step {t}: error {error} exceeds the bound {bound}"


# --- trajectories-entmax -------------------------------------------------------------------

# X = {0, 1, 3}, C0 = (0, 3): margins 9, 3, 9, so m = 3 and T = m/2 = 1.5 is the edge case.
_EDGE = (np.array([[0.0], [1.0], [3.0]]), np.array([[0.0], [3.0]]), 2)


def entmax_trajectory_property(impl):
    @given(problem=trajectory_problems(), fraction=st.sampled_from([1.0, 0.5, 1e-3]))
    @example(problem=_EDGE, fraction=1.0)
    def check(problem, fraction):
        X, C0, n = problem
        lloyd = lloyd_trajectory(impl, X, C0, n)
        m = smallest_margin(impl, X, lloyd)
        assume(m > 0)  # a tie on Lloyd's trajectory: the claim does not apply (see the tie claims)
        temperature = fraction * m / 2 if np.isfinite(m) else 1.0
        soft = iterate(lambda X, C: impl.soft_step(X, C, temperature, "entmax15"), X, C0, n)
        note(f"m = {m}, T = {temperature}")
        for t, (a, b) in enumerate(zip(soft, lloyd)):
            assert np.array_equal(a, b), f"step {t}: entmax {a.ravel()} != Lloyd {b.ravel()}"

    return check


@pytest.mark.claim("trajectories-entmax")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_entmax_trajectory_is_lloyds_bit_for_bit(implementation):
    entmax_trajectory_property(implementation)()


def _soft_step_at_twice_the_temperature(X, C, temperature=None, kind="softmax"):
    # The bug: the RBF-width conversion T = 2 s^2 applied to a value that already was T, so the
    # maps see 2T: entmax is then exact only for T <= m/4.
    return reference.soft_step(X, C, 2 * temperature, kind)


@pytest.mark.claim("trajectories-entmax")
def test_entmax_trajectory_property_bites():
    assert_bites(entmax_trajectory_property(variant("T doubled", soft_step=_soft_step_at_twice_the_temperature)))


@pytest.mark.claim("trajectories-entmax")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
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


# --- trajectories-softmax ------------------------------------------------------------------

# X = {0, 30, 61}, C0 = (0, 61): x = 30 has d = (900, 961), margin 61; at m/T = 100 every
# exp(-d/T) of that point underflows in float64, which only a max-shifted softmax survives.
_UNDERFLOW = (np.array([[0.0], [30.0], [61.0]]), np.array([[0.0], [61.0]]), 3)


def softmax_trajectory_property(impl):
    @given(problem=trajectory_problems(), sharpness=st.floats(2.0, 100.0))
    @example(problem=_UNDERFLOW, sharpness=100.0)
    def check(problem, sharpness):
        X, C0, n = problem
        lloyd = lloyd_trajectory(impl, X, C0, n)
        m = smallest_margin(impl, X, lloyd)
        # Hypotheses: no tie on Lloyd's trajectory, no empty Lloyd cell (softmax moves an
        # empty centre while Lloyd keeps it; claim empty-clusters).
        assume(m > 0 and cells_are_full(X, lloyd))
        temperature = m / sharpness if np.isfinite(m) else 1.0
        soft = iterate(lambda X, C: impl.soft_step(X, C, temperature, "softmax"), X, C0, n)
        bounds = trajectory_bounds(X, lloyd, soft, temperature)
        note(f"m = {m}, T = {temperature}, bound holds for {len(bounds) - 1} of {n} steps")
        assert_within(soft, lloyd, bounds)

    return check


@pytest.mark.claim("trajectories-softmax")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_softmax_trajectory_stays_within_the_bound(implementation):
    softmax_trajectory_property(implementation)()


def _soft_step_with_unshifted_softmax(X, C, temperature=None, kind="softmax"):
    # The bug: r = exp(-d/T) / sum exp(-d/T) without subtracting the row maximum. At low T
    # every exp underflows to 0 and the row is 0/0 = NaN. NumPy only warns there (the
    # warnings are silenced as a user's NumPy setup would print and continue); the property
    # must catch the NaN itself.
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    d = reference.squared_distances(X, C)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        e = np.exp(-d / temperature)
        r = e / e.sum(axis=1, keepdims=True)
        return (r.T @ X) / r.sum(axis=0)[:, None]


@pytest.mark.claim("trajectories-softmax")
def test_softmax_trajectory_property_bites():
    assert_bites(softmax_trajectory_property(variant("softmax without max shift", soft_step=_soft_step_with_unshifted_softmax)))


def _blobs(seed, n_points=30, n_clusters=3):
    """Three Gaussian blobs in 2-D (means ~ N(0, 16 I), unit spread) and K data points as C0."""
    rng = np.random.default_rng(seed)
    means = 4 * rng.normal(size=(n_clusters, 2))
    X = means[rng.integers(0, n_clusters, n_points)] + rng.normal(size=(n_points, 2))
    return X, X[rng.choice(n_points, n_clusters, replace=False)]


def trajectory_errors(impl, X, C0, n, sharpnesses, step_of):
    lloyd = lloyd_trajectory(impl, X, C0, n)
    m = smallest_margin(impl, X, lloyd)
    errors = []
    for sharpness in sharpnesses:
        soft = iterate(step_of(m / sharpness), X, C0, n)
        errors.append([float(np.abs(a - b).max()) for a, b in zip(soft, lloyd)])
    return m, np.array(errors)


@pytest.mark.claim("trajectories-softmax")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
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
    assert np.all(errors[:, 2:].max(axis=1) <= 2 * errors[:, 1] + 64 * U * np.abs(X).max())


# --- gradient-trajectories -----------------------------------------------------------------


def gradient_trajectory_property(impl):
    @given(
        problem=trajectory_problems(),
        objective=st.sampled_from(["F", "L"]),
        kind=st.sampled_from(["entmax15", "softmax"]),
        sharpness=st.floats(2.0, 60.0),
    )
    @example(problem=_EDGE, objective="F", kind="softmax", sharpness=10.0)
    def check(problem, objective, kind, sharpness):
        X, C0, n = problem
        lloyd = lloyd_trajectory(impl, X, C0, n)
        m = smallest_margin(impl, X, lloyd)
        assume(m > 0 and cells_are_full(X, lloyd))
        temperature = m / sharpness if np.isfinite(m) else 1.0
        soft = iterate(gradient_descent_step(impl, objective, kind, temperature), X, C0, n)
        note(f"m = {m}, T = {temperature}")
        if kind == "softmax":
            bounds = trajectory_bounds(
                X, lloyd, soft, temperature, through_r=objective == "L", gradient_rounding=True
            )
            assert_within(soft, lloyd, bounds)
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

    return check


@pytest.mark.claim("gradient-trajectories")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_gradient_descent_trajectories_follow_lloyds(implementation):
    gradient_trajectory_property(implementation)()


def _summed(function):
    # The bug: the gradient of the summed objective (sum over points, not the mean) used
    # with the step N/(2 n_k) of the mean convention: every step overshoots N-fold.
    def summed(X, C, temperature=None, kind="softmax"):
        return len(np.asarray(X)) * function(X, C, temperature, kind)

    return summed


@pytest.mark.claim("gradient-trajectories")
def test_gradient_trajectory_property_bites():
    broken = variant(
        "gradients of the summed objective",
        free_energy_gradient=_summed(reference.free_energy_gradient),
        gradient=_summed(reference.gradient),
    )
    assert_bites(gradient_trajectory_property(broken))


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


# --- ties-break-trajectories ---------------------------------------------------------------

TIE_X = np.array([[0.0], [1.0], [2.0]])
TIE_C = np.array([[0.0], [2.0]])


def tie_property(impl):
    @given(temperature=temperatures(min_value=1e-3, max_value=2.0), kind=st.sampled_from(["softmax", "entmax15"]))
    @example(temperature=1e-3, kind="entmax15")
    def check(temperature, kind):
        lloyd = np.asarray(impl.lloyd_step(TIE_X, TIE_C))
        soft = np.asarray(impl.soft_step(TIE_X, TIE_C, temperature, kind))
        # Exact values (proofs/proof_trajectories.py): entmax (1/3, 5/3) for every T <= 2;
        # softmax 1/3 + (4/3) eps/(1+eps) and its mirror, eps = e^{-4/T}.
        eps = np.exp(-4 / temperature)
        shift = 0.0 if kind == "entmax15" else (4 / 3) * eps / (1 + eps)
        expected = np.array([[1 / 3 + shift], [5 / 3 - shift]])
        bound = error_bounds(TIE_X, TIE_C, temperature, kind, np.float64)["soft_step"]
        note(f"soft {soft.ravel()}, expected {expected.ravel()}, Lloyd {lloyd.ravel()}")
        assert np.all(np.abs(soft - expected) <= bound)
        assert np.array_equal(lloyd, [[0.5], [2.0]])
        # c_1 is 1/3 + (4/3) eps/(1+eps) >= 1/3 away from Lloyd's 2 at every T: no convergence.
        assert abs(soft[1, 0] - lloyd[1, 0]) >= 1 / 3 - bound[1, 0]

    return check


@pytest.mark.claim("ties-break-trajectories")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_soft_step_splits_the_tie_for_every_temperature(implementation):
    tie_property(implementation)()


def _secretly_lloyd(X, C, temperature=None, kind="softmax"):
    # The bug: a "soft" step that decides ties to the lowest index (argmax of r with
    # hard assignment), i.e. Lloyd's step whatever T.
    return reference.lloyd_step(X, C)


@pytest.mark.claim("ties-break-trajectories")
def test_tie_property_bites():
    assert_bites(tie_property(variant("ties to the lowest index", soft_step=_secretly_lloyd)))


# --- tied-fixed-point-unstable -------------------------------------------------------------


def _tie_coordinate(impl, C, temperature):
    """w = (d_1 - d_0) / (2T) at x = 1: half the logit gap of the tied point."""
    d = np.asarray(impl.squared_distances(TIE_X, C))[1]
    return (d[1] - d[0]) / (2 * temperature)


def tie_drift_property(impl, kind, temperature, growth):
    def check():
        C = np.asarray(impl.soft_step(TIE_X, TIE_C, temperature, kind))
        states, ws = [C], [_tie_coordinate(impl, C, temperature)]
        for _ in range(80):
            states.append(np.asarray(impl.soft_step(TIE_X, states[-1], temperature, kind)))
            ws.append(_tie_coordinate(impl, states[-1], temperature))
        ws = np.array(ws)
        print(f"w = {ws[:12]}")
        # Linear regime: w' = growth * w (1 + c3 w^2 + ...) + noise, c3 = 7/36 (entmax) or
        # -1/9 (softmax), |c3| <= 7/36; the rounding of one step moves w by at most
        # ~8u/T (centres and distances of size <= 2, derivatives dw/dc = (2/3)/T), so the
        # ratio deviates by at most 2 (7/36) w^2 + 8u / (T growth |w|), doubled for safety of
        # the estimate of the noise.
        ratios_checked = 0
        for w, w_next in zip(ws[:-1], ws[1:]):
            if 1e-10 <= abs(w) and abs(w_next) <= 1e-2:
                tolerance = 2 * (2 * (7 / 36) * w**2 + 8 * U / (temperature * growth * abs(w)))
                assert abs(w_next / w / growth - 1) <= tolerance, f"ratio {w_next / w}, growth {growth}"
                ratios_checked += 1
        assert ratios_checked >= 1, f"no step in the linear regime: w = {ws[:12]}"
        # The tie is decided (|w| >= 1: one-hot) within the horizon; one step later the state
        # is the Lloyd fixed point on the side of the sign of w: (1/2, 2) or (0, 3/2).
        decided = int(np.argmax(np.abs(ws) >= 1))
        assert abs(ws[decided]) >= 1, f"the tie is never decided: w = {ws[-5:]}"
        side = np.array([[0.5], [2.0]]) if ws[decided] > 0 else np.array([[0.0], [1.5]])
        if kind == "entmax15":
            # |w| >= 1 makes the tied row one-hot: from the next step on, exactly the fixed point.
            for later in states[decided + 1 :]:
                assert np.array_equal(later, side), f"{later.ravel()} is not {side.ravel()}"
        else:
            # softmax converges to its fixed point near it, which keeps the weights
            # e^{-regret/T} <= e^{-3/(4T)} (smallest regret: x = 1 at (0, 3/2), 1 - 1/4) on
            # points at most 2 away: within 2 (K - 1) e^{-3/(4T)} after the 80 steps.
            assert np.all(np.abs(states[-1] - side) <= 4 * np.exp(-0.75 / temperature))

    return check


@pytest.mark.claim("tied-fixed-point-unstable")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
@pytest.mark.parametrize(
    "kind, temperature", [("entmax15", 1e-3), ("entmax15", 0.1), ("softmax", 0.1)], ids=str
)
def test_tied_fixed_point_drifts_to_a_lloyd_fixed_point(implementation, kind, temperature):
    growth = (8 * np.sqrt(2) if kind == "entmax15" else 8.0) / (27 * temperature)
    tie_drift_property(implementation, kind, temperature, growth)()


@pytest.mark.claim("tied-fixed-point-unstable")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_what_the_floating_point_trajectories_do(implementation):
    # Recorded behaviour of this package in float64 (both backends agree):
    # entmax, T = 1e-3: the first step rounds w to +1.39e-13 (sqrt(1/2)^2 != 1/2 in floats);
    # it grows 419-fold per step, the tie is decided at the 6th step after it, and from the
    # 7th the state is Lloyd's (1/2, 2): transiently different, then identical.
    lloyd = np.asarray(implementation.kmeans(TIE_X, TIE_C, 1))
    states = [np.asarray(implementation.soft_step(TIE_X, TIE_C, 1e-3, "entmax15"))]
    for _ in range(9):
        states.append(np.asarray(implementation.soft_step(TIE_X, states[-1], 1e-3, "entmax15")))
    w1 = _tie_coordinate(implementation, states[0], 1e-3)
    assert 0 < w1 < 1e-12
    # decided once w1 * 419^k >= 1: k = ceil(log(1/w1) / log 419) = 5 steps after the first
    steps = int(np.ceil(np.log(1 / w1) / np.log(8 * np.sqrt(2) / (27 * 1e-3))))
    assert steps == 5
    assert all(np.abs(s - [[1 / 3], [5 / 3]]).max() < 1e-2 for s in states[: steps + 1])
    assert all(np.array_equal(s, lloyd) for s in states[steps + 1 :])
    # softmax, T = 1e-3: the tied row is exactly (1/2, 1/2) and the state (fl(1/3), fl(5/3))
    # is exactly symmetric in floats (w = 0): it never leaves, and never meets Lloyd's.
    C = np.asarray(implementation.soft_step(TIE_X, TIE_C, 1e-3, "softmax"))
    for _ in range(20):
        C = np.asarray(implementation.soft_step(TIE_X, C, 1e-3, "softmax"))
        assert _tie_coordinate(implementation, C, 1e-3) == 0.0
    assert np.array_equal(C, [[1 / 3], [5 / 3]])


def _softmax_whatever_the_kind(X, C, temperature=None, kind="softmax"):
    # The bug: the kind argument is ignored and softmax is used for entmax15 too.
    return reference.soft_step(X, C, temperature, "softmax")


@pytest.mark.claim("tied-fixed-point-unstable")
def test_tie_drift_property_bites():
    broken = variant("kind ignored", soft_step=_softmax_whatever_the_kind)
    assert_bites(tie_drift_property(broken, "entmax15", 1e-3, 8 * np.sqrt(2) / (27 * 1e-3)))


# --- grid-ties-common ----------------------------------------------------------------------


def tie_frequency(impl, geometry, n_datasets=200, seed=0, horizon=10, temperature=1e-9):
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
        lloyd = lloyd_trajectory(impl, X, C0, horizon)
        tie = any(np.any(margins(np.asarray(impl.squared_distances(X, C))) == 0) for C in lloyd[:-1])
        soft = iterate(lambda X, C: impl.soft_step(X, C, temperature, "entmax15"), X, C0, horizon)
        differ = not all(np.array_equal(a, b) for a, b in zip(soft, lloyd))
        counts["datasets"] += 1
        counts["tie"] += tie
        counts["differ"] += differ
        counts["differ_without_tie"] += differ and not tie
    return counts


def grid_ties_property(impl):
    def check():
        grid = tie_frequency(impl, "grid")
        uniform = tie_frequency(impl, "uniform")
        print(f"grid {grid}, uniform {uniform}")
        # The claim: on quantised data more than 10% of datasets have a tie on Lloyd's
        # trajectory and more than 10% of entmax trajectories differ from Lloyd's because of
        # it; never without a tie; on real-valued data neither happens.
        assert grid["tie"] > 0.1 * grid["datasets"]
        assert grid["differ"] > 0.1 * grid["datasets"]
        assert grid["differ_without_tie"] == 0 and uniform["tie"] == 0 and uniform["differ"] == 0

    return check


@pytest.mark.claim("grid-ties-common")
def test_ties_are_common_on_grid_data():
    grid_ties_property(reference)()


@pytest.mark.claim("grid-ties-common")
def test_grid_ties_property_bites():
    assert_bites(grid_ties_property(variant("ties to the lowest index", soft_step=_secretly_lloyd)))


# --- monotone-collapse ---------------------------------------------------------------------

COLLAPSE_X = np.array([[0.0], [6.0], [9.0], [11.0], [11.0]])
COLLAPSE_C0 = np.array([[0.0], [11.0]])
COLLAPSE_SCHEDULE = [30.0, 20.0, 15.0, 10.0, 7.0, 5.0, 3.0, 2.0, 1.0]
COLLAPSE_STEPS = 50


def distance_to_lloyd_fixed_points_1d(x, C):
    """max_k |c_k - f_k| to the nearest Lloyd fixed point f (K = 2, 1-D, any order of C).

    Fixed points: the proper ones, splits x[:j] | x[j:] whose means reproduce the split (ties
    to c_0), and those with an empty cell: one centre at the mean of all points, the other
    on it or where no point reaches it (for c_0 empty: strictly farther, ties go to c_0).
    """
    x = np.sort(np.asarray(x, dtype=np.float64).ravel())
    a, b = np.sort(np.asarray(C, dtype=np.float64).ravel())
    best = np.inf
    for j in range(1, len(x)):
        f0, f1 = x[:j].mean(), x[j:].mean()
        midpoint = (f0 + f1) / 2
        if np.all(x[:j] <= midpoint) and np.all(x[j:] > midpoint):
            best = min(best, max(abs(a - f0), abs(b - f1)))
    mean = x.mean()
    low, high = 2 * x.min() - mean, 2 * x.max() - mean  # an empty centre lies beyond these
    for centre, other in ((a, b), (b, a)):
        to_empty = min(abs(other - mean), max(low - other, 0.0), max(other - high, 0.0))
        best = min(best, max(abs(centre - mean), to_empty))
    return best


def collapse_counterexample_property(impl, kind="softmax"):
    def check():
        trajectory = np.asarray(impl.anneal(COLLAPSE_X, COLLAPSE_C0, COLLAPSE_SCHEDULE, kind, COLLAPSE_STEPS))
        assert trajectory.shape == (1 + len(COLLAPSE_SCHEDULE) * COLLAPSE_STEPS, 2, 1)
        ends = trajectory[COLLAPSE_STEPS::COLLAPSE_STEPS]
        distances = np.array([distance_to_lloyd_fixed_points_1d(COLLAPSE_X, C) for C in ends])
        print(f"{kind}: distances {distances.round(4)}")
        # Expected (softmax): 2.768, 0.558, 0.672, 1.268, 0.219, 0.041, 0.001, 0, 0 -- the
        # distance grows from T = 20 to T = 10 by 0.71, far above any rounding; entmax:
        # 0.825, 1.241, 1.164, 0, ...: it grows from T = 30 to T = 20. Both end on (0, 37/4).
        # 50 steps per temperature reach the soft fixed point to 1e-4 or better (200 steps
        # change no digit shown but entmax's 1.164 -> 1.158 at T = 15).
        increases = np.diff(distances)
        assert increases.max() > 0.3, f"monotone: {distances}"
        assert distances[-1] <= 1e-6

    return check


@pytest.mark.claim("monotone-collapse")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
@pytest.mark.parametrize("kind", ["softmax", "entmax15"])
def test_annealing_is_not_monotone_on_a_five_point_dataset(implementation, kind):
    collapse_counterexample_property(implementation, kind)()


def _anneal_at_the_first_temperature(X, C0, temperatures, kind="softmax", steps_per_temperature=1):
    # The bug: the schedule is read once, T = temperatures[0] is used for every step.
    return reference.anneal(X, C0, [temperatures[0]] * len(temperatures), kind, steps_per_temperature)


def _anneal_last_state_only(X, C0, temperatures, kind="softmax", steps_per_temperature=1):
    # The bug: the function returns the final centres instead of the whole trajectory.
    return reference.anneal(X, C0, temperatures, kind, steps_per_temperature)[-1]


@pytest.mark.claim("monotone-collapse")
@pytest.mark.parametrize(
    "broken",
    [
        variant("anneal ignores the schedule", anneal=_anneal_at_the_first_temperature),
        variant("anneal returns the last state", anneal=_anneal_last_state_only),
    ],
    ids=lambda v: v.name,
)
def test_collapse_counterexample_bites(broken):
    assert_bites(collapse_counterexample_property(broken))


# --- anneal-coincident-centres -------------------------------------------------------------


def coincident_centres_property(impl):
    @given(problem=problems(), kind=st.sampled_from(["softmax", "entmax15"]))
    @example(problem=(_EDGE[0], _EDGE[1][:1], 1.0), kind="softmax")
    def check(problem, kind):
        X, C, temperature = problem
        C = np.concatenate([C[:1], C])  # centres 0 and 1 coincide
        following = np.asarray(impl.soft_step(X, C, temperature, kind))
        # Equal in exact arithmetic; each is computed to within the soft step's rounding
        # (torch's matrix product rounds two equal rows differently: seen at 1e-16).
        bound = error_bounds(X, C, temperature, kind, np.float64)["soft_step"]
        note(f"{following[0]} vs {following[1]}")
        assert np.all(np.abs(following[0] - following[1]) <= bound[0] + bound[1])

    return check


@pytest.mark.claim("anneal-coincident-centres")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_coincident_centres_never_split(implementation):
    coincident_centres_property(implementation)()


@pytest.mark.claim("anneal-coincident-centres")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
@pytest.mark.parametrize("kind", ["softmax", "entmax15"])
def test_annealing_from_the_mean_ends_at_a_degenerate_fixed_point(implementation, kind):
    # The textbook start of deterministic annealing: every centre at the data mean 37/5.
    C0 = np.full((2, 1), COLLAPSE_X.mean())
    trajectory = np.asarray(implementation.anneal(COLLAPSE_X, C0, COLLAPSE_SCHEDULE, kind, 5))
    final = trajectory[-1]
    assert np.array_equal(final[0], final[1])
    assert np.array_equal(np.asarray(implementation.lloyd_step(COLLAPSE_X, final)), final)
    # ... a Lloyd fixed point with an empty cell, 3 away from the nearest proper one (3, 31/3).
    assert distance_to_lloyd_fixed_points_1d(COLLAPSE_X, final) == 0.0
    proper = [(0.0, 37 / 4), (3.0, 31 / 3)]
    assert min(max(abs(final[0, 0] - f0), abs(final[1, 0] - f1)) for f0, f1 in proper) > 2.9


@pytest.mark.claim("anneal-coincident-centres")
def test_coincident_centres_property_bites():
    assert_bites(coincident_centres_property(variant("ties to the lowest index", soft_step=_secretly_lloyd)))


# --- slow: measurements --------------------------------------------------------------------


def _geometry(name, rng):
    """Synthetic 2-D geometries: blobs, anisotropic blobs, uneven sizes and spreads, two rings."""
    triangle = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])
    if name == "blobs":
        return np.concatenate([mean + rng.normal(size=(20, 2)) for mean in triangle])
    if name == "anisotropic":
        X = np.concatenate([mean + rng.normal(size=(20, 2)) for mean in triangle])
        return X @ np.array([[0.6, -0.64], [-0.4, 0.85]])
    if name == "uneven":
        return np.concatenate(
            [1.5 * rng.normal(size=(40, 2)), [6.0, 0.0] + 0.5 * rng.normal(size=(8, 2)), [0.0, 6.0] + 0.3 * rng.normal(size=(3, 2))]
        )
    angle = rng.uniform(0, 2 * np.pi, 60)
    radius = np.where(np.arange(60) < 20, 1.0, 4.0) + 0.1 * rng.normal(size=60)
    return np.c_[radius * np.cos(angle), radius * np.sin(angle)]


def _proper_fixed_points(X, K, rng, extra=()):
    """Lloyd fixed points with K non-empty cells, found by Lloyd from 200 starts (a sample of the set)."""
    found = []
    for C in [X[rng.choice(len(X), K, replace=False)] for _ in range(200)] + list(extra):
        for _ in range(300):
            following = reference.lloyd_step(X, C)
            if np.array_equal(following, C):
                break
            C = following
        if np.array_equal(reference.lloyd_step(X, C), C) and len(np.unique(reference.assign(X, C))) == K:
            C = C[np.lexsort(C.T[::-1])]
            if not any(np.array_equal(C, F) for F in found):
                found.append(C)
    return found


def _distance_to_set(C, fixed_points):
    return min(
        np.linalg.norm(C[list(order)] - F, axis=1).max()
        for F in fixed_points
        for order in itertools.permutations(range(len(C)))
    )


@pytest.mark.slow
@pytest.mark.claim("monotone-collapse")
def test_annealing_distance_table_on_synthetic_geometries():
    rows = []
    for name, kind, steps in itertools.product(
        ["blobs", "anisotropic", "uneven", "rings"], ["softmax", "entmax15"], [1, 10, 50]
    ):
        rng = np.random.default_rng(2)
        X = _geometry(name, rng)
        critical = 2 * np.linalg.eigvalsh(np.cov(X.T, bias=True)).max()  # T_c = 2 lambda_max
        schedule = 2 * critical * 0.8 ** np.arange(40)
        C0 = X[rng.choice(len(X), 3, replace=False)]
        ends = reference.anneal(X, C0, schedule, kind, steps)[steps::steps]
        fixed = _proper_fixed_points(X, 3, rng, extra=[ends[-1]])
        distances = np.array([_distance_to_set(C, fixed) for C in ends])
        increases = np.diff(distances)
        merged = len(np.unique(ends[-1], axis=0)) < 3
        rows.append((name, kind, steps, int(np.sum(increases > 1e-9)), increases.max(), distances[-1], merged))
    print("\ngeometry     kind      steps/T  #increases  largest increase  final distance  merged")
    for row in rows:
        print("%-12s %-9s %7d  %10d  %16.3g  %14.3g  %s" % row)
    # Non-monotone in most runs; the largest increases are far above rounding.
    assert sum(row[3] > 0 for row in rows) >= len(rows) // 2
    assert max(row[4] for row in rows) > 0.1


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


def _monotonicity_property(impl):
    @given(
        data=datasets(n_points=st.integers(3, 8), n_features=1, geometry=st.sampled_from(["uniform", "separated", "overlapping"])),
        ratio=st.sampled_from([0.5, 0.7]),
    )
    def check(data, ratio):
        x = np.sort(data.ravel())
        assume(x[-1] - x[0] > 1e-3)
        C0 = np.array([[x[0]], [x[-1]]])
        schedule = list(0.9 * 2 * x.var() * ratio ** np.arange(16))
        ends = np.asarray(impl.anneal(data, C0, schedule, "softmax", 100))[100::100]
        distances = [distance_to_lloyd_fixed_points_1d(x, C) for C in ends]
        assert np.all(np.diff(distances) <= 1e-9 * (x[-1] - x[0])), f"not monotone: {np.round(distances, 4)}"

    return check


@pytest.mark.slow
@pytest.mark.claim("monotone-collapse")
def test_hypothesis_finds_non_monotone_annealing():
    # The search for counterexamples, run as a property that must fail on the reference.
    assert_bites(_monotonicity_property(reference))
