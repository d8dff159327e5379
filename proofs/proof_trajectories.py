"""Claims on trajectories, ties and annealing; theory/trajectories.md.

Notation: Lloyd map Phi, soft step Psi_T (weighted means with softmax or entmax-1.5
responsibilities of the logits -d/T), margin of a point = the gap between its two
smallest squared distances, m = the smallest margin along Lloyd's trajectory.

* trajectories-entmax: a row with gap >= 2T is one-hot (entmax threshold tau = -1, by z3 for
  K = 2..4 and by the sort-based algorithm in exact arithmetic for every K); one-hot weights
  give the Lloyd means (a definition); induction over the steps.
* trajectories-softmax: the perturbation of a weighted mean (identity), the softmax weight
  bounds, the change of a squared distance when a centre moves (z3), and the fact that the
  error of the n-step recursion is e^(-m/T) (1 + o(1)) uniformly in n.
* gradient-trajectories: the gradient step on L_T is the soft step plus the term through r
  (identity); entmax's Jacobian vanishes on one-hot rows; the size of the term through r.
* ties-break-trajectories, tied-fixed-point-unstable: D = 1, X = {0, 1, 2} in exact
  rationals; the tie dynamics reduce to w -> g(w) / T with g'(0) = 8 sqrt(2)/27 (entmax);
  softmax's exact threshold (outer weights included) is certified by interval arithmetic.
* monotone-collapse: the counterexample recorded in tests/claims/test_annealing.py, with the
  Lloyd fixed points exact and the soft fixed points of both maps computed at 30 digits.
* anneal-coincident-centres: no proof here (the exact statement is a Coq theorem; its
  symbolic check compared two copies of one expression and was removed).
"""

import itertools

import mpmath
import pytest
import sympy as sp
import z3

from kmeans_rbf.multiprecision import entmax15 as _mp_entmax15
from kmeans_rbf.multiprecision import softmax as _mp_softmax
from kmeans_rbf.proving import assert_identity, assert_implies

# --- helpers in exact and in 50-digit arithmetic -----------------------------------------


def _entmax15_sorted_thresholds(u_sorted):
    """The candidate thresholds tau_k of the sort-based entmax-1.5 algorithm (exact, sympy)."""
    taus = []
    for k in range(1, len(u_sorted) + 1):
        head = u_sorted[:k]
        mean = sp.Rational(1, k) * sum(head)
        mean_of_squares = sp.Rational(1, k) * sum(v**2 for v in head)
        delta = (1 - k * (mean_of_squares - mean**2)) / k
        taus.append(sp.nsimplify(mean - sp.sqrt(delta)))
    return taus


def _mp_soft_step(x, c, T, kind):
    """One soft step in 1-D, mpmath: c_k <- sum_i r_ik x_i / sum_i r_ik."""
    mapping = _mp_entmax15 if kind == "entmax15" else _mp_softmax
    rows = [mapping([-((xi - ck) ** 2) / T for ck in c]) for xi in x]
    return [
        sum(r[k] * xi for r, xi in zip(rows, x)) / sum(r[k] for r in rows) for k in range(len(c))
    ]


# --- trajectories-entmax -----------------------------------------------------------------


@pytest.mark.claim("trajectories-entmax")
def test_entmax_threshold_of_a_one_hot_row_is_minus_one_for_every_k():
    # A row with gap >= 2T has u = z/2 = (0, u_2, ...) with u_l <= -1; the algorithm clips
    # every entry to >= -1, so the sorted row is exactly (0, -1, ..., -1). Step 1: the k-th
    # candidate threshold in closed form, for symbolic k; step 2: it is -1 for every k, so
    # only k = 1 passes tau_k < u_(k) and p = (1, 0, ..., 0).
    k = sp.Symbol("k", positive=True, integer=True)
    mean = -(k - 1) / k
    mean_of_squares = (k - 1) / k
    delta = sp.simplify((1 - k * (mean_of_squares - mean**2)) / k)
    assert delta == 1 / k**2
    tau = mean - sp.sqrt(delta)
    assert_identity(tau + 1)
    # The same with the algorithm's own cumulative sums, for K = 2..16, in exact rationals.
    for K in range(2, 17):
        taus = _entmax15_sorted_thresholds([sp.Integer(0)] + [sp.Integer(-1)] * (K - 1))
        assert all(t == -1 for t in taus)
        u_sorted = [0] + [-1] * (K - 1)
        assert sum(1 for t, v in zip(taus, u_sorted) if t < v) == 1
    # Numeric spot check: random rows with gap >= 2 are one-hot at 50 digits.
    mpmath.mp.dps = 50
    for K in (2, 3, 7, 13):
        z = [mpmath.mpf(0)] + [-2 - 5 * mpmath.rand() for _ in range(K - 1)]
        p = _mp_entmax15(z)
        assert abs(p[0] - 1) < mpmath.mpf("1e-45") and max(p[1:]) < mpmath.mpf("1e-45")


@pytest.mark.claim("trajectories-entmax")
def test_entmax_row_with_gap_two_is_one_hot_over_all_reals_z3():
    # For K = 2, 3, 4 and all reals u_2..u_K <= -1 (u_1 = 0 is the largest): the threshold
    # tau with sum_k [u_k - tau]_+^2 = 1 is -1, so p = (1, 0, ...). z3: the negation is unsat.
    for K in (2, 3, 4):
        u = [z3.RealVal(0)] + [z3.Real(f"u{j}") for j in range(2, K + 1)]
        tau = z3.Real("tau")

        def positive_part(a):
            return z3.If(a > 0, a, 0)

        threshold = sum(positive_part(v - tau) ** 2 for v in u) == 1
        assert_implies([*[v <= -1 for v in u[1:]], threshold], tau == -1)


# --- trajectories-softmax ----------------------------------------------------------------


@pytest.mark.claim("trajectories-softmax")
def test_perturbation_of_a_weighted_mean_identity():
    # Centre k, cell S (n = |S| >= 1), cell mean mu, weights r_i. Since sum_{i in S}(x_i - mu) = 0:
    #   (sum_i r_i) (c_soft - mu) = sum_{i in S} (r_i - 1)(x_i - mu) + sum_{i not in S} r_i (x_i - mu).
    # Every membership pattern of N = 2..4 points (coordinates are independent, so 1-D
    # suffices; N = 1 is the point itself).
    for N in range(2, 5):
        x = sp.symbols(f"x0:{N}", real=True)
        r = sp.symbols(f"r0:{N}", positive=True)
        for members in itertools.product((0, 1), repeat=N):
            if not any(members):
                continue
            mu = sum(xi for w, xi in zip(members, x) if w) / sum(members)
            soft = sum(ri * xi for ri, xi in zip(r, x)) / sum(r)
            right = sum((ri - 1) * (xi - mu) if w else ri * (xi - mu) for w, ri, xi in zip(members, r, x))
            assert_identity(sum(r) * (soft - mu) - right, by=sp.cancel)
    # 50-digit spot check, N = 4, S = {0, 1}.
    mpmath.mp.dps = 50
    x = [4 * mpmath.rand() - 2 for _ in range(4)]
    r = [1 - mpmath.rand() / 10, 1 - mpmath.rand() / 10, mpmath.rand() / 10, mpmath.rand() / 10]
    mu = (x[0] + x[1]) / 2
    soft = sum(ri * xi for ri, xi in zip(r, x)) / sum(r)
    right = (r[0] - 1) * (x[0] - mu) + (r[1] - 1) * (x[1] - mu) + r[2] * (x[2] - mu) + r[3] * (x[3] - mu)
    assert abs(sum(r) * (soft - mu) - right) < mpmath.mpf("1e-45")


@pytest.mark.claim("trajectories-softmax")
def test_softmax_weight_bounds_z3():
    # K = 3, point i nearest to k; E_l = exp(-regret_il / T) <= eps for l != k. Then
    # r_ik = 1/(1 + E_1 + E_2) and r_il = E_l / (1 + E_1 + E_2):
    #   1 - r_ik <= E_1 + E_2 <= (K - 1) eps,   r_il <= E_l <= eps,   sum_{i in S} r_ik >= n (1 - (K-1) eps).
    E1, E2, eps = z3.Reals("E1 E2 eps")
    Z = 1 + E1 + E2
    weights = [E1 >= 0, E2 >= 0, E1 <= eps, E2 <= eps]
    assert_implies(weights, z3.And(1 - 1 / Z <= E1 + E2, E1 / Z <= E1, 1 / Z >= 1 - 2 * eps))
    # Any K: with s = sum_{l != k} E_l (0 <= s <= (K-1) eps) and one E_l <= s,
    # 1 - 1/(1+s) <= s, E_l/(1+s) <= E_l and 1/(1+s) >= 1 - s.
    s_, E, bound = z3.Reals("s E bound")
    assert_implies([s_ >= 0, E >= 0, E <= s_, s_ <= bound],
                   z3.And(1 - 1 / (1 + s_) <= s_, E / (1 + s_) <= E, 1 / (1 + s_) >= 1 - bound))


@pytest.mark.claim("trajectories-softmax")
def test_squared_distance_moves_by_at_most_e_times_2rho_plus_e():
    # Step 1 (identity): with a = c - s, b = x - c, ||x - s||^2 - ||x - c||^2 = 2 a.b + ||a||^2.
    a = sp.Matrix(sp.symbols("a0:3", real=True))
    b = sp.Matrix(sp.symbols("b0:3", real=True))
    c = sp.Matrix(sp.symbols("c0:3", real=True))
    x, s = b + c, c - a
    residual = (x - s).dot(x - s) - (x - c).dot(x - c) - (2 * a.dot(b) + a.dot(a))
    assert_identity(residual, by=sp.expand)
    # Step 2 (z3, all reals, D = 2): |2 a.b + e^2| <= e (2 rho + e) with e = |a|, rho = |b|.
    a1, a2, b1, b2, e, rho = z3.Reals("a1 a2 b1 b2 e rho")
    change = 2 * (a1 * b1 + a2 * b2) + e * e
    lengths = [e >= 0, rho >= 0, e * e == a1 * a1 + a2 * a2, rho * rho == b1 * b1 + b2 * b2]
    assert_implies(lengths, z3.And(change <= e * (2 * rho + e), -change <= e * (2 * rho + e)))
    # Any D: given Cauchy-Schwarz (a.b)^2 <= |a|^2 |b|^2, with alpha = a.b.
    alpha = z3.Real("alpha")
    assert_implies([e >= 0, rho >= 0, alpha * alpha <= e * e * rho * rho],
                   z3.And(2 * alpha + e * e <= e * (2 * rho + e), -(2 * alpha + e * e) <= e * (2 * rho + e)))
    # Numeric spot check, D = 3, 50 digits.
    mpmath.mp.dps = 50
    for _ in range(5):
        xv, cv, sv = ([4 * mpmath.rand() - 2 for _ in range(3)] for _ in range(3))
        change = sum((p - q) ** 2 for p, q in zip(xv, sv)) - sum((p - q) ** 2 for p, q in zip(xv, cv))
        ev = mpmath.sqrt(sum((p - q) ** 2 for p, q in zip(sv, cv)))
        rhov = mpmath.sqrt(sum((p - q) ** 2 for p, q in zip(xv, cv)))
        assert abs(change) <= ev * (2 * rhov + ev)


@pytest.mark.claim("trajectories-softmax")
def test_error_recursion_is_exponentially_small_uniformly_in_the_horizon():
    # With one-step bound beta(g) = A e^{-g/T} / (1 - q e^{-g/T}) (A, q from the data) and the
    # margin at the soft state g >= m - 2 e (2R + e): once e <= beta(m/2) (first pass), every
    # later error is <= beta(m - eta), eta = 2 beta(m/2)(2R + beta(m/2)), for every step t.
    # Claim: beta(m - eta) e^{m/T} -> A as T -> 0+, i.e. the error is A e^{-m/T}(1 + o(1)),
    # independent of the horizon n. Step 1: eta / T -> 0; step 2: the ratio -> 1.
    T = sp.Symbol("T", positive=True)
    A, m, R, q = sp.symbols("A m R q", positive=True)
    beta_half = A * sp.exp(-m / (2 * T)) / (1 - q * sp.exp(-m / (2 * T)))
    eta = 2 * beta_half * (2 * R + beta_half)
    assert sp.limit(eta / T, T, 0, "+") == 0
    ratio = sp.exp(eta / T) / (1 - q * sp.exp(-(m - eta) / T))  # beta(m - eta) e^{m/T} / A
    assert sp.limit(sp.exp(-m / T) / T, T, 0, "+") == 0
    # ratio -> exp(0) / (1 - 0) = 1: check at 50 digits along T -> 0 for random constants
    # with m in [1, 2] (so that q e^{-m/(2T)} < 1 at every T below).
    mpmath.mp.dps = 50
    ratio_of = sp.lambdify((A, m, R, q, T), ratio, modules="mpmath")
    constants = (3 * mpmath.rand() + mpmath.mpf("0.1"), 1 + mpmath.rand(), 10 * mpmath.rand(), 4)
    gaps = [abs(ratio_of(*constants, mpmath.mpf(1) / n) - 1) for n in (20, 50, 200)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < mpmath.mpf("1e-10")


# --- gradient-trajectories ---------------------------------------------------------------


@pytest.mark.claim("gradient-trajectories")
def test_gradient_step_on_the_objective_is_the_soft_step_plus_the_term_through_r():
    # grad_{c_k} L_T = (2/N) sum_i g_i (c - x_i), g_i = r_i - delta_i (delta = J a, the term
    # through r). The step c - N/(2n) grad with n = sum_i r_i equals
    #   S/n + (1/n) sum_i delta_i (c - x_i),   S = sum_i r_i x_i.
    c = sp.Symbol("c", real=True)
    for N in range(1, 6):
        x = sp.symbols(f"x0:{N}", real=True)
        r = sp.symbols(f"r0:{N}", positive=True)
        delta = sp.symbols(f"delta0:{N}", real=True)
        n, S = sum(r), sum(ri * xi for ri, xi in zip(r, x))
        gradient = sp.Rational(2, N) * sum((ri - di) * (c - xi) for ri, di, xi in zip(r, delta, x))
        step = c - N / (2 * n) * gradient
        expected = S / n + sum(di * (c - xi) for di, xi in zip(delta, x)) / n
        assert_identity(step - expected, by=sp.cancel)
    # z3, N = 2 (the step divides by n = r_0 + r_1 != 0).
    c, x0, x1, r0, r1, d0, d1 = z3.Reals("c x0 x1 r0 r1 d0 d1")
    n = r0 + r1
    gradient = z3.Q(2, 2) * ((r0 - d0) * (c - x0) + (r1 - d1) * (c - x1))
    step = c - 2 / (2 * n) * gradient
    assert_implies([n != 0], step == (r0 * x0 + r1 * x1 + d0 * (c - x0) + d1 * (c - x1)) / n)
    # 50-digit spot check, N = 3.
    mpmath.mp.dps = 50
    xs = [mpmath.rand() for _ in range(3)]
    rs = [mpmath.rand() + mpmath.mpf("0.1") for _ in range(3)]
    ds = [mpmath.rand() - mpmath.mpf("0.5") for _ in range(3)]
    cv = mpmath.rand()
    grad = mpmath.mpf(2) / 3 * sum((ri - di) * (cv - xi) for ri, di, xi in zip(rs, ds, xs))
    lhs = cv - 3 / (2 * sum(rs)) * grad
    rhs = (sum(ri * xi for ri, xi in zip(rs, xs)) + sum(di * (cv - xi) for di, xi in zip(ds, xs))) / sum(rs)
    assert abs(lhs - rhs) < mpmath.mpf("1e-45")


@pytest.mark.claim("gradient-trajectories")
def test_entmax_jacobian_vanishes_on_one_hot_rows():
    # J = diag(s) - s s^T / sum s with s = sqrt(p); on a one-hot row s = e_k and J = 0, so the
    # term through r vanishes and grad L_T = grad F_T = grad J when T <= m/2.
    for K in range(1, 6):
        for k in range(K):
            s = sp.Matrix([1 if j == k else 0 for j in range(K)])
            J = sp.diag(*s) - s * s.T / sum(s)
            assert J == sp.zeros(K, K)


@pytest.mark.claim("gradient-trajectories")
def test_softmax_term_through_r_is_of_order_margin_over_t_times_e_to_minus_margin_over_t():
    # Softmax, a = regret / T (J 1 = 0, so regrets may replace d): delta_l = r_l (a_l - r.a).
    # Step 1: x e^{-x} decreases for x >= 1, so E_l a_l <= (g/T) e^{-g/T} =: eta for regrets >= g >= T.
    xs = sp.Symbol("x", positive=True)
    assert_identity(sp.diff(xs * sp.exp(-xs), xs) - (1 - xs) * sp.exp(-xs))
    # Step 2 (z3, K = 3, nearest k = 0, a_0 = 0): with 0 <= E_l <= eps <= 1/2, E_l a_l <= eta,
    # a_l >= 0: |delta_0| <= 2 eta and |delta_l| <= eta for l = 1, 2 (cleared of Z = 1 + E1 + E2).
    E1, E2, a1, a2, eps, eta = z3.Reals("E1 E2 a1 a2 eps eta")
    Z = 1 + E1 + E2
    ra_Z = E1 * a1 + E2 * a2  # Z * (r . a)
    hypotheses = [E1 >= 0, E2 >= 0, E1 <= eps, E2 <= eps, eps <= z3.Q(1, 2)]
    hypotheses += [a1 >= 0, a2 >= 0, E1 * a1 <= eta, E2 * a2 <= eta]
    # |delta_0| Z^2 = ra_Z * 1 ; |delta_1| Z^2 = E1 |a1 Z - ra_Z|
    assert_implies(hypotheses, z3.And(ra_Z <= 2 * eta * Z * Z, E1 * (a1 * Z - ra_Z) <= eta * Z * Z,
                                      E1 * (ra_Z - a1 * Z) <= eta * Z * Z))


# --- ties-break-trajectories -------------------------------------------------------------

_X_TIE = (sp.Integer(0), sp.Integer(1), sp.Integer(2))


def _step_from_weights(weights):
    """Weighted means of X = {0, 1, 2} from rows of weights (exact)."""
    return [
        sum(w[k] * xi for w, xi in zip(weights, _X_TIE)) / sum(w[k] for w in weights) for k in range(2)
    ]


@pytest.mark.claim("ties-break-trajectories")
def test_tie_case_in_exact_rationals():
    # C = (0, 2): d = (0, 4), (1, 1), (4, 0). Lloyd: x = 1 goes to c_0 -> (1/2, 2).
    half = sp.Rational(1, 2)
    assert _step_from_weights([(1, 0), (1, 0), (0, 1)]) == [half, 2]
    # entmax-1.5 for T <= 2 (outer gap 4 >= 2T): outer rows one-hot, the tied row has equal
    # logits, hence (1/2, 1/2) exactly -> (1/3, 5/3) for every T <= 2, not only in the limit.
    third = sp.Rational(1, 3)
    assert _step_from_weights([(1, 0), (half, half), (0, 1)]) == [third, 5 * third]
    # softmax, eps = e^{-4/T}: rows (1, eps)/(1+eps), (1/2, 1/2), (eps, 1)/(1+eps); the mass of
    # each centre is exactly 3/2 and c_0 = 1/3 + (4/3) eps / (1 + eps) -> 1/3 as T -> 0+.
    T = sp.Symbol("T", positive=True)
    eps = sp.exp(-4 / T)
    weights = [(1 / (1 + eps), eps / (1 + eps)), (half, half), (eps / (1 + eps), 1 / (1 + eps))]
    c0, c1 = _step_from_weights(weights)
    assert_identity(c0 - (third + sp.Rational(4, 3) * eps / (1 + eps)))
    assert_identity(c0 + c1 - 2)  # mirror symmetry x -> 2 - x
    assert sp.limit(c0, T, 0, "+") == third and sp.limit(c1, T, 0, "+") == 5 * third
    # The tied state (1/3, 5/3) is an exact fixed point of the entmax step for T <= 4/3:
    # outer gaps (5/3)^2 - (1/3)^2 = 8/3 >= 2T, and x = 1 is again equidistant (2/3).
    assert (sp.Rational(5, 3) ** 2 - third**2) == sp.Rational(8, 3)
    assert (1 - third) ** 2 == (1 - 5 * third) ** 2
    # Distance to Lloyd's trajectory: |1/3 - 1/2| = 1/6, |5/3 - 2| = 1/3, for every T <= 4/3.
    # 50-digit spot check with the algorithms themselves (bisection entmax, softmax).
    mpmath.mp.dps = 50
    x, c = [mpmath.mpf(v) for v in _X_TIE], [mpmath.mpf(0), mpmath.mpf(2)]
    for t in (mpmath.mpf("1.9"), mpmath.mpf("0.01")):
        step = _mp_soft_step(x, c, t, "entmax15")
        assert abs(step[0] - mpmath.mpf(1) / 3) < mpmath.mpf("1e-40")
    for t in (mpmath.mpf("0.7"), mpmath.mpf("0.05")):
        e = mpmath.exp(-4 / t)
        step = _mp_soft_step(x, c, t, "softmax")
        assert abs(step[0] - (mpmath.mpf(1) / 3 + mpmath.mpf(4) / 3 * e / (1 + e))) < mpmath.mpf("1e-40")


@pytest.mark.claim("ties-break-trajectories")
def test_tie_step_polynomial_form_over_all_reals_z3():
    # Outer rows one-hot, tied row (p, 1 - p), 0 < p < 1:
    # c_0' = p / (1 + p) and c_1' = (3 - p) / (2 - p): at p = 1/2, (1/3, 5/3); Lloyd is p = 1.
    # (1 - c_0' = 1/(1+p) and c_1' - 1 = 1/(2-p), used by the linearisation below, are the
    # same two equations rearranged: no step.)
    p, c0, c1 = z3.Reals("p c0 c1")
    step = [p > 0, p < 1, c0 * (1 + p) == p, c1 * (2 - p) == (1 - p) + 2]
    assert_implies([*step, p == z3.Q(1, 2)], z3.And(3 * c0 == 1, 3 * c1 == 5))


# --- tied-fixed-point-unstable -----------------------------------------------------------


def _tie_map():
    """g(w) for entmax-1.5 (|w| < 1) and for softmax (outer weights neglected).

    w = (d_1 - d_0) / (2T) at the tied point x = 1 (half the logit gap). With the outer points
    one-hot, the step gives 1 - c_0' = 1/(1+p), c_1' - 1 = 1/(2-p), so the next
    w' = ((1 - c_1')^2 - (1 - c_0')^2) / (2T) = g(w) / T with g = (1/(2-p)^2 - 1/(1+p)^2) / 2.
    entmax-1.5 of (z_0, z_1) with z_0 - z_1 = 2w, |w| < 1: p = s_0^2, s_0 - s_1 = w,
    s_0^2 + s_1^2 = 1, so s_0 = (w + sqrt(2 - w^2)) / 2. softmax: p = 1 / (1 + e^{-2w}).
    """
    w = sp.Symbol("w", real=True)
    p_entmax = ((w + sp.sqrt(2 - w**2)) / 2) ** 2
    p_softmax = 1 / (1 + sp.exp(-2 * w))

    def g(p):
        return (1 / (2 - p) ** 2 - 1 / (1 + p) ** 2) / 2

    return w, g(p_entmax), g(p_softmax), g


@pytest.mark.claim("tied-fixed-point-unstable")
def test_tie_dynamics_reduce_to_w_to_g_of_w_over_t():
    # Step 1: the next w from the step's centres (symbolic p, T).
    p, T = sp.Symbol("p", positive=True), sp.Symbol("T", positive=True)
    c0, c1 = p / (1 + p), (3 - p) / (2 - p)
    w_next = ((1 - c1) ** 2 - (1 - c0) ** 2) / (2 * T)
    _, _, _, g = _tie_map()
    assert_identity(w_next - g(p) / T)
    # Step 2: entmax's two-entry solution satisfies its defining equations for |w| < 1
    # (s_0 - s_1 = w holds as written; s_0^2 + s_1^2 = 1 is the check).
    w = sp.Symbol("w", real=True)
    s0, s1 = (w + sp.sqrt(2 - w**2)) / 2, (-w + sp.sqrt(2 - w**2)) / 2
    assert_identity(s0**2 + s1**2 - 1)
    # Step 3: 50-digit check against the actual sort-free entmax and a full soft step of
    # X = {0, 1, 2} from (1/3 + h, 5/3): w' from the step equals g(w)/T.
    _, g_entmax, _, _ = _tie_map()
    mpmath.mp.dps = 50
    x = [mpmath.mpf(v) for v in _X_TIE]
    for t, h in ((mpmath.mpf("0.01"), mpmath.mpf("1e-4")), (mpmath.mpf("0.5"), mpmath.mpf("-0.03"))):
        c = [mpmath.mpf(1) / 3 + h, mpmath.mpf(5) / 3]
        w_now = ((1 - c[1]) ** 2 - (1 - c[0]) ** 2) / (2 * t)
        step = _mp_soft_step(x, c, t, "entmax15")
        w_after = ((1 - step[1]) ** 2 - (1 - step[0]) ** 2) / (2 * t)
        predicted = sp.N(g_entmax.subs(w, sp.Float(str(w_now), 50)), 45) / t
        assert abs(w_after - mpmath.mpf(str(predicted))) < mpmath.mpf("1e-35") * (1 + abs(w_after))


@pytest.mark.claim("tied-fixed-point-unstable")
def test_growth_factor_at_the_tie():
    # g(0) = 0 (the tie is a fixed point), g odd, g'(0) = 8 sqrt(2)/27 (entmax), 8/27
    # (softmax, outer weights neglected), cubic terms (7/36) w^2 and -(1/9) w^2 relative,
    # and g(+-1) = +-3/8: once |w| >= 1 the tied point is one-hot and the state is Lloyd's
    # (1/2, 2) (w > 0) or its mirror (0, 3/2) (w < 0), with w = +-3/(8T) afterwards.
    w, g_entmax, g_softmax, _ = _tie_map()
    assert_identity(sp.Subs(g_entmax, w, 0))
    assert_identity(sp.Subs(g_entmax, w, -w) + g_entmax)
    assert_identity(sp.Subs(sp.Derivative(g_entmax, w), w, 0) - 8 * sp.sqrt(2) / 27)
    assert_identity(sp.Subs(sp.Derivative(g_softmax, w), w, 0) - sp.Rational(8, 27))
    series = sp.series(g_entmax, w, 0, 4).removeO()
    assert_identity(series - 8 * sp.sqrt(2) / 27 * w * (1 + sp.Rational(7, 36) * w**2))
    series = sp.series(g_softmax, w, 0, 4).removeO()
    assert_identity(series - sp.Rational(8, 27) * w * (1 - w**2 / 9))
    assert_identity(sp.Subs(g_entmax, w, 1) - sp.Rational(3, 8))
    # The full 2x2 Jacobian of the entmax step at (1/3, 5/3): (4 sqrt 2 / (27 T)) [[1, 1], [1, 1]],
    # eigenvalues 0 (moves that keep the tie) and 8 sqrt(2) / (27 T) along (1, 1).
    T = sp.Symbol("T", positive=True)
    a, b = sp.symbols("a b", real=True)
    w_of_c = ((1 - b) ** 2 - (1 - a) ** 2) / (2 * T)
    s0 = (w_of_c + sp.sqrt(2 - w_of_c**2)) / 2
    p = s0**2
    step = sp.Matrix([p / (1 + p), (3 - p) / (2 - p)])
    jacobian = step.jacobian([a, b]).subs({a: sp.Rational(1, 3), b: sp.Rational(5, 3)})
    expected = 4 * sp.sqrt(2) / (27 * T) * sp.ones(2, 2)
    assert jacobian == expected
    # Unstable iff 8 sqrt(2) / (27 T) > 1, i.e. T < 8 sqrt(2)/27 = 0.419...
    # 50-digit spot check of the exact softmax step (outer weights included) at T = 0.1:
    # its symmetric fixed point and growth factor along (1, 1) equal 8/(27T) up to
    # O(e^{-8/(3T)} / T^2) = O(1e-9).
    mpmath.mp.dps = 50
    t = mpmath.mpf("0.1")
    x = [mpmath.mpf(v) for v in _X_TIE]
    c = [mpmath.mpf(1) / 3, mpmath.mpf(5) / 3]
    for _ in range(60):
        c = _mp_soft_step(x, c, t, "softmax")
        c = [(c[0] + 2 - c[1]) / 2, (c[1] + 2 - c[0]) / 2]  # stay on the symmetric line
    h = mpmath.mpf("1e-25")
    moved = _mp_soft_step(x, [c[0] + h, c[1] + h], t, "softmax")
    base = _mp_soft_step(x, c, t, "softmax")
    growth = (moved[0] - base[0] + moved[1] - base[1]) / (2 * h)
    assert abs(growth / (mpmath.mpf(8) / (27 * t)) - 1) < mpmath.mpf("1e-6")


@pytest.mark.claim("tied-fixed-point-unstable")
def test_entmax_growth_factor_over_all_reals_z3():
    # Implicit derivative of the two-entry entmax at the tie: s_0 = s_1 > 0, s_0^2 + s_1^2 = 1,
    # ds_0 - ds_1 = dw, s_0 ds_0 + s_1 ds_1 = 0  =>  dp = 2 s_0 ds_0 satisfies dp^2 = dw^2 / 2;
    # with dg/dp = 16/27 at p = 1/2 the growth factor lam = g'(0) obeys lam^2 = 128/729.
    s0, s1, ds0, ds1, dw, lam = z3.Reals("s0 s1 ds0 ds1 dw lam")
    assert_implies([s0 == s1, s0 > 0, s0 * s0 + s1 * s1 == 1, ds0 - ds1 == dw, s0 * ds0 + s1 * ds1 == 0],
                   (2 * s0 * ds0) ** 2 == dw * dw / 2)
    p = z3.Real("p")
    # d/dp of (1/(2-p)^2 - 1/(1+p)^2)/2 = 1/(2-p)^3 + 1/(1+p)^3, at p = 1/2: 16/27.
    assert_implies([p == z3.Q(1, 2)], 1 / ((2 - p) ** 3) + 1 / ((1 + p) ** 3) == z3.Q(16, 27))
    assert_implies([lam > 0, lam == z3.Q(16, 27) * s0, s0 * s0 == z3.Q(1, 2)], lam * lam == z3.Q(128, 729))


# The exact softmax threshold of the tied fixed point: T* = 0.2964433601 (certified),
# not 8/27 = 0.2962963 (the threshold with the outer weights e^(-8/(3T)) neglected).
SOFTMAX_TIE_THRESHOLD = (mpmath.mpf("0.29644336013010"), mpmath.mpf("0.29644336013144"))


@pytest.mark.claim("tied-fixed-point-unstable")
def test_softmax_threshold_of_the_tied_fixed_point():
    # The exact softmax step of X = {0, 1, 2} (outer weights included) on the symmetric
    # line c = (a, 2 - a), with alpha = 4 (1 - a)/T, s = 1/(1 + e^(-alpha)):
    # Step 1: its derivative along (1, 1) (the direction that breaks the tie) is
    #   lambda(a) = (4/9) alpha (1/4 + 2 s (1 - s)) (2 s - 1), and its first coordinate is
    #   1/3 + (4/3)(1 - s) (the symmetric direction's coordinates follow by mirroring).
    a, h = sp.symbols("a h", real=True)
    T = sp.Symbol("T", positive=True)

    def first_centre(c0, c1):
        weights = [1 / (1 + sp.exp(-((x - c1) ** 2 - (x - c0) ** 2) / T)) for x in _X_TIE]  # on c_0
        return sum(w * x for w, x in zip(weights, _X_TIE)) / sum(weights)

    alpha = 4 * (1 - a) / T
    s = 1 / (1 + sp.exp(-alpha))
    growth = sp.Rational(4, 9) * alpha * (sp.Rational(1, 4) + 2 * s * (1 - s)) * (2 * s - 1)
    assert_identity(sp.Subs(sp.Derivative(first_centre(a + h, 2 - a + h), h), h, 0) - growth)
    assert_identity(first_centre(a, 2 - a) - (sp.Rational(1, 3) + sp.Rational(4, 3) * (1 - s)))
    # Step 2: with y = 2 s - 1 = tanh(alpha/2), lambda = alpha y (3 - 2 y^2)/9; at a fixed
    # point a = 1/3 + (4/3)(1 - s), i.e. 1 - a = 2y/3, so alpha = 8y/(3T), y solves
    # y = tanh(4y/(3T)) (one root y_T in (0, 1) for every T < 4/3: tanh(kx) = x, k > 1), and
    # lambda = 8 y^2 (3 - 2 y^2)/(27 T). Eliminating T = 4y/(3 artanh y):
    #   lambda(y) = (2/9) y (3 - 2 y^2) artanh(y).
    y, alpha_ = sp.symbols("y alpha", positive=True)
    assert_identity(2 / (1 + sp.exp(-alpha_)) - 1 - sp.tanh(alpha_ / 2), by=lambda e: sp.simplify(e.rewrite(sp.exp)))
    s_of_y = (1 + y) / 2
    in_y = sp.Rational(4, 9) * alpha_ * (sp.Rational(1, 4) + 2 * s_of_y * (1 - s_of_y)) * (2 * s_of_y - 1)
    assert_identity(in_y - alpha_ * y * (3 - 2 * y**2) / 9, by=sp.expand)
    (a_fixed,) = sp.solve(sp.Eq(a, sp.Rational(1, 3) + sp.Rational(4, 3) * (1 - s_of_y)), a)
    assert 4 * (1 - a_fixed) / T == 8 * y / (3 * T)
    lam = sp.Rational(2, 9) * y * (3 - 2 * y**2) * sp.atanh(y)
    T_of_y = 4 * y / (3 * sp.atanh(y))
    assert_identity(sp.Subs(8 * y * y * (3 - 2 * y**2) / (27 * T), T, T_of_y) - lam)
    # Step 3: lambda increases with y on (0, 1) and T decreases, so lambda(T) decreases and
    # crosses 1 once: unstable iff T < T*. lambda'(y) = (2/9) f(y) with
    #   f(y) (1 - y^2) = (3 - 6 y^2) g + y (3 - 2 y^2),   g = (1 - y^2) artanh(y),
    # and 0 < g <= y - 2y^3/3 (g's series is y - sum_k>=1 2 y^(2k+1)/((2k+1)(2k-1))), which
    # makes f > 0 on (0, 1): z3 below.
    g = (1 - y**2) * sp.atanh(y)
    f = (3 - 6 * y**2) * sp.atanh(y) + y * (3 - 2 * y**2) / (1 - y**2)
    assert_identity(sp.Derivative(lam, y) - sp.Rational(2, 9) * f)
    k = sp.Symbol("k", positive=True, integer=True)
    assert_identity(1 / (2 * k + 1) - 1 / (2 * k - 1) + 2 / ((2 * k + 1) * (2 * k - 1)))
    series = sum(-2 * y ** (2 * j + 1) / ((2 * j + 1) * (2 * j - 1)) for j in range(1, 6))
    assert sp.expand(sp.series(g, y, 0, 12).removeO()) == sp.expand(y + series)
    zy, zg = z3.Reals("y g")
    assert_implies([zy > 0, zy < 1, zg > 0, zg <= zy - 2 * zy**3 / 3], (3 - 6 * zy**2) * zg + zy * (3 - 2 * zy**2) > 0)
    # artanh(y)/y = sum_k y^(2k)/(2k+1) has positive coefficients: T(y) = 4y/(3 artanh y)
    # decreases from 4/3 (y -> 0) to 0 (y -> 1).
    ratio_series = sp.series(sp.atanh(y) / y, y, 0, 12).removeO()
    assert all(ratio_series.coeff(y, 2 * j) == sp.Rational(1, 2 * j + 1) for j in range(6))
    assert sp.limit(T_of_y, y, 0, "+") == sp.Rational(4, 3) and sp.limit(T_of_y, y, 1, "-") == 0
    # Step 4, certified digits: interval arithmetic gives lambda < 1 at y_lo and > 1 at y_hi,
    # so y* is between them, and T* = T(y*) in the interval image of [y_lo, y_hi].
    iv = mpmath.iv
    iv.dps = 30

    def growth_at(v):
        return iv.mpf(2) / 9 * v * (3 - 2 * v**2) * iv.log((1 + v) / (1 - v)) / 2

    y_lo, y_hi = iv.mpf("0.99975155207237"), iv.mpf("0.99975155207238")
    assert growth_at(y_lo).b < 1 < growth_at(y_hi).a
    T_hi = 4 * y_lo / (3 * iv.log((1 + y_lo) / (1 - y_lo)) / 2)
    T_lo = 4 * y_hi / (3 * iv.log((1 + y_hi) / (1 - y_hi)) / 2)
    assert SOFTMAX_TIE_THRESHOLD[0] <= T_lo.a and T_hi.b <= SOFTMAX_TIE_THRESHOLD[1]
    assert SOFTMAX_TIE_THRESHOLD[0] > mpmath.mpf(8) / 27 + mpmath.mpf("1e-4")
    # Step 5, independently of the closed forms: the 50-digit softmax step itself. Its
    # symmetric fixed point, iterated, and its growth along (1, 1) by differences: > 1 just
    # below T*, < 1 just above, and > 1 between 8/27 and T* (where the neglected outer
    # weights were said to make it stable).
    mpmath.mp.dps = 50
    x = [mpmath.mpf(v) for v in _X_TIE]
    for temperature, unstable in (
        (SOFTMAX_TIE_THRESHOLD[0] * (1 - mpmath.mpf("1e-6")), True),
        (SOFTMAX_TIE_THRESHOLD[1] * (1 + mpmath.mpf("1e-6")), False),
        ((mpmath.mpf(8) / 27 + SOFTMAX_TIE_THRESHOLD[0]) / 2, True),
    ):
        c = [mpmath.mpf(1) / 3, mpmath.mpf(5) / 3]
        for _ in range(40):
            c = _mp_soft_step(x, c, temperature, "softmax")
            c = [(c[0] + 2 - c[1]) / 2, (c[1] + 2 - c[0]) / 2]
        step = mpmath.mpf("1e-20")
        up = _mp_soft_step(x, [c[0] + step, c[1] + step], temperature, "softmax")
        down = _mp_soft_step(x, [c[0] - step, c[1] - step], temperature, "softmax")
        factor = (up[0] - down[0]) / (2 * step)
        assert (factor > 1) == unstable, (temperature, factor)


# --- monotone-collapse -------------------------------------------------------------------

COUNTEREXAMPLE_X = (0, 6, 9, 11, 11)
COUNTEREXAMPLE_C0 = (0, 11)


def _proper_lloyd_fixed_points_1d(x):
    """Every Lloyd fixed point with two non-empty cells of sorted 1-D data, exactly.

    In 1-D the cells of two centres are the two sides of their midpoint (ties to c_0), so a
    fixed point with both cells non-empty is a split x[:j] | x[j:] whose means reproduce it.
    """
    x = sorted(sp.Integer(v) for v in x)
    found = []
    for j in range(1, len(x)):
        left, right = x[:j], x[j:]
        c0, c1 = sum(left) / len(left), sum(right) / len(right)
        midpoint = (c0 + c1) / 2
        if all(v <= midpoint for v in left) and all(v > midpoint for v in right):
            found.append((c0, c1))
    return found


def _distance_to_lloyd_fixed_points(c, proper):
    """max_k |c_k - f_k| to the nearest Lloyd fixed point f of X = {0, 6, 9, 11, 11}, K = 2.

    The proper ones are ``proper``; those with an empty cell have one centre at the mean
    37/5 (it holds every point) and the other on it (coincident: ties go to the lower
    index) or where no point reaches it, at <= 2 min X - 37/5 = -37/5 or >= 2 max X - 37/5
    = 73/5. Both orders of the centres are tried.
    """
    a, b = sorted(c)
    best = min(max(abs(a - mpmath.mpf(f0.p) / f0.q), abs(b - mpmath.mpf(f1.p) / f1.q)) for f0, f1 in proper)
    mean, low, high = mpmath.mpf(37) / 5, -mpmath.mpf(37) / 5, mpmath.mpf(73) / 5
    for centre, other in ((a, b), (b, a)):
        to_empty = min(abs(other - mean), max(other - low, 0), max(high - other, 0))
        best = min(best, max(abs(centre - mean), to_empty))
    return best


@pytest.mark.claim("monotone-collapse")
def test_monotone_collapse_counterexample_certificate():
    # X = {0, 6, 9, 11, 11}, K = 2: the proper Lloyd fixed points, exactly.
    fixed = _proper_lloyd_fixed_points_1d(COUNTEREXAMPLE_X)
    assert fixed == [(0, sp.Rational(37, 4)), (3, sp.Rational(31, 3))]
    # The soft fixed points reached by annealing from C0 = (0, 11) through T = 30, 20, 15, 10,
    # for both maps, at 30 digits (iterated until a step moves less than 1e-25; a
    # computation at high precision, not an interval certificate), and their distances to
    # the nearest Lloyd fixed point of either kind.
    mpmath.mp.dps = 30
    x = [mpmath.mpf(v) for v in COUNTEREXAMPLE_X]
    distances = {}
    for kind in ("softmax", "entmax15"):
        c = [mpmath.mpf(v) for v in COUNTEREXAMPLE_C0]
        distances[kind] = []
        for t in (30, 20, 15, 10):
            for _ in range(2000):
                new = _mp_soft_step(x, c, mpmath.mpf(t), kind)
                converged = max(abs(a - b) for a, b in zip(new, c)) < mpmath.mpf("1e-25")
                c = new
                if converged:
                    break
            assert converged, (kind, t)
            distances[kind].append(_distance_to_lloyd_fixed_points(c, fixed))
    # softmax: 1.632, 0.558, 0.672, 1.268 -- it grows twice (by 0.71 from T = 20 to T = 10).
    # At T = 30 the nearest fixed point is the degenerate (37/5, 37/5) (1.632); the nearest
    # proper one is 2.768 away. entmax-1.5: 0.825, 1.241, 1.158, 0 -- it grows from T = 30 to 20.
    softmax, entmax = distances["softmax"], distances["entmax15"]
    assert abs(softmax[0] - mpmath.mpf("1.632")) < mpmath.mpf("1e-3")
    assert softmax[1] < softmax[2] < softmax[3] and softmax[3] - softmax[1] > mpmath.mpf("0.7")
    assert entmax[1] - entmax[0] > mpmath.mpf("0.4") and entmax[3] == 0
