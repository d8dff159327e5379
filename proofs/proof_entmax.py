"""Entmax-1.5 exactness, Voronoi order, support, dead centres, empty clusters: symbolic and
SMT proofs of the claims entmax-one-hot-threshold, entmax-exact-below-margin, voronoi-order,
entmax-order-converse, entmax-support, dead-centres, dead-centre-revival,
dead-centre-permanence and empty-clusters (theory/entmax.md, theory/claims.toml).

Notation. Row of logits ``z_k = -d_k / T`` (T > 0), ``u_k = z_k / 2``; 1.5-entmax is
``p_k = [u_k - tau]_+^2`` with tau fixed by ``sum_k p_k = 1``. Multiplying by T gives the
*distance form* used by the z3 proofs: with ``sigma = -T tau`` and ``q_k = T [u_k - tau]_+``,

    q_k = [sigma - d_k / 2]_+,      sum_k q_k^2 = T^2,      p_k = (q_k / T)^2,

which is polynomial (with the complementarity ``q_k (q_k - (sigma - d_k/2)) = 0`` for the
positive part), so statements about one row hold over *all* reals d_1..d_K, T > 0 when z3
finds the negation unsatisfiable. The encoding has exactly one solution for every d and
T > 0 (existence: ``phi(sigma) = sum_k [sigma - d_k/2]_+^2`` is continuous, 0 at
``sigma = min d / 2`` and unbounded; uniqueness is proved below by z3 for K = 2, 3 and by
the strict monotonicity of phi in general), so a property of every solution is a property
of entmax15. Statements are symmetric under permuting the centres; where a z3 proof is
written for centre 0 it covers every centre.
"""

import itertools
import random

import mpmath
import pytest
import sympy as sp
import z3

from kmeans_rbf.multiprecision import entmax15 as _mp_entmax15
from kmeans_rbf.multiprecision import free_energy as _mp_free_energy
from kmeans_rbf.multiprecision import objective as _mp_objective
from kmeans_rbf.proving import assert_identity, assert_implies, model_of

# --- helpers ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _restore_mpmath_precision():
    """The spot checks raise mpmath's global precision; give it back afterwards."""
    dps = mpmath.mp.dps
    yield
    mpmath.mp.dps = dps


def _entmax_row_z3(K, prefix=""):
    """z3 variables and constraints of one entmax15 row in distance form (module doc)."""
    d = z3.RealVector(prefix + "d", K)
    q = z3.RealVector(prefix + "q", K)
    T, sigma = z3.Reals(prefix + "T " + prefix + "sigma")
    constraints = [T > 0, z3.Sum([qk * qk for qk in q]) == T * T]
    for k in range(K):
        constraints += [q[k] >= 0, q[k] >= sigma - d[k] / 2, q[k] * (q[k] - (sigma - d[k] / 2)) == 0]
    return d, q, T, sigma, constraints


def _one_hot_z3(q, T, K):
    return z3.Or([z3.And([q[j] == T] + [q[k] == 0 for k in range(K) if k != j]) for j in range(K)])


def _gap_at_least_2T_z3(d, T, K):
    """Some centre j is nearer than every other by at least 2T: d_(2) - d_(1) >= 2T."""
    return z3.Or([z3.And([d[k] - d[j] >= 2 * T for k in range(K) if k != j]) for j in range(K)])


def _random_row(rng, K, spread=6):
    return [mpmath.mpf(rng.uniform(-spread, 0)) for _ in range(K)]


# --- entmax-one-hot-threshold ----------------------------------------------------------


@pytest.mark.claim("entmax-one-hot-threshold")
@pytest.mark.claim("entmax-exact-below-margin")
def test_one_hot_threshold_symbolic():
    """General K. A one-hot row fixes tau; the others vanish iff their gap is >= 2."""
    z_j, tau = sp.symbols("z_j tau", real=True)
    # Step 1: p_j = (z_j/2 - tau)^2 = 1 with z_j/2 - tau > 0 (j is in the support).
    (tau_star,) = sp.solve(sp.Eq(z_j / 2 - tau, 1), tau)
    assert tau_star == z_j / 2 - 1
    # Step 2: an entry with gap g = z_j - z_k has z_k/2 - tau* = 1 - g/2.
    g = sp.Symbol("g", real=True)
    margin = (z_j - g) / 2 - tau_star
    assert margin == 1 - g / 2
    # ... which is <= 0 (p_k = [.]_+^2 = 0) for g = 2 + e, e >= 0, and > 0 for g = 2 - e, e > 0.
    e_nonneg, e_pos = sp.Symbol("e", nonnegative=True), sp.Symbol("e", positive=True)
    assert margin.subs(g, 2 + e_nonneg).is_nonpositive
    assert margin.subs(g, 2 - e_pos).is_positive
    # Step 3: tau is unique: phi(tau) = sum_k [u_k - tau]_+^2 has, on each piece, derivative
    # -2 (u_k - tau) < 0 from every support term, so phi is strictly decreasing while
    # positive and phi(tau) = 1 has one root.
    u = sp.Symbol("u", real=True)
    assert sp.diff((u - tau) ** 2, tau) == -2 * (u - tau)
    # Step 4: in distances, g = (d_k - d_j) / T and T > 0: g >= 2  <=>  d_k - d_j >= 2T
    # (the sign of T is what makes it an equivalence).
    zg, zgap, zT = z3.Reals("g Delta T")
    assert_implies([zT > 0, zg * zT == zgap], (zg >= 2) == (zgap >= 2 * zT))


@pytest.mark.claim("entmax-one-hot-threshold")
@pytest.mark.claim("entmax-exact-below-margin")
@pytest.mark.parametrize("K", [2, 3])
def test_one_hot_threshold_over_all_reals_z3(K):
    d, q, T, _, constraints = _entmax_row_z3(K)
    assert_implies(constraints, _one_hot_z3(q, T, K) == _gap_at_least_2T_z3(d, T, K))


@pytest.mark.claim("entmax-one-hot-threshold")
@pytest.mark.parametrize("K", [2, 3])
def test_entmax_row_is_unique_z3(K):
    # The distance-form encoding pins the row down: two solutions (sigma, q), (sigma2, q2)
    # for the same d and T cannot have sigma < sigma2 (by symmetry, nor sigma > sigma2), and
    # sigma determines q_k = [sigma - d_k/2]_+. (Asking z3 directly for q == q2 is
    # equivalent but takes ~50 s for K = 3; this form takes milliseconds.)
    d, q, T, sigma, constraints = _entmax_row_z3(K)
    q2 = z3.RealVector("q2", K)
    sigma2 = z3.Real("sigma2")
    other = [z3.Sum([v * v for v in q2]) == T * T]
    for k in range(K):
        other += [q2[k] >= 0, q2[k] >= sigma2 - d[k] / 2, q2[k] * (q2[k] - (sigma2 - d[k] / 2)) == 0]
    assert_implies(constraints + other, z3.Not(sigma < sigma2))
    assert_implies(constraints + other + [sigma == sigma2], z3.And([q[k] == q2[k] for k in range(K)]))


@pytest.mark.claim("entmax-one-hot-threshold")
def test_one_hot_threshold_numeric_mpmath():
    # At 60 digits: rows whose top gap is 2 + 1e-30 are one-hot, 2 - 1e-30 are not
    # (the runner-up gets (1e-30/2)^2-ish mass, ~1e-61, far above 60-digit noise after
    # the square is taken of a 1e-31 margin computed to 1e-60).
    mpmath.mp.dps = 60
    rng = random.Random(20260306)
    for K in (2, 3, 5):
        for _ in range(20):
            rest = _random_row(rng, K - 2, spread=10)
            for sign in (+1, -1):
                gap = 2 + sign * mpmath.mpf("1e-30")
                p = _mp_entmax15([0, -gap] + [-gap - abs(v) for v in rest])
                assert abs(sum(p) - 1) < mpmath.mpf("1e-50")
                one_hot = all(v == 0 for v in p[1:])
                assert one_hot == (sign > 0)


# --- entmax-exact-below-margin ---------------------------------------------------------


@pytest.mark.claim("entmax-exact-below-margin")
def test_one_hot_rows_have_zero_jacobian_and_zero_entropy():
    # At p = e_j, s = sqrt(p) = e_j: J = diag(s) - s s^T / sum s = 0, so the term of the
    # L_T gradient through r, J a, is 0 for every a; H_1.5(e_j) = (4/3)(1 - 1) = 0, so
    # F_T = L_T = sum_k p_k d_k = d_j = min_k d_k = J per point (the weighted sum at a
    # vertex is its entry: a definition, not a step to check).
    for K in range(1, 7):
        for j in range(K):
            s = sp.Matrix([1 if k == j else 0 for k in range(K)])
            jacobian = sp.diag(*s) - s * s.T / sum(s)
            assert jacobian == sp.zeros(K, K)
            assert sp.Rational(4, 3) * (1 - sum(v ** sp.Rational(3, 2) for v in s)) == 0
    # The soft step with one-hot weights is the Lloyd step: the same weights (the argmax of
    # r is the argmin of d, claim voronoi-order), so the same weighted means.


@pytest.mark.claim("entmax-exact-below-margin")
def test_softmax_rate_symbolic():
    # Row with regrets 0 = rho_1 < m <= rho_k, y_k = exp(-rho_k / T) in (0, Y], Y = e^{-m/T}.
    # (a) 1 - r_1 = S / (1 + S), S = sum_{k>1} y_k: Y/2 <= S/(1+S) <= (K-1) Y on the row
    #     attaining m (z3 below); (b) rho e^{-rho/T} is decreasing for rho >= T:
    rho, T = sp.symbols("rho T", positive=True)
    derivative = sp.diff(rho * sp.exp(-rho / T), rho)
    assert_identity(derivative - (1 - rho / T) * sp.exp(-rho / T))
    excess = sp.Symbol("excess", nonnegative=True)  # rho = T + excess >= T
    assert sp.simplify(derivative.subs(rho, T + excess)).is_nonpositive
    # so for T <= m: L_T - J = (1/N) sum_i sum_k r_ik rho_ik <= (K-1) m e^{-m/T}, and the
    # row attaining m contributes at least m e^{-m/T} / K (its partition function is <= K).
    # Spot check of (a) and (b) at 50 digits at random points.
    mpmath.mp.dps = 50
    rng = random.Random(7)
    for _ in range(50):
        m, t = mpmath.mpf(rng.uniform(0.1, 5)), mpmath.mpf(rng.uniform(0.01, 1))
        t = min(t, m)
        rhos = [m] + [m + mpmath.mpf(rng.uniform(0, 5)) for _ in range(rng.randint(0, 3))]
        K = len(rhos) + 1
        y = [mpmath.e ** (-r / t) for r in rhos]
        S, Y = sum(y), mpmath.e ** (-m / t)
        assert Y / 2 <= S / (1 + S) <= (K - 1) * Y
        excess_L = sum(r * v for r, v in zip(rhos, y)) / (1 + S)
        assert m * Y / K <= excess_L <= (K - 1) * m * Y


@pytest.mark.claim("entmax-exact-below-margin")
@pytest.mark.parametrize("K", [2, 3, 4, 5])
def test_softmax_rate_over_all_reals_z3(K):
    y = z3.RealVector("y", K - 1)
    Y = z3.Real("Y")
    S = z3.Sum(y)
    hypotheses = [Y > 0, Y <= 1, y[0] == Y] + [z3.And(v > 0, v <= Y) for v in y]
    # Y/2 <= S/(1+S) <= (K-1) Y, cleared of the positive denominator 1 + S.
    assert_implies(hypotheses, z3.And(Y * (1 + S) <= 2 * S, S <= (K - 1) * Y * (1 + S)))


# --- voronoi-order and entmax-order-converse --------------------------------------------


@pytest.mark.claim("voronoi-order")
def test_order_preservation_symbolic():
    a, b = sp.symbols("a b", real=True)
    # Softmax: p_j / p_k = exp(z_j - z_k), and exp is strictly increasing (exp' = exp > 0),
    # so p_j > p_k <=> z_j > z_k and p_j = p_k <=> z_j = z_k.
    x = sp.Symbol("x", real=True)
    assert sp.diff(sp.exp(x), x) == sp.exp(x) and sp.exp(x).is_positive
    assert_identity(sp.exp(a) / sp.exp(b) - sp.exp(a - b))
    # Entmax15: p_k = f(z_k) with f(z) = [z/2 - tau]_+^2 and one tau for the whole row.
    # Write z_j/2 - tau = alpha and z_k = z_j - 2 beta (beta >= 0 <=> z_j >= z_k).
    beta = sp.Symbol("beta", positive=True)
    # Case z_j in the support (alpha > 0): if z_k is too (alpha - beta > 0),
    # f(z_j) - f(z_k) = alpha^2 - (alpha - beta)^2 = beta (2 alpha - beta) > 0;
    # otherwise f(z_j) - f(z_k) = alpha^2 > 0.
    alpha_pos, gamma_pos = sp.symbols("alpha gamma", positive=True)
    difference = sp.expand((beta + gamma_pos) ** 2 - gamma_pos**2)  # alpha = beta + gamma
    assert_identity(difference - beta * (beta + 2 * gamma_pos), by=sp.expand)
    assert difference.is_positive
    assert (alpha_pos**2).is_positive
    # Case z_j outside the support (alpha <= 0): then z_k/2 - tau = alpha - beta < 0 too and
    # f(z_j) = f(z_k) = 0: equal, whatever the order. Hence z_j >= z_k => p_j >= p_k, with
    # p_j > p_k when z_j > z_k and p_j > 0: argmax_k p_k = argmax_k z_k = argmin_k d_k
    # (the largest z has p = (max u - tau)^2 > 0 since the row sums to 1).
    alpha_nonpos = sp.Symbol("alpha", nonpositive=True)
    assert (alpha_nonpos - beta).is_negative
    # Spot check at random 50-digit points: monotone, and strict on the support.
    mpmath.mp.dps = 50
    rng = random.Random(11)
    for _ in range(100):
        z = _random_row(rng, rng.randint(2, 6))
        p = _mp_entmax15(z)
        soft = [mpmath.e**v / sum(mpmath.e**w for w in z) for v in z]
        for j, k in itertools.permutations(range(len(z)), 2):
            if z[j] > z[k]:
                assert soft[j] > soft[k] and p[j] >= p[k]
                assert p[j] > p[k] or p[j] == 0
        top = max(range(len(z)), key=lambda k: z[k])
        assert max(range(len(z)), key=lambda k: p[k]) == top


@pytest.mark.claim("voronoi-order")
@pytest.mark.parametrize("K", [2, 3])
def test_entmax_order_over_all_reals_z3(K):
    d, q, T, _, constraints = _entmax_row_z3(K)
    for j, k in itertools.permutations(range(K), 2):
        # d_j <= d_k => p_j >= p_k (monotone), and p_j >= p_k with p_j > 0 => d_j <= d_k.
        assert_implies(constraints, z3.Implies(d[j] <= d[k], q[j] >= q[k]))
        assert_implies(constraints, z3.Implies(z3.And(q[j] >= q[k], q[j] > 0), d[j] <= d[k]))
    # The argmax sets coincide: p_j is a largest entry iff d_j is a smallest distance.
    for j in range(K):
        largest = z3.And([q[j] >= q[k] for k in range(K)])
        nearest = z3.And([d[j] <= d[k] for k in range(K)])
        assert_implies(constraints, largest == nearest)


@pytest.mark.claim("entmax-order-converse")
def test_order_converse_fails_off_the_support_z3():
    # "p_j >= p_k => z_j >= z_k" is false for entmax15: z3 finds a row with p_1 = p_2 = 0
    # and d_1 > d_2 (centre 1 farther, yet p_1 >= p_2).
    d, q, T, _, constraints = _entmax_row_z3(3)
    model = model_of([*constraints, q[1] >= q[2], d[1] > d[2]])
    assert model.eval(q[1]) == 0 and model.eval(q[2]) == 0
    # The recorded counterexample: z = (0, -3, -4): p = (1, 0, 0), p_3 >= p_2, z_3 < z_2.
    mpmath.mp.dps = 30
    p = _mp_entmax15([0, -3, -4])
    assert p == [1, 0, 0]


# --- entmax-support --------------------------------------------------------------------


@pytest.mark.claim("entmax-support")
@pytest.mark.claim("dead-centre-permanence")
@pytest.mark.claim("empty-clusters")
def test_support_characterisation_symbolic():
    # phi(tau) = sum_l [u_l - tau]_+^2 is strictly decreasing (test_one_hot_threshold_symbolic,
    # step 3) and phi(tau*) = 1. So u_k > tau* <=> phi(u_k) < phi(tau*) = 1, and
    # phi(u_k) = sum_l [u_l - u_k]_+^2 = sum_l [d_k - d_l]_+^2 / (4 T^2):
    d_k, d_l = sp.symbols("d_k d_l", real=True)
    T = sp.Symbol("T", positive=True)
    u_k, u_l = -d_k / (2 * T), -d_l / (2 * T)
    assert_identity((u_l - u_k) ** 2 - (d_k - d_l) ** 2 / (4 * T**2))
    # so k is in the support iff sum_l [d_k - d_l]_+^2 < 4 T^2. The l = argmin term alone
    # gives the inclusion: (d_k - d_min)^2 < 4T^2, i.e. d_k < d_min + 2T (d_k >= d_min).
    # Tightness: with one nearer centre the sum is that one term (equality of the two
    # conditions); with two centres tied nearest it is 2 (d_k - d_min)^2, threshold sqrt(2) T.
    gap = sp.Symbol("g", positive=True)
    assert sp.solve(sp.Eq(2 * gap**2, 4 * T**2), gap) == [sp.sqrt(2) * T]
    # Spot check at 50 digits: support == {k : sum_l [z_l - z_k]_+^2 / 4 < 1}.
    mpmath.mp.dps = 50
    rng = random.Random(3)
    for _ in range(100):
        z = _random_row(rng, rng.randint(2, 6), spread=4)
        p = _mp_entmax15(z)
        for k, zk in enumerate(z):
            phi = sum(max(zl - zk, 0) ** 2 for zl in z) / 4
            assert (p[k] > 0) == (phi < 1)
            if p[k] > 0:
                assert max(z) - zk < 2
    # The recorded strict case: d = (0, 0, 1.9 T) has d_3 < d_min + 2T but p_3 = 0.
    p = _mp_entmax15([0, 0, -1.9])
    assert p[2] == 0 and abs(p[0] - mpmath.mpf(1) / 2) < mpmath.mpf("1e-45")


@pytest.mark.claim("entmax-support")
@pytest.mark.claim("empty-clusters")
@pytest.mark.parametrize("K", [2, 3])
def test_support_over_all_reals_z3(K):
    # Centre 0 stands for every centre (the encoding is symmetric under permutations).
    d, q, T, _, constraints = _entmax_row_z3(K)
    S = z3.Sum([z3.If(d[0] > d[l], (d[0] - d[l]) * (d[0] - d[l]), 0) for l in range(K)])
    assert_implies(constraints, (q[0] > 0) == (S < 4 * T * T))
    in_thickened_cell = z3.And([d[0] - d[l] < 2 * T for l in range(1, K)])
    assert_implies(constraints, z3.Implies(q[0] > 0, in_thickened_cell))


# --- dead-centres and dead-centre-permanence -------------------------------------------


@pytest.mark.claim("dead-centres")
def test_dead_centre_has_zero_gradient_symbolic():
    # Row k of the entmax Jacobian J = diag(s) - s s^T / sum s is s_k (e_k - s / sum s), and
    # the weight of the L_T gradient g_ik = r_ik - (J a)_k = s_k (s_k - a_k + s.a / sum s):
    # both carry the factor s_k = sqrt(r_ik). A dead centre has r_ik = 0 for every i, so
    # g_ik = 0: grad_{c_k} L_T = (2/N) sum_i g_ik (c_k - x_i) = 0, and
    # grad_{c_k} F_T = (2/N) sum_i r_ik (c_k - x_i) = 0; the mass n_k = sum_i r_ik = 0.
    for K in range(2, 7):
        s = sp.Matrix(sp.symbols(f"s0:{K}", positive=True))
        a = sp.Matrix(sp.symbols(f"a0:{K}", real=True))
        jacobian = sp.diag(*s) - s * s.T / sum(s)
        unit = sp.Matrix([[1] + [0] * (K - 1)])
        assert_identity(jacobian.row(0) - s[0] * (unit - s.T / sum(s)))
        g0 = s[0] ** 2 - (jacobian * a)[0]
        assert_identity(g0 - s[0] * (s[0] - a[0] + (s.T * a)[0] / sum(s)))
    # End to end at 50 digits: a centre dead at C (every regret >= 2T) stays dead nearby, so
    # the derivatives of L_T and F_T in its coordinates (mpmath.diff, no gradient formula)
    # vanish; a live centre's do not.
    mpmath.mp.dps = 50
    X = [[mpmath.mpf(0)], [mpmath.mpf(1)], [mpmath.mpf(3)]]
    C = [[mpmath.mpf("0.4")], [mpmath.mpf(3)], [mpmath.mpf(9)]]  # c_2 = 9: regrets >= 36 >= 2T
    T = mpmath.mpf(1)
    for value in (_mp_objective, _mp_free_energy):
        def moved(t, k):
            return value(X, [[t] if j == k else c for j, c in enumerate(C)], T, "entmax15")
        assert abs(mpmath.diff(lambda t: moved(t, 2), C[2][0])) < mpmath.mpf("1e-40")
        assert abs(mpmath.diff(lambda t: moved(t, 0), C[0][0])) > mpmath.mpf("1e-3")


@pytest.mark.claim("dead-centre-permanence")
def test_convex_combination_is_no_farther_than_the_farthest_point():
    # Lemma: for weights w_j >= 0 summing to 1 and xbar = sum_j w_j x_j, per coordinate
    #   sum_j w_j (x - x_j)^2 = (x - xbar)^2 + sum_j w_j (x_j - xbar)^2,
    # so ||x - xbar||^2 <= sum_j w_j ||x - x_j||^2 <= max_j ||x - x_j||^2. With
    # S0 = sum w_j = 1, S1 = sum w_j x_j, S2 = sum w_j x_j^2 both sides are functions of the
    # moments (linearity of the sums), for every N:
    x, S1, S2 = sp.symbols("x S1 S2", real=True)
    S0 = 1
    left = x**2 * S0 - 2 * x * S1 + S2
    right = (x - S1) ** 2 + (S2 - 2 * S1 * S1 + S1**2 * S0)
    assert_identity(left - right, by=sp.expand)
    # and over all reals with z3 (S0 = 1 as a hypothesis):
    xz, s0, s1, s2 = z3.Reals("x s0 s1 s2")
    assert_implies([s0 == 1], xz * xz * s0 - 2 * xz * s1 + s2 == (xz - s1) ** 2 + s2 - 2 * s1 * s1 + s1 * s1 * s0)
    # The moments identity expands correctly for concrete N (sympy, N = 2..5; N = 1 is
    # the point itself).
    for N in range(2, 6):
        w = sp.symbols(f"w0:{N}", nonnegative=True)
        xs = sp.symbols(f"x0:{N}", real=True)
        xbar = sum(wj * xj for wj, xj in zip(w, xs))
        direct = sum(wj * (x - xj) ** 2 for wj, xj in zip(w, xs))
        spread = sum(wj * (xj - xbar) ** 2 for wj, xj in zip(w, xs))
        residual = (direct - (x - xbar) ** 2 - spread).subs(w[-1], 1 - sum(w[:-1]))
        assert_identity(residual, by=sp.expand)
    # Spot check at 50 digits.
    mpmath.mp.dps = 50
    rng = random.Random(9)
    for _ in range(30):
        pts = [mpmath.mpf(rng.uniform(-5, 5)) for _ in range(4)]
        w = [mpmath.mpf(rng.random()) for _ in range(4)]
        w = [v / sum(w) for v in w]
        xq = mpmath.mpf(rng.uniform(-9, 9))
        xbar = sum(a * b for a, b in zip(w, pts))
        assert (xq - xbar) ** 2 <= max((xq - p) ** 2 for p in pts) + mpmath.mpf("1e-45")


# --- empty-clusters --------------------------------------------------------------------


@pytest.mark.claim("empty-clusters")
def test_softmax_soft_step_limit_symbolic():
    # Softmax soft step for centre k: c_k(T) = sum_i w_i x_i / sum_i w_i with
    # w_i = r_ik e^{rho*/T} = e^{-(rho_ik - rho*)/T} / Z_i, Z_i = mu_i + sum_{l: rho_il > 0}
    # e^{-rho_il/T}, rho* = min_i rho_ik, mu_i = #{l : rho_il = 0}. With t = e^{-1/T} -> 0+
    # (T -> 0+), every e^{-a/T} = t^a with a > 0 tends to 0:
    t, a = sp.Symbol("t", positive=True), sp.Symbol("a", positive=True)
    assert sp.limit(t**a, t, 0, "+") == 0
    assert sp.limit(sp.exp(-a / t), t, 0, "+") == 0  # the same in T
    # so w_i -> 1/mu_i if rho_ik = rho* and -> 0 otherwise, and the weighted mean tends to
    # the mean of A weighted by 1/mu_i. The limit itself, computed by sympy in t for every
    # pattern of N = 4 points (symbolic coordinates): excess regrets rho_ik - rho* in
    # {0, 1, 2} (0 marks A, not empty), mu_i in {1, 2}, the other centres' regrets 1.
    xs = sp.symbols("x0:4", real=True)
    for excess in itertools.product((0, 1, 2), repeat=4):
        if 0 not in excess:
            continue
        mus = [1 + (i + sum(excess)) % 2 for i in range(4)]
        w = [t**e / (mu + t) for e, mu in zip(excess, mus)]
        c = sum(wi * xi for wi, xi in zip(w, xs)) / sum(w)
        A = [i for i, e in enumerate(excess) if e == 0]
        expected = sum(xs[i] / mus[i] for i in A) / sum(sp.Rational(1, mus[i]) for i in A)
        assert_identity(sp.Limit(c, t, 0, "+") - expected)
    # Numeric spot check at 60 digits: at T = 0.02 with excess regret 1 and margins 1 the
    # step is within e^{-1/T} ~ 2e-22 (times the data scale) of the limit.
    mpmath.mp.dps = 60
    T = mpmath.mpf("0.02")
    xs, mus, rho_star = [mpmath.mpf(1), mpmath.mpf(4), mpmath.mpf(-3)], [1, 2, 1], mpmath.mpf(2)
    excess, others = [0, 0, 1], [mpmath.mpf(1), mpmath.mpf(1), mpmath.mpf(1)]
    weights = [
        mpmath.e ** (-(rho_star + e) / T) / (mu + mpmath.e ** (-o / T))
        for e, mu, o in zip(excess, mus, others)
    ]
    value = sum(wi * xi for wi, xi in zip(weights, xs)) / sum(weights)
    expected = (xs[0] / 1 + xs[1] / 2) / (1 + mpmath.mpf(1) / 2)
    assert abs(value - expected) < 10 * mpmath.e ** (-1 / T)


# --- dead-centre-revival (refuted) -----------------------------------------------------


@pytest.mark.claim("dead-centre-revival")
def test_revival_counterexample_exactly():
    # X = {0, 6}, C = (1, -5/2), T = 1, in exact rationals. A row is one-hot on its nearest
    # centre iff its gap is >= 2T (entmax-one-hot-threshold); every row below has a gap
    # >= 2T, so each soft step is a Lloyd step with a kept empty centre.
    X, T = [sp.Integer(0), sp.Integer(6)], 1
    C = [sp.Integer(1), sp.Rational(-5, 2)]
    masses = []
    for _ in range(3):
        d = [[(x - c) ** 2 for c in C] for x in X]
        assert all(abs(row[0] - row[1]) >= 2 * T for row in d)
        nearest = [0 if row[0] < row[1] else 1 for row in d]
        masses.append([nearest.count(k) for k in range(2)])
        C = [
            sum(x for x, j in zip(X, nearest) if j == k) / nearest.count(k) if k in nearest else C[k]
            for k in range(2)
        ]
    # dead at the start (mass 0), alive after the other centre moved: revived
    assert masses == [[2, 0], [1, 1], [1, 1]]
    assert C == [6, 0]
