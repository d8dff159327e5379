"""Gradients and descent: symbolic and SMT proofs.

Claims (ids of theory/claims.toml; the note is theory/gradients.md):

* gradient-free-energy: grad_{c_k} F_T = (2/N) sum_i r_ik (c_k - x_i), softmax and entmax15;
* gradient-objective:   grad_{c_k} L_T = (2/N) sum_i g_ik (c_k - x_i),
  g_i = r_i - (1/T) J_i d_i with J the Jacobian of the map (softmax diag(r) - r r^T,
  entmax15 diag(s) - s s^T / sum s, s = sqrt(r));
* soft-step-limit:      entmax15 soft step = Lloyd step once T <= m/2; softmax within
  B_k(T) = O(e^{-m/T}) of it when no Voronoi cell is empty;
* lloyd-descent:        J(lloyd_step(C)) <= J(C), any empty cells kept in place;
* soft-step-descent:    F_T(soft_step(C)) <= F_T(C), softmax and entmax15;
* objective-descent:    "the soft step never increases L_T" is FALSE (exact counterexamples).

Every objective is a mean over points of one term per point, and d_ik depends on c_k
only, through d(d_ik)/d(c_k) = 2 (c_k - x_i). So each gradient claim reduces to a claim
per point about the derivative of a function of the distance row d (checked here), plus
this chain rule (checked here once, for D = 2).
"""

import itertools
import random

import mpmath
import pytest
import sympy as sp
import z3

from kmeans_rbf.multiprecision import entmax15 as _mp_entmax15
from kmeans_rbf.multiprecision import softmax as _mp_softmax
from kmeans_rbf.proving import assert_identity, assert_implies

T = sp.Symbol("T", positive=True)
FOUR_THIRDS = sp.Rational(4, 3)


# --- shared pieces ----------------------------------------------------------------------


def _softmax_of_distances(d):
    """Symbolic r_k = exp(-d_k/T) / sum_l exp(-d_l/T) and the free energy -T log sum exp."""
    w = [sp.exp(-dk / T) for dk in d]
    Z = sum(w)
    return [wk / Z for wk in w], -T * sp.log(Z)


def _without_exponentials(expression, d):
    """Replace exp(-d_k/T) by positive symbols w_k: the residuals become rational functions
    (``assert_identity(..., by=sp.cancel)`` then reduces them)."""
    w = sp.symbols(f"w0:{len(d)}", positive=True)
    return expression.subs({sp.exp(-dk / T): wk for dk, wk in zip(d, w)})


def _entmax_on_support(d):
    """Entmax15 of z = -d/T on a support of size k, with the threshold tau left implicit.

    s_k = u_k - tau with u_k = z_k/2 = -d_k/(2T), p_k = s_k^2, and tau(d) fixed by
    sum_k s_k^2 = 1. By the implicit function theorem (sum s > 0 on the support)
    d tau/d d_j = -s_j / (2 T sum s), checked here against the differentiated constraint.
    Returns s and ``total(e, j)``, the total derivative d e/d d_j of an expression in d, tau.
    """
    tau = sp.Symbol("tau", real=True)
    s = [-dk / (2 * T) - tau for dk in d]
    constraint = sum(sk**2 for sk in s) - 1
    dtau = [-s[j] / (2 * T * sum(s)) for j in range(len(d))]
    for j, dj in enumerate(d):
        assert_identity(sp.diff(constraint, dj) + sp.diff(constraint, tau) * dtau[j], by=sp.cancel)

    def total(expression, j):
        return sp.diff(expression, d[j]) + sp.diff(expression, tau) * dtau[j]

    return s, total


def _entmax_free_energy(p, s, d):
    """F = sum p d - T H_1.5(p) with H_1.5(p) = (4/3)(1 - sum p^1.5) and p^1.5 = s^3, s >= 0."""
    return sum(pk * dk for pk, dk in zip(p, d)) - FOUR_THIRDS * T * (1 - sum(sk**3 for sk in s))


def _entmax_two_closed_form(delta):
    """Entmax15 with both entries in the support, delta = u_1 - u_2 in (-1, 1).

    s_1 - s_2 = delta and s_1^2 + s_2^2 = 1 give s_{1,2} = (sqrt(2 - delta^2) +- delta)/2.
    """
    q = sp.sqrt(2 - delta**2)
    return [(q + delta) / 2, (q - delta) / 2]


def _entmax_three_closed_form(u):
    """Entmax15 with three entries in the support: tau solves 3 tau^2 - 2 tau S1 + S2 - 1 = 0."""
    S1, S2 = sum(u), sum(uk**2 for uk in u)
    tau = (S1 - sp.sqrt(S1**2 - 3 * (S2 - 1))) / 3
    return [uk - tau for uk in u]


def _jacobian_entry(s, k, j):
    """(diag(s) - s s^T / sum s)_{kj}: the Jacobian of entmax15 on its support (theory/conventions.md)."""
    return (s[k] if k == j else 0) - s[k] * s[j] / sum(s)


def _rng(seed):
    return random.Random(seed)


def _mp(value):
    return mpmath.mpf(value)


def _mp_map(kind, z):
    return _mp_softmax(z) if kind == "softmax" else _mp_entmax15(z)


def _mp_distances(X, C):
    return [[sum((xj - cj) ** 2 for xj, cj in zip(x, c)) for c in C] for x in X]


def _mp_free_energy(X, C, temperature, kind):
    total = 0
    for row in _mp_distances(X, C):
        if kind == "softmax":
            low = min(row)
            total += low - temperature * mpmath.log(sum(mpmath.exp(-(dk - low) / temperature) for dk in row))
        else:
            p = _mp_entmax15([-dk / temperature for dk in row])
            entropy = mpmath.mpf(4) / 3 * (1 - sum(pk**1.5 for pk in p))
            total += sum(pk * dk for pk, dk in zip(p, row)) - temperature * entropy
    return total / len(X)


def _mp_objective(X, C, temperature, kind):
    total = 0
    for row in _mp_distances(X, C):
        p = _mp_map(kind, [-dk / temperature for dk in row])
        total += sum(pk * dk for pk, dk in zip(p, row))
    return total / len(X)


def _mp_responsibilities(X, C, temperature, kind):
    return [_mp_map(kind, [-dk / temperature for dk in row]) for row in _mp_distances(X, C)]


def _mp_partial(function, C, k, j):
    """d function / d C[k][j] by mpmath.diff (extrapolated differences at raised precision)."""

    def moved(t):
        D = [list(c) for c in C]
        D[k][j] = t
        return function(D)

    return mpmath.diff(moved, C[k][j])


def _mp_random_problem(rng, n_points=3, n_clusters=3, dim=2):
    X = [[_mp(rng.uniform(-2, 2)) for _ in range(dim)] for _ in range(n_points)]
    C = [[_mp(rng.uniform(-2, 2)) for _ in range(dim)] for _ in range(n_clusters)]
    return X, C


# --- chain rule (shared by both gradient claims) ----------------------------------------


@pytest.mark.claim("gradient-free-energy")
@pytest.mark.claim("gradient-objective")
def test_chain_rule_of_the_squared_distance():
    # d_ik = ||x_i - c_k||^2 depends on c_k alone: d d_ik / d c_kj = 2 (c_kj - x_ij) and
    # d d_il / d c_kj = 0 for l != k. So for an objective (1/N) sum_i f(d_i), the gradient
    # is grad_{c_k} = (2/N) sum_i (df/dd_k)(d_i) (c_k - x_i): the per-point derivative
    # df/dd_k is the weight g_ik of the claims.
    x = sp.symbols("x0:2", real=True)
    c = [sp.symbols(f"c{k}_0:2", real=True) for k in range(3)]
    d = [sum((xj - cj) ** 2 for xj, cj in zip(x, ck)) for ck in c]
    for k in range(3):
        for j in range(2):
            for l in range(3):
                expected = 2 * (c[k][j] - x[j]) if l == k else 0
                assert_identity(sp.Derivative(d[l], c[k][j]) - expected, by=sp.expand)


# --- gradient-free-energy -----------------------------------------------------------------


@pytest.mark.claim("gradient-free-energy")
def test_free_energy_gradient_softmax_any_K():
    # Any K: only w_j = exp(-d_j/T) depends on d_j; the other weights enter through their
    # sum R > 0 (a symbol independent of d_j). f = -T log(w_j + R), df/dd_j = w_j/(w_j + R) = r_j.
    d_j = sp.Symbol("d_j", real=True)
    R = sp.Symbol("R", positive=True)
    w_j = sp.exp(-d_j / T)
    assert_identity(sp.Derivative(-T * sp.log(w_j + R), d_j) - w_j / (w_j + R))


@pytest.mark.claim("gradient-free-energy")
def test_free_energy_gradient_softmax():
    # Per point f(d) = -T log sum_k exp(-d_k/T) (the closed-form minimum); df/dd_j = r_j.
    for K in (2, 3, 4):
        d = sp.symbols(f"d0:{K}", nonnegative=True)
        r, f = _softmax_of_distances(d)
        for j in range(K):
            assert_identity(sp.Derivative(f, d[j]) - r[j], by=lambda e: sp.cancel(_without_exponentials(e, d)))


def _entmax_any_support():
    """Symbols for entmax15 on a support of any size, entry j against the aggregates.

    On the support s_k = -d_k/(2T) - tau, so ds_k/dd_j = -delta_kj/(2T) - tau_j with
    tau_j = d tau/d d_j. Sums over the support enter only as the symbols sum_s = sum_k s_k
    (> 0) and sum_sd = sum_k s_k d_k; sums of the form sum_k s_k delta_kj are s_j.
    Differentiating sum_k s_k^2 = 1: sum_k 2 s_k ds_k/dd_j = -s_j/T - 2 tau_j sum_s = 0.
    """
    s_j, d_j, tau = sp.symbols("s_j d_j tau", real=True)
    sum_s = sp.Symbol("sum_s", positive=True)
    sum_sd = sp.Symbol("sum_sd", real=True)
    tau_j = sp.Symbol("tau_j", real=True)
    (tau_j_value,) = sp.solve(-s_j / T - 2 * tau_j * sum_s, tau_j)
    return s_j, d_j, tau, sum_s, sum_sd, tau_j_value


@pytest.mark.claim("gradient-free-energy")
def test_free_energy_gradient_entmax_envelope():
    # Per point f(d) = sum_k s_k^2 d_k - T (4/3)(1 - sum_k s_k^3) on a support of size k
    # (entries off the support have p = 0 and do not enter f near the point: df/dd = 0 = p).
    # Differentiating through the implicit tau: df/dd_j = s_j^2 + sum_k 2 s_k ds_k (d_k +
    # 2 T s_k), and d_k + 2 T s_k = -2 T tau is the same for every k on the support, while
    # sum_k 2 s_k ds_k = 0 (the constraint): the envelope theorem. Support sizes 1..5.
    for k in range(1, 6):
        d = sp.symbols(f"d0:{k}", real=True)
        s, total = _entmax_on_support(d)
        f = _entmax_free_energy([sk**2 for sk in s], s, d)
        for j in range(k):
            assert_identity(total(f, j) - s[j] ** 2, by=sp.cancel)


@pytest.mark.claim("gradient-free-energy")
def test_free_energy_gradient_entmax_closed_forms():
    # The same without the implicit function: closed forms on the full support, K = 2 and 3.
    d = sp.symbols("d0:2", nonnegative=True)
    s = _entmax_two_closed_form((d[1] - d[0]) / (2 * T))  # u_1 - u_2 = (d_2 - d_1)/(2T)
    f = _entmax_free_energy([sk**2 for sk in s], s, d)
    for j in range(2):
        assert_identity(sp.diff(f, d[j]) - s[j] ** 2)
    d = sp.symbols("d0:3", nonnegative=True)
    s = _entmax_three_closed_form([-dk / (2 * T) for dk in d])
    f = _entmax_free_energy([sk**2 for sk in s], s, d)
    for j in range(3):
        assert_identity(sp.diff(f, d[j]) - s[j] ** 2)


@pytest.mark.claim("gradient-free-energy")
def test_envelope_core_over_all_reals_z3():
    # The polynomial core of the envelope theorem for entmax15: if v = dp (so sum_k v_k = 0)
    # and every entry on the support satisfies d_k + 2 T s_k = lam (stationarity), then
    # sum_k v_k (d_k + 2 T s_k) = 0: the change of p does not change f to first order.
    for K in (2, 3, 4, 5):
        v = z3.Reals(" ".join(f"v{k}" for k in range(K)))
        d = z3.Reals(" ".join(f"d{k}" for k in range(K)))
        s = z3.Reals(" ".join(f"s{k}" for k in range(K)))
        Tz, lam = z3.Reals("T lam")
        stationary = [d[k] + 2 * Tz * s[k] == lam for k in range(K)]
        assert_implies([Tz > 0, z3.Sum(v) == 0, *stationary], z3.Sum([v[k] * (d[k] + 2 * Tz * s[k]) for k in range(K)]) == 0)


@pytest.mark.claim("gradient-free-energy")
@mpmath.workdps(50)
def test_free_energy_gradient_spot_check_mpmath():
    # grad_{c_k} F_T = (2/N) sum_i r_ik (c_k - x_i) at random points, 50 digits, both maps:
    # mpmath.diff of the free energy (softmax: log-sum-exp; entmax15: its variational value
    # at the sort-based entmax) against the formula.
    rng = _rng(3)
    for kind in ("softmax", "entmax15"):
        for _ in range(3):
            X, C = _mp_random_problem(rng)
            temperature = _mp(rng.uniform(0.3, 3.0))
            r = _mp_responsibilities(X, C, temperature, kind)
            for k in range(len(C)):
                for j in range(len(C[0])):
                    numeric = _mp_partial(lambda D: _mp_free_energy(X, D, temperature, kind), C, k, j)
                    formula = 2 * sum(r[i][k] * (C[k][j] - X[i][j]) for i in range(len(X))) / len(X)
                    assert abs(numeric - formula) < mpmath.mpf("1e-30")


# --- gradient-objective ---------------------------------------------------------------------


@pytest.mark.claim("gradient-objective")
def test_objective_gradient_softmax_any_K():
    # Any K: f = (w_j d_j + A) / (w_j + R) with A = sum_{l != j} w_l d_l and R = sum_{l != j} w_l
    # independent of d_j. Then df/dd_j = r_j - r_j (d_j - f)/T, i.e. r_j - (1/T)(J d)_j with
    # J = diag(r) - r r^T ((J d)_j = r_j (d_j - r . d) and r . d = f).
    d_j = sp.Symbol("d_j", real=True)
    A = sp.Symbol("A", real=True)
    R = sp.Symbol("R", positive=True)
    w_j = sp.exp(-d_j / T)
    f = (w_j * d_j + A) / (w_j + R)
    r_j = w_j / (w_j + R)
    residual = sp.diff(f, d_j) - (r_j - r_j * (d_j - f) / T)
    w = sp.Symbol("w", positive=True)
    assert_identity(residual.subs(sp.exp(-d_j / T), w), by=sp.cancel)


@pytest.mark.claim("gradient-objective")
def test_objective_gradient_softmax():
    # Per point f(d) = sum_k r_k(d) d_k, r = softmax(-d/T), whose Jacobian in z is
    # J = diag(r) - r r^T: df/dd_j = r_j - (1/T)(J d)_j = r_j - (1/T) r_j (d_j - sum_l r_l d_l).
    for K in (2, 3, 4):
        d = sp.symbols(f"d0:{K}", nonnegative=True)
        r, _ = _softmax_of_distances(d)
        f = sum(rl * dl for rl, dl in zip(r, d))
        for j in range(K):
            expected = r[j] - r[j] * (d[j] - f) / T
            assert_identity(sp.Derivative(f, d[j]) - expected, by=lambda e: sp.cancel(_without_exponentials(e, d)))
            for k in range(K):  # the Jacobian in z = -d/T: dr_k/dz_j = -T dr_k/dd_j
                jacobian = (r[k] if k == j else 0) - r[k] * r[j]
                assert_identity(sp.Derivative(r[k], d[j]) * (-T) - jacobian, by=lambda e: sp.cancel(_without_exponentials(e, d)))


@pytest.mark.claim("gradient-objective")
def test_entmax_jacobian_any_support():
    # dp_k/dz_j = -T dp_k/dd_j = -T 2 s_k (-delta_kj/(2T) - tau_j) = s_k delta_kj + 2 T s_k tau_j,
    # which is (diag(s) - s s^T / sum s)_kj; and for f = sum_k p_k d_k,
    # df/dd_j = p_j + sum_k d_k 2 s_k ds_k/dd_j = p_j - s_j d_j / T - 2 tau_j sum_sd
    #         = p_j - (1/T)(s_j d_j - s_j sum_sd / sum_s) = p_j - (1/T)(J d)_j.
    s_j, d_j, _, sum_s, sum_sd, tau_j = _entmax_any_support()
    s_k = sp.Symbol("s_k", real=True)
    for delta_kj in (0, 1):  # k != j and k = j (then s_k = s_j)
        sk = s_j if delta_kj else s_k
        jacobian = -T * 2 * sk * (-sp.Integer(delta_kj) / (2 * T) - tau_j)
        assert sp.expand(jacobian) == sp.expand(sk * delta_kj - sk * s_j / sum_s)
    derivative = s_j**2 - s_j * d_j / T - 2 * tau_j * sum_sd
    Jd = s_j * d_j - s_j * sum_sd / sum_s
    assert_identity(derivative - (s_j**2 - Jd / T))


@pytest.mark.claim("gradient-objective")
def test_entmax_jacobian_implicit():
    # dp_k/dd_j on a support of size 1..5 through the implicit tau, times dd/dz = -T, is
    # diag(s) - s s^T / sum s (theory/conventions.md): then df/dd_j = p_j - (1/T)(J d)_j for f = p . d.
    for k in range(1, 6):
        d = sp.symbols(f"d0:{k}", real=True)
        s, total = _entmax_on_support(d)
        p = [sk**2 for sk in s]
        f = sum(pk * dk for pk, dk in zip(p, d))
        for j in range(k):
            for l in range(k):
                assert_identity(total(p[l], j) * (-T) - _jacobian_entry(s, l, j), by=sp.cancel)
            Jd = sum(_jacobian_entry(s, j, l) * d[l] for l in range(k))
            assert_identity(total(f, j) - (p[j] - Jd / T), by=sp.cancel)


@pytest.mark.claim("gradient-objective")
def test_entmax_jacobian_closed_forms():
    # The Jacobian from the explicit closed forms, in the logits z: K = 2 (both entries in
    # the support, |z_1 - z_2| < 2) and K = 3 (full support).
    z = sp.symbols("z0:2", real=True)
    s = _entmax_two_closed_form((z[0] - z[1]) / 2)
    for k in range(2):
        for j in range(2):
            assert_identity(sp.diff(s[k] ** 2, z[j]) - _jacobian_entry(s, k, j))
    z = sp.symbols("z0:3", real=True)
    s = _entmax_three_closed_form([zk / 2 for zk in z])
    assert_identity(sum(sk**2 for sk in s) - 1)
    for k in range(3):
        for j in range(3):
            assert_identity(sp.diff(s[k] ** 2, z[j]) - _jacobian_entry(s, k, j))
    # And the gradient of f = p . d for K = 2 in closed form, in the distances.
    d = sp.symbols("d0:2", nonnegative=True)
    s = _entmax_two_closed_form((d[1] - d[0]) / (2 * T))
    p = [sk**2 for sk in s]
    f = sum(pk * dk for pk, dk in zip(p, d))
    for j in range(2):
        Jd = sum(_jacobian_entry(s, j, l) * d[l] for l in range(2))
        assert_identity(sp.diff(f, d[j]) - (p[j] - Jd / T))


@pytest.mark.claim("gradient-objective")
def test_entmax_jacobian_over_all_reals_z3():
    # The algebra of the implicit derivative, over all reals: if t_j = d tau/d z_j solves the
    # differentiated constraint sum_k 2 s_k (delta_kj/2 - t_j) = 0 and sum_k s_k > 0, then
    # dp_k/dz_j = 2 s_k (delta_kj/2 - t_j) equals diag(s) - s s^T / sum s (times sum s).
    for K in (2, 3, 4):
        s = z3.Reals(" ".join(f"s{k}" for k in range(K)))
        t = z3.Reals(" ".join(f"t{k}" for k in range(K)))
        total = z3.Sum(s)
        constraint = [z3.Sum([2 * s[k] * (z3.RealVal(1 if k == j else 0) / 2 - t[j]) for k in range(K)]) == 0 for j in range(K)]
        entries = []
        for k in range(K):
            for j in range(K):
                dp = 2 * s[k] * (z3.RealVal(1 if k == j else 0) / 2 - t[j])
                entries.append(dp * total == (s[k] * total if k == j else 0) - s[k] * s[j])
        assert_implies([total > 0, *constraint], z3.And(*entries))


@pytest.mark.claim("gradient-objective")
@mpmath.workdps(50)
def test_objective_gradient_spot_check_mpmath():
    # grad_{c_k} L_T = (2/N) sum_i (r_ik - (1/T)(J_i d_i)_k)(c_k - x_i) at random points,
    # 50 digits, both maps, against mpmath.diff of L_T.
    rng = _rng(4)
    for kind in ("softmax", "entmax15"):
        for _ in range(3):
            X, C = _mp_random_problem(rng)
            temperature = _mp(rng.uniform(0.3, 3.0))
            rows = _mp_distances(X, C)
            weights = []
            for row in rows:
                r = _mp_map(kind, [-dk / temperature for dk in row])
                s = r if kind == "softmax" else [mpmath.sqrt(rk) for rk in r]
                centre = sum(sk * dk for sk, dk in zip(s, row)) / sum(s)
                weights.append([rk - sk * (dk - centre) / temperature for rk, sk, dk in zip(r, s, row)])
            for k in range(len(C)):
                for j in range(len(C[0])):
                    numeric = _mp_partial(lambda D: _mp_objective(X, D, temperature, kind), C, k, j)
                    formula = 2 * sum(weights[i][k] * (C[k][j] - X[i][j]) for i in range(len(X))) / len(X)
                    assert abs(numeric - formula) < mpmath.mpf("1e-30")


# --- soft-step-limit ---------------------------------------------------------------------


def _z3_positive_part(value):
    return z3.If(value > 0, value, 0)


@pytest.mark.claim("soft-step-limit")
def test_entmax_is_one_hot_below_half_the_margin_z3():
    # Over all reals, K = 3, 4: if u_1 >= u_k + 1 for k >= 2 (the gap d_(2) - d_(1) >= 2T,
    # u = -d/(2T)), then tau = u_1 - 1 solves sum_k [u_k - tau]_+^2 = 1 and no other tau
    # does. So entmax15 is exactly the one-hot vector e_1 (the nearest centre). (For K = 2
    # the first statement is the definition of [.]_+ restated: 1 + [u_2 - u_1 + 1]_+^2 = 1
    # iff u_1 >= u_2 + 1.)
    for K in (3, 4):
        u = z3.Reals(" ".join(f"u{k}" for k in range(K)))
        tau = z3.Real("tau")
        mass = lambda t: z3.Sum([_z3_positive_part(uk - t) ** 2 for uk in u])  # noqa: E731
        gaps = [u[0] >= u[k] + 1 for k in range(1, K)]
        assert_implies(gaps, mass(u[0] - 1) == 1)
        assert_implies([*gaps, mass(tau) == 1], tau == u[0] - 1)


@pytest.mark.claim("soft-step-limit")
def test_softmax_weight_bounds_over_all_reals_z3():
    # With w_l = exp(-d_l/T) > 0 and r = w / sum w: r_l <= w_l / w_k for every k (so off the
    # nearest centre k, r_l <= exp(-(d_l - d_k)/T) <= exp(-m/T)), and 1 - r_k <= sum_{l != k}
    # w_l / w_k (<= (K-1) exp(-m/T) at the nearest centre k).
    for K in (2, 3, 4):
        w = z3.Reals(" ".join(f"w{k}" for k in range(K)))
        total = z3.Sum(w)
        positive = [wk > 0 for wk in w]
        for k in range(K):
            assert_implies(positive, z3.And(*[w[l] / total <= w[l] / w[k] for l in range(K)]))
            others = z3.Sum([w[l] for l in range(K) if l != k])
            assert_implies(positive, 1 - w[k] / total <= others / w[k])


@pytest.mark.claim("soft-step-limit")
def test_softmax_weight_bounds_any_K_z3():
    # Any K: with Z = sum_l w_l >= w_k + w_l (l != k) and all w > 0: w_l / Z <= w_l / w_k, and
    # 1 - w_k/Z = (Z - w_k)/Z <= (Z - w_k)/w_k.
    wk, wl, Z = z3.Reals("wk wl Z")
    assert_implies([wk > 0, wl > 0, Z >= wk + wl], wl / Z <= wl / wk)
    assert_implies([wk > 0, Z >= wk], 1 - wk / Z <= (Z - wk) / wk)


@pytest.mark.claim("soft-step-limit")
def test_soft_step_deviation_identity_any_N():
    # Any N, with the sums as symbols: n = sum_i r_ik, n c' = sum_i r_ik x_i, |S| m = sum_{S} x_i.
    # sum_i e_ik (x_i - m) = (sum r x - sum_S x) - m (n - |S|) = n c' - |S| m - m n + m |S|.
    n, size = sp.symbols("n S", positive=True)
    c_soft, m = sp.symbols("c_soft m", real=True)
    sum_e_times_offset = (n * c_soft - size * m) - m * (n - size)
    assert_identity(sum_e_times_offset / n - (c_soft - m))


@pytest.mark.claim("soft-step-limit")
def test_soft_step_deviation_identity():
    # Lloyd's centre m_k = sum_{i in S_k} x_i / |S_k|; the soft one sum_i r_ik x_i / n_k. With
    # e_ik = r_ik - [i in S_k], since sum_{i in S_k} (x_i - m_k) = 0:
    #     soft_k - m_k = sum_i e_ik (x_i - m_k) / n_k.
    # Hence |soft_k - m_k| <= sum_i |e_ik| R_k / n_k with R_k = max_i |x_i - m_k|, and with
    # the bounds above (|e_ik| <= (K-1) eta in the cell, <= eta outside, eta = exp(-m/T),
    # n_k >= |S_k| (1 - (K-1) eta)) the bound B_k of the claim. N = 1..5, cells of size 1..N.
    for N in range(2, 6):  # N = 1: the cell is the point, soft = Lloyd = x_0
        x = sp.symbols(f"x0:{N}", real=True)
        r = sp.symbols(f"r0:{N}", positive=True)
        for size in range(1, N + 1):
            in_cell = [1 if i < size else 0 for i in range(N)]
            m = sum(x[:size]) / size
            n = sum(r)
            soft = sum(ri * xi for ri, xi in zip(r, x)) / n
            deviation = sum((ri - ci) * (xi - m) for ri, ci, xi in zip(r, in_cell, x)) / n
            assert_identity(soft - m - deviation, by=sp.cancel)


@pytest.mark.claim("soft-step-limit")
def test_softmax_bound_vanishes():
    # B_k(T) = eta ((K-1)|S_k| + N - |S_k|) R_k / (|S_k| (1 - (K-1) eta)), eta = exp(-m/T):
    # it tends to 0 as T -> 0+, and B_k exp(m/T) tends to ((K-1)|S_k| + N - |S_k|) R_k/|S_k|.
    m, R, K, N, S = sp.symbols("m R K N S", positive=True)
    eta = sp.exp(-m / T)
    B = eta * ((K - 1) * S + N - S) * R / (S * (1 - (K - 1) * eta))
    assert sp.limit(B, T, 0, "+") == 0
    assert_identity(sp.Limit(B * sp.exp(m / T), T, 0, "+") - ((K - 1) * S + N - S) * R / S)


@pytest.mark.claim("soft-step-limit")
@mpmath.workdps(50)
def test_softmax_bound_spot_check_mpmath():
    # At random D = 1 problems with no empty cell and T = m/t, t in [2, 20], in 50 digits:
    # |soft_k - lloyd_k| <= B_k (here K = 2, so B_k = eta N R_k / (|S_k| (1 - eta))).
    rng = _rng(5)
    checked = 0
    while checked < 5:
        X = [[_mp(rng.uniform(-3, 3))] for _ in range(5)]
        C = [[_mp(rng.uniform(-3, 3))] for _ in range(2)]
        rows = _mp_distances(X, C)
        labels = [min(range(2), key=lambda k: row[k]) for row in rows]
        if len(set(labels)) < 2:
            continue
        margin = min(abs(row[1] - row[0]) for row in rows)
        temperature = margin / _mp(rng.uniform(2, 20))
        eta = mpmath.exp(-margin / temperature)
        r = _mp_responsibilities(X, C, temperature, "softmax")
        for k in range(2):
            cell = [X[i][0] for i in range(len(X)) if labels[i] == k]
            lloyd = sum(cell) / len(cell)
            n = sum(r[i][k] for i in range(len(X)))
            soft = sum(r[i][k] * X[i][0] for i in range(len(X))) / n
            reach = max(abs(x[0] - lloyd) for x in X)
            size = len(cell)
            bound = eta * (size + len(X) - size) * reach / (size * (1 - eta))
            assert abs(soft - lloyd) <= bound
        checked += 1


# --- lloyd-descent and soft-step-descent: the centre update ----------------------------


@pytest.mark.claim("lloyd-descent")
@pytest.mark.claim("soft-step-descent")
def test_weighted_mean_identity_any_N():
    # Any N, per coordinate (squared norms add over coordinates), with the sums as symbols
    # Q = sum_i w_i x_i^2, n = sum_i w_i, n m = sum_i w_i x_i:
    # sum_i w_i (x_i - c)^2 = Q - 2 c n m + n c^2 and sum_i w_i (x_i - m)^2 = Q - n m^2.
    Q, c, m = sp.symbols("Q c m", real=True)
    n = sp.Symbol("n", positive=True)
    assert_identity((Q - 2 * c * n * m + n * c**2) - ((Q - n * m**2) + n * (c - m) ** 2), by=sp.expand)


@pytest.mark.claim("lloyd-descent")
@pytest.mark.claim("soft-step-descent")
@mpmath.workdps(50)
def test_weighted_mean_identity():
    # For weights w_i >= 0 with n = sum w > 0 and m = sum w_i x_i / n:
    #     sum_i w_i |x_i - c|^2 = sum_i w_i |x_i - m|^2 + n |c - m|^2,
    # so m is the unique minimiser over c of the weighted sum of squares (a Lloyd cell:
    # w in {0, 1}; a soft step: w = r_.k), and moving c to m lowers it by n |c - m|^2.
    for N in range(1, 7):
        w = sp.symbols(f"w0:{N}", positive=True)
        x = [sp.symbols(f"x{i}_0:2", real=True) for i in range(N)]
        c = sp.symbols("c0:2", real=True)
        n = sum(w)
        m = [sum(wi * xi[j] for wi, xi in zip(w, x)) / n for j in range(2)]
        square = lambda a, b: sum((aj - bj) ** 2 for aj, bj in zip(a, b))  # noqa: E731
        lhs = sum(wi * square(xi, c) for wi, xi in zip(w, x))
        rhs = sum(wi * square(xi, m) for wi, xi in zip(w, x)) + n * square(c, m)
        assert_identity(lhs - rhs, by=sp.cancel)
    rng = _rng(6)
    for _ in range(5):
        w = [_mp(rng.uniform(0, 1)) for _ in range(4)]
        x = [_mp(rng.uniform(-5, 5)) for _ in range(4)]
        c = _mp(rng.uniform(-5, 5))
        n = sum(w)
        m = sum(wi * xi for wi, xi in zip(w, x)) / n
        lhs = sum(wi * (xi - c) ** 2 for wi, xi in zip(w, x))
        rhs = sum(wi * (xi - m) ** 2 for wi, xi in zip(w, x)) + n * (c - m) ** 2
        assert abs(lhs - rhs) < mpmath.mpf("1e-45")


@pytest.mark.claim("lloyd-descent")
@pytest.mark.claim("soft-step-descent")
def test_weighted_mean_minimises_over_all_reals_z3():
    # sum_i w_i |x_i - m|^2 <= sum_i w_i |x_i - c|^2 for all reals, w_i >= 0, n = sum w > 0,
    # n m = sum w_i x_i: the negation is unsat (N = 2..5 for D = 1, N = 3 for D = 2).
    for N, D in ((2, 1), (3, 1), (4, 1), (5, 1), (3, 2)):
        w = z3.Reals(" ".join(f"w{i}" for i in range(N)))
        x = [[z3.Real(f"x{i}_{j}") for j in range(D)] for i in range(N)]
        c = [z3.Real(f"c{j}") for j in range(D)]
        m = [z3.Real(f"m{j}") for j in range(D)]
        n = z3.Sum(w)
        hypotheses = [n > 0, *[wi >= 0 for wi in w]]
        hypotheses += [m[j] * n == z3.Sum([w[i] * x[i][j] for i in range(N)]) for j in range(D)]

        def cost(y):
            return z3.Sum([w[i] * z3.Sum([(x[i][j] - y[j]) ** 2 for j in range(D)]) for i in range(N)])

        assert_implies(hypotheses, cost(m) <= cost(c))


@pytest.mark.claim("lloyd-descent")
def test_lloyd_step_never_increases_J_z3():
    # The whole statement for K = 2, D = 1, N = 2..4, over all reals: J(C') <= J(C), with the
    # lowest-index tie rule and the keep-previous policy for an empty cell. One case per
    # labelling (z3 does not find this split by itself): the labels are the nearest centres
    # (ties to c_0), a non-empty cell moves to its mean (size * c' = sum), an empty one
    # stays, and J(C') is the sum of the smaller of the two new distances.
    x_all = z3.Reals("x0 x1 x2 x3")
    c = z3.Reals("c0 c1")
    new = z3.Reals("new0 new1")
    for N in (2, 3, 4):
        x = x_all[:N]
        for labels in itertools.product((0, 1), repeat=N):
            hypotheses = []
            for xi, label in zip(x, labels):
                to_first = (xi - c[0]) ** 2 <= (xi - c[1]) ** 2
                hypotheses.append(to_first if label == 0 else z3.Not(to_first))
            for k in range(2):
                cell = [xi for xi, label in zip(x, labels) if label == k]
                hypotheses.append(new[k] == c[k] if not cell else new[k] * len(cell) == z3.Sum(cell))
            before = z3.Sum([(xi - c[label]) ** 2 for xi, label in zip(x, labels)])
            after = z3.Sum(
                [z3.If((xi - new[0]) ** 2 <= (xi - new[1]) ** 2, (xi - new[0]) ** 2, (xi - new[1]) ** 2) for xi in x]
            )
            assert_implies(hypotheses, after <= before)


# --- soft-step-descent: the minimisation over p is exact --------------------------------


@pytest.mark.claim("soft-step-descent")
def test_gibbs_variational_identity_any_K():
    # Any K, with sum p = 1 and the sums as symbols P_d = sum p d, P_log = sum p log p, and
    # log r_k = -d_k/T - log Z: KL(p || r) = P_log + P_d/T + log Z, F = -T log Z, and
    # G(p) = P_d + T P_log. So G(p) - F = T KL(p || r) >= 0.
    P_d, P_log = sp.symbols("P_d P_log", real=True)
    Z = sp.Symbol("Z", positive=True)
    kl = P_log + P_d / T + sp.log(Z)
    assert_identity((P_d + T * P_log) - (-T * sp.log(Z)) - T * kl)


@pytest.mark.claim("soft-step-descent")
def test_gibbs_variational_identity_softmax():
    # For p on the simplex (positive) and r = softmax(-d/T): sum p d - T H(p) - F(d) =
    # T sum_k p_k log(p_k / r_k) = T KL(p || r), with F = -T log sum exp(-d/T). K = 2..4.
    for K in (2, 3, 4):
        d = sp.symbols(f"d0:{K}", nonnegative=True)
        p_free = sp.symbols(f"p0:{K - 1}", positive=True)
        p = [*p_free, 1 - sum(p_free)]
        r, F = _softmax_of_distances(d)
        value = sum(pk * dk for pk, dk in zip(p, d)) + T * sum(pk * sp.log(pk) for pk in p)
        kl = sum(pk * (sp.log(pk) - sp.log(rk)) for pk, rk in zip(p, r))
        residual = sp.expand_log(value - F - T * kl, force=True)
        assert_identity(residual)
    # KL >= 0 (Gibbs): log y >= 1 - 1/y for y > 0, so sum p log(p/r) >= sum p (1 - r/p) = 0.
    y = sp.Symbol("y", positive=True)
    h = sp.log(y) - 1 + 1 / y
    (critical,) = sp.solve(sp.diff(h, y), y)
    assert critical == 1 and h.subs(y, 1) == 0
    assert_identity(sp.diff(h, y) - (y - 1) / y**2)  # h decreases on (0,1), increases after


@pytest.mark.claim("soft-step-descent")
def test_tsallis_variational_any_K_termwise():
    # Any K: G(v) = sum_k [v_k^2 d_k + (4T/3) v_k^3] - 4T/3, so G(a) - G(s) is a sum of terms
    #   a^2 d + (4T/3) a^3 - s^2 d - (4T/3) s^3 = (a^2 - s^2)(d + 2 T s) + (4T/3)(a - s)^2 (a + s/2)
    # (sympy, one term); over all reals with a, s >= 0, lam real (z3, one term):
    #   (a^2 - s^2)(v - lam) >= 0 when (s > 0 and v = lam) or (s = 0 and v >= lam),
    # and sum_k (a_k^2 - s_k^2) lam = 0 (both on the simplex): G(a) >= G(s) for any K.
    a, s = sp.symbols("a s", nonnegative=True)
    d = sp.Symbol("d", real=True)
    term = a**2 * d + FOUR_THIRDS * T * a**3 - s**2 * d - FOUR_THIRDS * T * s**3
    split = (a**2 - s**2) * (d + 2 * T * s) + FOUR_THIRDS * T * (a - s) ** 2 * (a + s / 2)
    assert_identity(term - split, by=sp.expand)
    az, sz, v, lam = z3.Reals("a s v lam")
    kkt = z3.Or(z3.And(sz > 0, v == lam), z3.And(sz == 0, v >= lam))
    assert_implies([az >= 0, sz >= 0, kkt], (az * az - sz * sz) * (v - lam) >= 0)


@pytest.mark.claim("soft-step-descent")
def test_tsallis_variational_identity_entmax():
    # For a, s >= 0 (p = a^2, r = s^2), G(p) = sum p d - T (4/3)(1 - sum p^1.5):
    #   G(a^2) - G(s^2) = sum_k (a_k^2 - s_k^2)(d_k + 2 T s_k)
    #                     + (4T/3) sum_k (a_k - s_k)^2 (a_k + s_k/2)        (K = 2..5).
    # The first sum is >= 0 at r = entmax15(-d/T) (KKT, next proof), the second termwise.
    for K in (2, 3, 4, 5):
        a = sp.symbols(f"a0:{K}", nonnegative=True)
        s = sp.symbols(f"s0:{K}", nonnegative=True)
        d = sp.symbols(f"d0:{K}", real=True)
        G = lambda v: _entmax_free_energy([vk**2 for vk in v], v, d)  # noqa: E731
        linear = sum((ak**2 - sk**2) * (dk + 2 * T * sk) for ak, sk, dk in zip(a, s, d))
        bregman = FOUR_THIRDS * T * sum((ak - sk) ** 2 * (ak + sk / 2) for ak, sk in zip(a, s))
        assert_identity(G(a) - G(s) - linear - bregman, by=sp.expand)


@pytest.mark.claim("soft-step-descent")
def test_tsallis_variational_inequality_z3():
    # (i) each Bregman term: a^3 - (3/2) a^2 b + b^3/2 = (a - b)^2 (a + b/2) >= 0 for a, b >= 0;
    # (ii) the KKT conditions of entmax15: with s_k = [u_k - tau]_+ and d_k = -2 T u_k,
    #      lam = -2 T tau: s_k > 0 -> d_k + 2 T s_k = lam, s_k = 0 -> d_k >= lam;
    # (iii) then sum_k (P_k - R_k)(d_k + 2 T s_k) >= 0 for any P on the simplex (K = 2..4).
    a, b = z3.Reals("a b")
    assert_implies([a >= 0, b >= 0], a**3 - 3 * a * a * b / 2 + b**3 / 2 >= 0)
    u, tau, Tz = z3.Reals("u tau T")
    s = _z3_positive_part(u - tau)
    d, lam = -2 * Tz * u, -2 * Tz * tau
    assert_implies([Tz > 0], z3.And(z3.Implies(s > 0, d + 2 * Tz * s == lam), z3.Implies(s == 0, d >= lam)))
    for K in (2, 3, 4):
        P = z3.Reals(" ".join(f"P{k}" for k in range(K)))
        R = z3.Reals(" ".join(f"R{k}" for k in range(K)))
        v = z3.Reals(" ".join(f"v{k}" for k in range(K)))  # v_k = d_k + 2 T s_k
        lam = z3.Real("lam")
        hypotheses = [z3.Sum(P) == 1, z3.Sum(R) == 1]
        for k in range(K):
            hypotheses += [P[k] >= 0, R[k] >= 0, z3.Or(z3.And(R[k] > 0, v[k] == lam), z3.And(R[k] == 0, v[k] >= lam))]
        assert_implies(hypotheses, z3.Sum([(P[k] - R[k]) * v[k] for k in range(K)]) >= 0)


@pytest.mark.claim("soft-step-descent")
@mpmath.workdps(50)
def test_soft_step_descent_spot_check_mpmath():
    # The chain F(C') <= G(C', R(C)) <= G(C, R(C)) = F(C), with G(C, P) = (1/N) sum_i
    # [p_i . d_i(C) - T H(p_i)], at random problems in 50 digits, both maps; and the decrease
    # is at least (1/N) sum_k n_k |c_k - c'_k|^2 (weighted-mean identity).
    rng = _rng(7)
    for kind in ("softmax", "entmax15"):
        for _ in range(4):
            X, C = _mp_random_problem(rng, n_points=5, n_clusters=3, dim=2)
            temperature = _mp(rng.uniform(0.05, 3.0))
            r = _mp_responsibilities(X, C, temperature, kind)
            mass = [sum(r[i][k] for i in range(len(X))) for k in range(len(C))]
            step = [
                [sum(r[i][k] * X[i][j] for i in range(len(X))) / mass[k] if mass[k] > 0 else C[k][j] for j in (0, 1)]
                for k in range(len(C))
            ]
            decrease = _mp_free_energy(X, C, temperature, kind) - _mp_free_energy(X, step, temperature, kind)
            moved = sum(mass[k] * sum((C[k][j] - step[k][j]) ** 2 for j in range(2)) for k in range(len(C)))
            assert decrease >= moved / len(X) - mpmath.mpf("1e-40")


# --- objective-descent (refuted) ------------------------------------------------------------


def _symmetric_objective(a, temperature, kind):
    """L_T for X = {-1, 1}, C = (-a, a), a > 0, exactly: (1 + a)^2 - 4 a p_near."""
    gap = 4 * a  # d_far - d_near = (1 + a)^2 - (1 - a)^2 at either point
    if kind == "softmax":
        p_near = 1 / (1 + sp.exp(-gap / temperature))
    else:
        delta = gap / (2 * temperature)
        p_near = sp.Integer(1) if delta >= 1 else _entmax_two_closed_form(delta)[0] ** 2
    return (1 + a) ** 2 - 4 * a * p_near, p_near


@pytest.mark.claim("objective-descent")
def test_objective_increases_exact_counterexamples():
    # X = {-1, 1}, C = (-a, a): by symmetry the soft step is (-a', a') with
    # a' = p_near - (1 - p_near) = 2 p_near - 1. Exact values (rationals, radicals, exp):
    cases = [
        # entmax15 at T = m/2 exactly: r(C) is one-hot, L_T(C) = J(C) = 1/4, the soft step is
        # the Lloyd step (-1, 1), and there the gap 4 < 2T = 6: L_T = (18 - 4 sqrt 14)/9.
        ("entmax15", sp.Rational(3, 2), sp.Integer(3)),
        # entmax15, r(C) = (16/25, 9/25) rational: L_T(C) = 97/100, a' = 7/25.
        ("entmax15", sp.Rational(1, 2), sp.Integer(5)),
        # softmax at T = 3: a' = tanh(1/3).
        ("softmax", sp.Rational(1, 2), sp.Integer(3)),
        # softmax from the K-Means minimiser C = X (J = 0) at T = 1/2: a' = tanh(4) < 1 and
        # L_T rises by 6.8e-6 (to first order 8 (4/T - 1) exp(-8/T) as T -> 0).
        ("softmax", sp.Integer(1), sp.Rational(1, 2)),
    ]
    for kind, a, temperature in cases:
        before, p_near = _symmetric_objective(a, temperature, kind)
        after, _ = _symmetric_objective(2 * p_near - 1, temperature, kind)
        increase = after - before
        assert increase.is_positive, (kind, a, temperature, increase)
        assert sp.N(increase, 50) > sp.Rational(1, 10**6)
    # The first case in closed form: L_T(C') = 4 p_far at delta = 2/3, p_far = (9 - 2 sqrt 14)/18.
    before, _ = _symmetric_objective(sp.Rational(3, 2), 3, "entmax15")
    after, _ = _symmetric_objective(sp.Integer(1), 3, "entmax15")
    assert before == sp.Rational(1, 4)
    assert_identity(after - (18 - 4 * sp.sqrt(14)) / 9)
    # (18 - 4 sqrt 14)/9 > 1/4  <=>  63/16 > sqrt 14  <=>  (63/16)^2 = 3969/256 > 14.
    assert sp.Rational(63, 16) ** 2 > 14


@pytest.mark.claim("objective-descent")
def test_objective_increases_on_an_open_set_of_temperatures():
    # Near the collapsed state of X = {-1, 1} (centres (-a, a), a -> 0):
    #   softmax:  L(a) = 1 + (1 - 4/T) a^2 + O(a^4),        a' = (2/T) a + O(a^3);
    #   entmax15: L(a) = 1 + (1 - 4 sqrt2/T) a^2 + O(a^3),  a' = (2 sqrt2/T) a + O(a^3).
    # So L(a') - L(a) = (1 - c/T)((b/T)^2 - 1) a^2 + O(a^3) with (b, c) = (2, 4) resp.
    # (2 sqrt2, 4 sqrt2): positive for every T in (b, c) = (b, 2b) and a small enough.
    # The window opens at T = b, where the collapsed state becomes stable for the soft step
    # (the first phase transition, T_c = 2 var(X) = 2 for softmax).
    a = sp.Symbol("a", positive=True)
    for kind, b in (("softmax", sp.Integer(2)), ("entmax15", 2 * sp.sqrt(2))):
        if kind == "softmax":
            p_near = 1 / (1 + sp.exp(-4 * a / T))
        else:
            p_near = _entmax_two_closed_form(2 * a / T)[0] ** 2  # delta = 2a/T < 1 for small a
        L = lambda v: (1 + v) ** 2 - 4 * v * p_near.subs(a, v)  # noqa: E731
        a_new = sp.series(2 * p_near - 1, a, 0, 4).removeO()
        assert a_new.coeff(a, 1) == b / T
        change = sp.series(L(a_new) - L(a), a, 0, 3).removeO()
        leading = sp.simplify(change.coeff(a, 2))
        assert_identity(leading - (1 - 2 * b / T) * ((b / T) ** 2 - 1))
        # Positive on (b, 2b) and nowhere else outside the closed window.
        window = sp.solve_univariate_inequality(leading > 0, T, relational=False)
        assert window.intersect(sp.Interval.open(0, sp.oo)) == sp.Interval.open(b, 2 * b)


@pytest.mark.claim("objective-descent")
@mpmath.workdps(50)
def test_objective_increase_in_fifty_digits():
    # The recorded counterexamples of the tests, recomputed in 50-digit arithmetic with the
    # mpmath maps (so that no float64 rounding can explain the increase).
    X = [[_mp(-1)], [_mp(1)]]
    for kind, a, temperature, before, after in RECORDED_COUNTEREXAMPLES:
        C = [[-_mp(a)], [_mp(a)]]
        r = _mp_responsibilities(X, C, _mp(temperature), kind)
        step = [[sum(r[i][k] * X[i][0] for i in range(2)) / sum(r[i][k] for i in range(2))] for k in range(2)]
        L0 = _mp_objective(X, C, _mp(temperature), kind)
        L1 = _mp_objective(X, step, _mp(temperature), kind)
        assert abs(L0 - mpmath.mpf(before)) < mpmath.mpf("1e-40")
        assert abs(L1 - mpmath.mpf(after)) < mpmath.mpf("1e-40")
        assert L1 - L0 > mpmath.mpf("1e-6")


# (kind, a, T, L_T(C), L_T(soft_step(C))) for X = {-1, 1}, C = (-a, a), to 45 digits.
RECORDED_COUNTEREXAMPLES = [
    ("entmax15", "1.5", "3", "0.25", "0.337041161433803828629445007859311421441768974"),
    ("entmax15", "0.5", "5", "0.97", "0.98997912445089451615083447428690443296539766"),
    (
        "softmax",
        "0.5",
        "3",
        "0.928487262468365655280593777574793533994707997",
        "0.967615812047147074673873640061574665423389881",
    ),
    (
        "softmax",
        "1",
        "0.5",
        "0.00134140052186591241551331131655007598932029421",
        "0.00134816017648388214290484224183347557964173153",
    ),
]
