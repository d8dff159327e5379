"""Convergence as T -> 0: derivations, symbolic and SMT proofs (conventions: theory/conventions.md).

Claims (theory/convergence.md, registry theory/claims.toml):

* ``sandwich``              J - T H_max <= F_T <= J <= L_T <= J + T H_max, both maps, every C;
* ``softmax-excess-bound``  L_T - J <= (K - 1) T / e for softmax;
* ``uniform-rate``          the sharp constants: sup_C (L_T - J) = c_K T (c_K = W((K-1)/e)
                            for softmax, a closed algebraic number for entmax-1.5), and
                            sup_C (J - F_T) = H_max T, attained;
* ``gamma-convergence``     uniform convergence, hence Gamma-convergence of L_T, F_T to J;
* ``minimisers-compact``    minimisers on a compact set are c T-minimisers of J, and converge;
* ``fixed-points-hull``     "the convex hull contains every fixed point": false for Lloyd
                            (empty cells) and entmax (dead centres), true for softmax;
* ``no-equicoercivity``     a centre can leave to infinity at bounded cost;
* ``rates``                 the rates at fixed C: exponential (softmax), exactly 0 below a
                            finite temperature (entmax), linear for F_T when points are tied.

Everything is per point and then averaged over the points (a mean of inequalities is an
inequality), with the per-point notation: regrets ``a_k = d_k - min_l d_l >= 0`` (``a = 0``
on the ``s >= 1`` tied nearest centres), ``L - J = sum_k r_k a_k``, and ``F - J =
min_p [p.a - T H(p)]`` (shift invariance). Every identity is checked by sympy (residual
simplifies to 0) and at random points by mpmath at 50 digits; every polynomial statement
over the reals is also proved by z3 (its negation is unsat).
"""

import random

import mpmath
import pytest
import sympy as sp
import z3

from kmeans_rbf.multiprecision import entmax15 as _mp_entmax15
from kmeans_rbf.multiprecision import softmax as _mp_softmax
from kmeans_rbf.proving import assert_identity, assert_implies, model_of

mpmath.mp.dps = 50
_EPS = mpmath.mpf("1e-40")  # 50-digit arithmetic: identities must hold to ~1e-45


def _random_simplex(rng, K):
    weights = [mpmath.mpf(rng.random()) ** 3 for _ in range(K)]  # cubed: near-faces too
    total = sum(weights)
    return [w / total for w in weights]


def _shannon(p):
    return -sum(pk * mpmath.log(pk) for pk in p if pk > 0)


def _tsallis15(p):
    return mpmath.mpf(4) / 3 * (1 - sum(pk ** mpmath.mpf(1.5) for pk in p))


def _tsallis15_symbolic(p):
    return sp.Rational(4, 3) * (1 - sum(pk ** sp.Rational(3, 2) for pk in p))


def entmax_sharp_constant(K):
    """c_K = sup (L_T - J)/T for entmax-1.5, in closed form (claim uniform-rate).

    With m = K - 1: y = (9 + 12 m - 3 sqrt(9 + 8 m)) / (18 m (m + 1)) and
    c_K = 2 m y (sqrt(1 - m y) - sqrt(y)), attained when the m non-nearest centres all have
    regret T t_K, t_K = 2 (sqrt(1 - m y) - sqrt(y)). Returns sympy expressions (c_K, t_K).
    """
    m = sp.Integer(K - 1)
    y = (9 + 12 * m - 3 * sp.sqrt(9 + 8 * m)) / (18 * m * (m + 1))
    return 2 * m * y * (sp.sqrt(1 - m * y) - sp.sqrt(y)), 2 * (sp.sqrt(1 - m * y) - sp.sqrt(y))


# --- claim sandwich: the entropy maxima ------------------------------------------------


@pytest.mark.claim("sandwich")
def test_shannon_entropy_is_at_most_log_k():
    # Step 1, the lemma log y >= 1 - 1/y (y > 0): g(y) = log y - 1 + 1/y has
    # g'(y) = (y - 1)/y^2, negative on (0, 1) and positive on (1, oo), and g(1) = 0.
    y = sp.Symbol("y", positive=True)
    g = sp.log(y) - 1 + 1 / y
    assert_identity(sp.diff(g, y) - (y - 1) / y**2)
    assert g.subs(y, 1) == 0
    # Step 2 (Gibbs): on the support S of p, log K - H(p) = sum_S p_k log(K p_k)
    #   >= sum_S p_k (1 - 1/(K p_k)) = 1 - |S|/K >= 0, by the lemma at y = K p_k.
    for K in range(2, 5):
        p = sp.symbols(f"p0:{K}", positive=True)
        simplex = {p[-1]: 1 - sum(p[:-1])}
        residual = sp.log(K) + sum(pk * sp.log(pk) for pk in p) - sum(pk * sp.log(K * pk) for pk in p)
        assert_identity(sp.expand_log(residual.subs(simplex), force=True))
        lower = sum(pk * (1 - 1 / (K * pk)) for pk in p)
        assert_identity(lower.subs(simplex))  # = 1 - K/K on a full support
    # Step 3 (Lagrange, K = 2, 3): the only stationary point of H on the simplex is the
    # uniform point, the Hessian -diag(1/p) is negative definite, and H there is log K.
    for K in (2, 3):
        p = sp.symbols(f"p0:{K}", positive=True)
        lam = sp.Symbol("lam", real=True)
        H = -sum(pk * sp.log(pk) for pk in p)
        stationary = sp.solve([sp.diff(H, pk) - lam for pk in p] + [sum(p) - 1], [*p, lam], dict=True)
        assert len(stationary) == 1 and all(stationary[0][pk] == sp.Rational(1, K) for pk in p)
        assert_identity(sp.Subs(H, p, [stationary[0][pk] for pk in p]) - sp.log(K))
        assert sp.hessian(H, p).subs(stationary[0]).is_negative_definite
    # Numerically at random points of the simplex (faces included), 50 digits.
    rng = random.Random(1)
    for K in range(1, 8):
        for _ in range(20):
            assert _shannon(_random_simplex(rng, K)) <= mpmath.log(K) + _EPS
        assert abs(_shannon([mpmath.mpf(1) / K] * K) - mpmath.log(K)) < _EPS


@pytest.mark.claim("sandwich")
def test_tsallis_entropy_is_at_most_its_uniform_value():
    # H_1.5(p) = (4/3)(1 - sum p_k^1.5); with s_k = sqrt(p_k) the claim is the polynomial
    # inequality sum s_k^3 >= u = K^(-1/2) whenever s >= 0 and sum s_k^2 = 1.
    # Step 1, the tangent line of the convex t -> t^1.5 at t = u^2, written in s = sqrt(t):
    #   s^3 - u^3 - (3/2) u (s^2 - u^2) = (s - u)^2 (s + u/2) >= 0 for s, u >= 0.
    s, u = sp.symbols("s u", nonnegative=True)
    tangent_gap = s**3 - u**3 - sp.Rational(3, 2) * u * (s**2 - u**2)
    assert_identity(tangent_gap - (s - u) ** 2 * (s + u / 2), by=sp.expand)
    zs, zu = z3.Reals("s u")
    assert_implies([zs >= 0, zu >= 0], zs**3 >= zu**3 + z3.Q(3, 2) * zu * (zs**2 - zu**2))
    # Step 2, summing the tangent lines over k: sum s^3 >= K u^3 + (3/2) u (1 - K u^2) = u
    # when K u^2 = 1 (checked symbolically for every K).
    K = sp.Symbol("K", positive=True)
    total = K * u**3 + sp.Rational(3, 2) * u * (1 - K * u**2)
    assert_identity(sp.Subs(total, u, 1 / sp.sqrt(K)) - 1 / sp.sqrt(K))
    # Step 3: equality at the uniform point, so H_max = (4/3)(1 - K^-1/2) (the entropy's
    # definition evaluated at p = (1/K, ..., 1/K), K = 1..6).
    for K_value in range(1, 7):
        p = sp.symbols(f"p0:{K_value}", positive=True)
        assert_identity(sp.Subs(_tsallis15_symbolic(p), p, [sp.Rational(1, K_value)] * K_value)
                        - sp.Rational(4, 3) * (1 - 1 / sp.sqrt(K_value)))
    # z3 over all reals, K = 2 directly (K = 3 in the slow test below).
    s0, s1, zu = z3.Reals("s0 s1 u")
    assert_implies([s0 >= 0, s1 >= 0, s0 * s0 + s1 * s1 == 1, zu > 0, 2 * zu * zu == 1], s0**3 + s1**3 >= zu)
    # Numerically at random points, 50 digits.
    rng = random.Random(2)
    for K_value in range(1, 8):
        H_max = mpmath.mpf(4) / 3 * (1 - mpmath.mpf(K_value) ** -0.5)
        for _ in range(20):
            assert _tsallis15(_random_simplex(rng, K_value)) <= H_max + _EPS
        assert abs(_tsallis15([mpmath.mpf(1) / K_value] * K_value) - H_max) < _EPS


@pytest.mark.slow
@pytest.mark.claim("sandwich")
def test_tsallis_entropy_maximum_k3_over_all_reals_z3():
    # The K = 3 case without the tangent-line hint: ~15 s of nonlinear real arithmetic.
    s = z3.Reals("s0 s1 s2")
    u = z3.Real("u")
    assert_implies([*[sk >= 0 for sk in s], z3.Sum([sk * sk for sk in s]) == 1, u > 0, 3 * u * u == 1],
                   z3.Sum([sk**3 for sk in s]) >= u)


# --- claim sandwich: the variational forms and the chain -------------------------------


@pytest.mark.claim("sandwich")
def test_free_energy_closed_forms_are_the_minima():
    # Softmax: for p on the simplex, p.d - T H(p) = -T log Z + T KL(p || r), r = softmax(-d/T),
    # Z = sum exp(-d_k/T); KL >= 0 (Gibbs, the lemma above), so the minimum is -T log Z,
    # attained at p = r. Checked symbolically for K = 2, 3 on the interior of the simplex.
    T = sp.Symbol("T", positive=True)
    for K in (2, 3):
        d = sp.symbols(f"d0:{K}", nonnegative=True)
        p = sp.symbols(f"p0:{K}", positive=True)
        Z = sum(sp.exp(-dk / T) for dk in d)
        r = [sp.exp(-dk / T) / Z for dk in d]
        value = sum(pk * dk for pk, dk in zip(p, d)) + T * sum(pk * sp.log(pk) for pk in p)
        kl = sum(pk * (sp.log(pk) - sp.log(rk)) for pk, rk in zip(p, r))
        residual = (value - (-T * sp.log(Z) + T * kl)).subs(p[-1], 1 - sum(p[:-1]))
        assert_identity(residual, by=lambda e: sp.simplify(sp.expand_log(sp.expand(e), force=True)))
    # Entmax-1.5: p_k = [z_k/2 - tau]_+^2 with z = -d/T satisfies the KKT conditions of the
    # convex problem min_p p.d - T (4/3)(1 - sum p^1.5): on the support the derivative
    # d_k + 2 T sqrt(p_k) equals the constant -2 T tau; off it d_k >= -2 T tau.
    dk, tau = sp.Symbol("d_k", nonnegative=True), sp.Symbol("tau", real=True)
    q, root = sp.Symbol("q", positive=True), sp.Symbol("root", positive=True)  # root = sqrt(p_k)
    entropy_slope = sp.diff(sp.Rational(4, 3) * (1 - q ** sp.Rational(3, 2)), q)  # -2 sqrt(q)
    derivative = dk - T * entropy_slope.subs(q, root**2)  # d_k + 2 T sqrt(p_k)
    on_support = derivative.subs(root, -dk / (2 * T) - tau)
    assert_identity(on_support - (-2 * T * tau))
    # 50 digits, random points: the closed forms equal the minima found by evaluating at the
    # maps, and no random p does better.
    rng = random.Random(3)
    for K in (2, 3, 5):
        for _ in range(5):
            d_values = [mpmath.mpf(rng.uniform(0, 5)) for _ in range(K)]
            T_value = mpmath.mpf(rng.uniform(0.05, 3))
            z = [-dv / T_value for dv in d_values]
            for mapping, entropy, closed in (
                (_mp_softmax, _shannon, -T_value * mpmath.log(sum(mpmath.exp(zk) for zk in z))),
                (_mp_entmax15, _tsallis15, None),
            ):
                r = mapping(z)
                best = sum(rk * dv for rk, dv in zip(r, d_values)) - T_value * entropy(r)
                if closed is not None:
                    assert abs(best - closed) < _EPS
                for _ in range(20):
                    p = _random_simplex(rng, K)
                    assert sum(pk * dv for pk, dv in zip(p, d_values)) - T_value * entropy(p) >= best - mpmath.mpf("1e-30")


@pytest.mark.claim("sandwich")
def test_objective_is_free_energy_plus_temperature_times_entropy():
    # L_T = F_T + T * mean_i H(r_i): for entmax by definition (F = r.d - T H(r) at the
    # minimiser r); for softmax since H(r) = sum r_k d_k / T + log Z.
    T = sp.Symbol("T", positive=True)
    for K in (2, 3):
        d = sp.symbols(f"d0:{K}", nonnegative=True)
        Z = sum(sp.exp(-dk / T) for dk in d)
        r = [sp.exp(-dk / T) / Z for dk in d]
        H = -sum(rk * sp.log(rk) for rk in r)
        residual = sum(rk * dk for rk, dk in zip(r, d)) - (-T * sp.log(Z) + T * H)
        assert_identity(sp.expand_log(sp.expand(residual), force=True))
    rng = random.Random(4)
    for K in (2, 4):
        d_values = [mpmath.mpf(rng.uniform(0, 5)) for _ in range(K)]
        T_value = mpmath.mpf("0.7")
        r = _mp_softmax([-dv / T_value for dv in d_values])
        L = sum(rk * dv for rk, dv in zip(r, d_values))
        F = -T_value * mpmath.log(sum(mpmath.exp(-dv / T_value) for dv in d_values))
        assert abs(L - (F + T_value * _shannon(r))) < _EPS


@pytest.mark.claim("sandwich")
def test_sandwich_chain_over_all_reals_z3():
    # Per point, for ANY entropy with 0 <= H <= H_max and H = 0 at the vertices of the
    # simplex (both maps, by the two tests above):
    #  * F_i = r_i.d_i - T H(r_i)            (the minimum is attained at r_i)
    #  * F_i <= d_ik - T H(e_k) = d_ik        (compare with every vertex e_k)
    #  * J_i = min_k d_ik, L_i = r_i.d_i.
    # z3 proves J_i - T H_max <= F_i <= J_i <= L_i <= J_i + T H_max for K = 2, 3, 4 (the
    # argument uses nothing else about K) ...
    T, H_max = z3.Reals("T H_max")
    for K in (2, 3, 4):
        d = z3.Reals(" ".join(f"d{k}" for k in range(K)))
        r = z3.Reals(" ".join(f"r{k}" for k in range(K)))
        H, F, J = z3.Reals("H F J")
        L = z3.Sum([rk * dk for rk, dk in zip(r, d)])
        facts = [T > 0, H_max >= 0, *[dk >= 0 for dk in d], *[rk >= 0 for rk in r], z3.Sum(r) == 1]
        facts += [H >= 0, H <= H_max, F == L - T * H, *[F <= dk for dk in d]]
        facts += [*[J <= dk for dk in d], z3.Or(*[J == dk for dk in d])]
        chain = z3.And(J - T * H_max <= F, F <= J, J <= L, L <= J + T * H_max)
        assert_implies(facts, chain)
    # ... and the means over the points inherit the chain (linear, N = 3 here).
    N = 3
    L, F, J = (z3.Reals(" ".join(f"{name}{i}" for i in range(N))) for name in "LFJ")
    per_point = [z3.And(J[i] - T * H_max <= F[i], F[i] <= J[i], J[i] <= L[i], L[i] <= J[i] + T * H_max) for i in range(N)]
    Lm, Fm, Jm = (z3.Sum(v) / N for v in (L, F, J))
    chain = z3.And(Jm - T * H_max <= Fm, Fm <= Jm, Jm <= Lm, Lm <= Jm + T * H_max)
    assert_implies([T > 0, H_max >= 0, *per_point], chain)


# --- claim softmax-excess-bound ----------------------------------------------------------


@pytest.mark.claim("softmax-excess-bound")
def test_softmax_excess_per_term_bound():
    # L - J = sum_k a_k e^{-a_k/T} / Z with Z = s + sum_{a_k > 0} e^{-a_k/T} >= 1; the
    # nearest (a = 0) terms vanish, and each of the at most K - 1 others is
    # a e^{-a/T} <= T/e: h(a) = a e^{-a/T} has h' = (1 - a/T) e^{-a/T}, so its maximum is
    # at a = T, where it is T/e.
    a, T = sp.symbols("a T", positive=True)
    h = a * sp.exp(-a / T)
    assert_identity(sp.diff(h, a) - (1 - a / T) * sp.exp(-a / T))
    assert sp.solve(sp.diff(h, a), a) == [T]
    assert_identity(sp.Subs(h, a, T) - T / sp.E)
    assert sp.limit(h, a, sp.oo) == 0 and h.subs(a, 0) == 0
    # The aggregation step, over all reals (z3): with weights E_k = e^{-a_k/T} in (0, 1],
    # a_k E_k <= T/e for each k and Z >= 1, sum_k a_k E_k / Z <= (K - 1) T / e. (K = 4.)
    K = 4
    E = z3.Reals(" ".join(f"E{k}" for k in range(1, K)))
    A = z3.Reals(" ".join(f"a{k}" for k in range(1, K)))
    zT, bound, Z, s = z3.Reals("T bound Z s")  # bound stands for T/e
    facts = [zT > 0, bound > 0, s >= 1, Z == s + z3.Sum(E)]
    facts += [x for Ek, ak in zip(E, A) for x in (Ek > 0, Ek <= 1, ak >= 0, ak * Ek <= bound)]
    assert_implies(facts, z3.Sum([ak * Ek for ak, Ek in zip(A, E)]) <= (K - 1) * bound * Z)
    # 50 digits: random regrets at random temperatures never exceed the bound.
    rng = random.Random(5)
    for K_value in (2, 3, 6):
        for _ in range(30):
            T_value = mpmath.mpf(rng.uniform(0.01, 5))
            regrets = [mpmath.mpf(0)] + [T_value * mpmath.mpf(rng.uniform(0, 4)) for _ in range(K_value - 1)]
            r = _mp_softmax([-x / T_value for x in regrets])
            assert sum(rk * x for rk, x in zip(r, regrets)) <= (K_value - 1) * T_value / mpmath.e + _EPS


# --- claim uniform-rate: the sharp constants ---------------------------------------------


@pytest.mark.claim("uniform-rate")
def test_softmax_sharp_constant_is_lambert_w():
    # w = W((K-1)/e) is the w > 0 with w e^w = (K-1)/e, i.e. (K - 1) e^{-(1 + w)} = w.
    # Step 1: (a - w T) e^{-a/T} has derivative (1 + w - a/T) e^{-a/T}/1: its maximum is at
    #   a = T (1 + w), with value T e^{-(1 + w)}.
    # Step 2: hence sum_{a_k > 0} (a_k - w T) e^{-a_k/T} <= (K - 1) T e^{-(1+w)} = w T
    #   <= w T s, i.e. sum a_k e^{-a_k/T} <= w T (s + sum e^{-a_k/T}) = w T Z: L - J <= w T.
    # Step 3: equality when s = 1 and every other regret is T (1 + w).
    a, T, w = sp.symbols("a T w", positive=True)
    g = (a - w * T) * sp.exp(-a / T)
    assert_identity(sp.diff(g, a) - (1 + w - a / T) * sp.exp(-a / T))
    assert sp.solve(sp.diff(g, a), a) == [T * (1 + w)]
    assert_identity(g.subs(a, T * (1 + w)) - T * sp.exp(-1 - w))
    x = w * sp.exp(w)  # the argument of W, parametrised by its value w
    assert_identity(x * sp.exp(-1 - w) - w / sp.E)  # (K-1) e^{-(1+w)} = w at x = (K-1)/e
    # Step 3, attained: K - 1 equal regrets T(1 + w), Z = 1 + (K-1) e^{-(1+w)} = 1 + w.
    Km1 = sp.Symbol("Km1", positive=True)  # K - 1, with Km1 e^{-(1+w)} = w
    excess = Km1 * T * (1 + w) * sp.exp(-1 - w) / (1 + Km1 * sp.exp(-1 - w))
    assert_identity(excess.subs(Km1, w * sp.exp(1 + w)) - w * T)
    # The aggregation of step 2 over all reals (z3), K = 4, with s tied nearest centres.
    K = 4
    E = z3.Reals(" ".join(f"E{k}" for k in range(1, K)))
    A = z3.Reals(" ".join(f"a{k}" for k in range(1, K)))
    zT, zw, peak, s = z3.Reals("T w peak s")  # peak stands for e^{-(1+w)}
    facts = [zT > 0, zw > 0, peak > 0, (K - 1) * peak == zw, s >= 1]
    facts += [x for Ek, ak in zip(E, A) for x in (Ek > 0, ak >= 0, (ak - zw * zT) * Ek <= zT * peak)]
    assert_implies(facts, z3.Sum([ak * Ek for ak, Ek in zip(A, E)]) <= zw * zT * (s + z3.Sum(E)))
    # 50 digits: random regret vectors stay below w T; the extremal one reaches it.
    rng = random.Random(6)
    for K_value in (2, 3, 5, 8):
        w_value = mpmath.lambertw((K_value - 1) / mpmath.e).real
        T_value = mpmath.mpf("0.3")
        for _ in range(30):
            regrets = [mpmath.mpf(0)] + [T_value * mpmath.mpf(rng.uniform(0, 5)) for _ in range(K_value - 1)]
            r = _mp_softmax([-x / T_value for x in regrets])
            assert sum(rk * x for rk, x in zip(r, regrets)) <= w_value * T_value + _EPS
        regrets = [mpmath.mpf(0)] + [T_value * (1 + w_value)] * (K_value - 1)
        r = _mp_softmax([-x / T_value for x in regrets])
        assert abs(sum(rk * x for rk, x in zip(r, regrets)) - w_value * T_value) < _EPS


@pytest.mark.claim("uniform-rate")
@pytest.mark.claim("softmax-excess-bound")
def test_lambert_constant_is_below_both_published_constants():
    # W(x) < x for x > 0 (W(x) = x e^{-W(x)}), and W(x) <= log(1 + x) <= log K at
    # x = (K-1)/e: with y = W(x), 1 + y e^y >= e^y iff e^{-y} >= 1 - y (convexity of exp).
    # So W((K-1)/e) < min((K-1)/e, log K): neither (K-1)/e (softmax-excess-bound) nor log K
    # (sandwich) is sharp.
    y = sp.Symbol("y", positive=True)
    f = sp.exp(-y) - (1 - y)
    assert f.subs(y, 0) == 0
    assert_identity(sp.Derivative(f, y) - (1 - sp.exp(-y)))  # f' > 0
    assert_identity((1 + y * sp.exp(y) - sp.exp(y)) - sp.exp(y) * f)
    for K_value in range(2, 40):
        w_value = mpmath.lambertw((K_value - 1) / mpmath.e).real
        assert w_value < (K_value - 1) / mpmath.e and w_value < mpmath.log(K_value)


@pytest.mark.claim("uniform-rate")
def test_entmax_sharp_constant():
    # Per point, T = 1 (the excess scales with T). Step 1 (KKT): on the support
    # sqrt(r_k) = s_k = -a_k/2 - tau, and at the nearest (a = 0) s_1 = -tau, so
    # a_k = 2 (s_1 - s_k) and L - J = sum_k a_k s_k^2 = 2 s_1 - 2 sum_k s_k^3 (sum s^2 = 1).
    s1, sk = sp.symbols("s_1 s_k", nonnegative=True)
    ak, tau = sp.symbols("a_k tau", real=True)
    kkt = sp.solve([sp.Eq(sk, -ak / 2 - tau), sp.Eq(s1, -0 / 2 - tau)], [ak, tau], dict=True)
    assert kkt == [{ak: 2 * (s1 - sk), tau: -s1}]
    # Step 2 (power mean, by the tangent lines of the Tsallis proof): for the m = K - 1
    # others, sum s_k^3 >= v^3 / sqrt(m) with v^2 = sum s_k^2 = 1 - s_1^2. z3 proves the sum
    # of the m tangent lines at u = v / sqrt(m) for m = 2, 3 (u^2 m = v^2).
    for m in (2, 3):
        s = z3.Reals(" ".join(f"s{k}" for k in range(m)))
        u, v = z3.Reals("u v")
        tangent = [sk_ ** 3 >= u**3 + z3.RealVal("1.5") * u * (sk_**2 - u**2) for sk_ in s]
        assert_implies([u >= 0, v >= 0, m * u * u == v * v, z3.Sum([x * x for x in s]) == v * v, *tangent],
                       z3.Sum([x**3 for x in s]) >= m * u**3)
    # Step 3: so L - J <= phi(s_1) = 2 s_1 v^2 - 2 v^3/sqrt(m), v^2 = 1 - s_1^2, with
    # equality when the m others are all equal to q = v/sqrt(m). In terms of q:
    # s_1 = b = sqrt(1 - m q^2) and E(q) = phi(b) = 2 m q^2 (b - q), for q in [0, K^-1/2]
    # (s_1 >= q); E = 0 at both ends (q = 0, and q = b = K^-1/2 at the uniform point).
    m, q = sp.symbols("m q", positive=True)
    b = sp.sqrt(1 - m * q**2)
    E = 2 * m * q**2 * (b - q)
    phi = 2 * b * (m * q**2) - 2 * (m * q**2) ** sp.Rational(3, 2) / sp.sqrt(m)
    assert_identity(phi - E)
    # Step 4: E'(q) b / (2 m q) = 2 b^2 - 3 q b - m q^2; at a critical point 3 q b = 2 - 3 m q^2,
    # and squaring, y = q^2 solves 9 m (m+1) y^2 - (9 + 12 m) y + 4 = 0, whose smaller root is
    # y = (9 + 12 m - 3 sqrt(9 + 8 m)) / (18 m (m + 1)).
    assert_identity(sp.diff(E, q) * b / (2 * m * q) - (2 * b**2 - 3 * q * b - m * q**2))
    y = sp.Symbol("y", positive=True)
    assert_identity(9 * y * (1 - m * y) - (2 - 3 * m * y) ** 2 - (-(9 * m * (m + 1) * y**2 - (9 + 12 * m) * y + 4)), by=sp.expand)
    y_small = (9 + 12 * m - 3 * sp.sqrt(9 + 8 * m)) / (18 * m * (m + 1))
    y_large = (9 + 12 * m + 3 * sp.sqrt(9 + 8 * m)) / (18 * m * (m + 1))
    quadratic = 9 * m * (m + 1) * y**2 - (9 + 12 * m) * y + 4
    for root in (y_small, y_large):
        assert_identity(sp.numer(sp.together(quadratic.subs(y, root))), by=sp.expand)
    for K in range(2, 9):
        mK = K - 1
        # the smaller root is the critical point (3 q b = 2 - 3 m y > 0 and q < K^-1/2);
        # the larger one has 2 - 3 m y < 0 (a root of the squared equation only). One
        # critical point in (0, K^-1/2), E = 0 at both ends and E > 0 inside: a maximum.
        small, large = (float(root.subs(m, mK)) for root in (y_small, y_large))
        assert 2 - 3 * mK * small > 0 and small < 1 / K and 2 - 3 * mK * large < 0
        c_K, t_K = entmax_sharp_constant(K)
        assert abs(float(E.subs({m: mK, q: sp.sqrt(small)})) - float(c_K)) < 1e-14
        # equality configuration: m equal regrets t_K (T = 1) give the excess c_K
        regrets = [mpmath.mpf(0)] + [mpmath.mpf(sp.N(t_K, 60))] * mK
        r = _mp_entmax15([-x for x in regrets])
        assert abs(sum(rk * x for rk, x in zip(r, regrets)) - mpmath.mpf(sp.N(c_K, 60))) < _EPS
        # c_K < H_max = (4/3)(1 - K^-1/2): the sandwich constant is not sharp either
        assert c_K.evalf(30) < (sp.Rational(4, 3) * (1 - 1 / sp.sqrt(K))).evalf(30)
    # 50 digits: random regret vectors never exceed c_K.
    rng = random.Random(7)
    for K in (2, 3, 4):
        c_K = mpmath.mpf(sp.N(entmax_sharp_constant(K)[0], 60))
        for _ in range(40):
            regrets = [mpmath.mpf(0)] + [mpmath.mpf(rng.uniform(0, 2.5)) for _ in range(K - 1)]
            r = _mp_entmax15([-x for x in regrets])
            assert sum(rk * x for rk, x in zip(r, regrets)) <= c_K + _EPS


@pytest.mark.slow
@pytest.mark.claim("uniform-rate")
def test_entmax_sharp_constant_k3_over_all_reals_z3():
    # K = 3 directly: 2 s_1 - 2 sum s^3 <= c_3 = sqrt(2/27) on the sphere, s_1 the largest.
    s = z3.Reals("s0 s1 s2")
    c = z3.Real("c")
    assert entmax_sharp_constant(3)[0] == sp.sqrt(sp.Rational(2, 27))
    assert_implies([*[x >= 0 for x in s], s[0] >= s[1], s[0] >= s[2], z3.Sum([x * x for x in s]) == 1,
                    c > 0, 27 * c * c == 2], 2 * s[0] - 2 * z3.Sum([x**3 for x in s]) <= c)


@pytest.mark.claim("uniform-rate")
def test_uniform_point_attains_the_entropy_gap():
    # All K distances equal (coincident centres): the minimiser is the uniform p and
    # F = d - T H_max exactly, for both entropies, every K; L = d = J.
    T, dv = sp.symbols("T d", positive=True)
    for K in range(1, 7):
        # softmax: -T log sum_k e^{-d/T} with K equal terms (K = 1: H_max = 0, F = d)
        d_row = [dv] * K
        if K > 1:
            assert_identity(-T * sp.log(sum(sp.exp(-dk / T) for dk in d_row)) - (dv - T * sp.log(K)),
                            by=lambda e: sp.simplify(sp.expand_log(e, force=True)))
        # entmax-1.5: p . d - T H_1.5(p) at the uniform p
        p = sp.symbols(f"p0:{K}", positive=True)
        value = sum(pk * dk for pk, dk in zip(p, d_row)) - T * _tsallis15_symbolic(p)
        assert_identity(sp.Subs(value, p, [sp.Rational(1, K)] * K) - (dv - T * sp.Rational(4, 3) * (1 - 1 / sp.sqrt(K))))
    for K in (2, 5):
        r = _mp_entmax15([mpmath.mpf(0)] * K)
        assert all(abs(rk - mpmath.mpf(1) / K) < _EPS for rk in r)


# --- claim gamma-convergence ---------------------------------------------------------------


@pytest.mark.claim("gamma-convergence")
def test_k_means_objective_is_continuous_z3():
    # |min_k a_k - min_k b_k| <= max_k |a_k - b_k| (K = 2, 3), and in one coordinate
    # |(x - c)^2 - (x - c')^2| <= |c - c'| (2 |x - c| + |c - c'|) (per coordinate, and by
    # Cauchy-Schwarz in D dimensions): J is locally Lipschitz, hence continuous.
    for K in (2, 3):
        a = z3.Reals(" ".join(f"a{k}" for k in range(K)))
        b = z3.Reals(" ".join(f"b{k}" for k in range(K)))
        ma, mb, gap = z3.Reals("ma mb gap")
        facts = [*[ma <= x for x in a], z3.Or(*[ma == x for x in a]),
                 *[mb <= x for x in b], z3.Or(*[mb == x for x in b]),
                 *[z3.And(x - y <= gap, y - x <= gap) for x, y in zip(a, b)]]
        assert_implies(facts, z3.And(ma - mb <= gap, mb - ma <= gap))
    # With e = |c - c'| and rho = |x - c| (their definitions are the hypotheses):
    x, c, c2, e, rho = z3.Reals("x c c2 e rho")
    lhs = (x - c) ** 2 - (x - c2) ** 2
    lengths = [e >= 0, e * e == (c - c2) ** 2, rho >= 0, rho * rho == (x - c) ** 2]
    assert_implies(lengths, z3.And(lhs <= e * (2 * rho + e), -lhs <= e * (2 * rho + e)))


@pytest.mark.claim("gamma-convergence")
def test_gamma_liminf_and_recovery_inequalities_z3():
    # The two inequalities of Gamma-convergence, in finitary form. With the sandwich
    # (J <= L_T <= J + c T, J - H T <= F_T <= J) and |J(C') - J(C)| <= omega:
    #  * liminf: L_T(C') >= J(C) - omega and F_T(C') >= J(C) - omega - H T; as C' -> C and
    #    T -> 0, omega -> 0 by continuity, so liminf L_T(C_T) >= J(C), liminf F_T(C_T) >= J(C);
    #  * recovery (the constant sequence): |L_T(C) - J(C)| <= c T, |F_T(C) - J(C)| <= H T,
    #    which is the sandwich itself (a hypothesis here, not a step: nothing to prove).
    # Uniform convergence on all of R^{K x D}: sup_C |L_T - J| <= c T -> 0.
    J, Jp, L, Lp, F, Fp, T, c, H, omega = z3.Reals("J Jp L Lp F Fp T c H omega")
    sandwich = [T > 0, c >= 0, H >= 0]
    for jj, ll, ff in ((J, L, F), (Jp, Lp, Fp)):
        sandwich += [jj <= ll, ll <= jj + c * T, jj - H * T <= ff, ff <= jj]
    continuity = [Jp - J <= omega, J - Jp <= omega]
    assert_implies([*sandwich, *continuity], z3.And(Lp >= J - omega, Fp >= J - omega - H * T))


# --- claim minimisers-compact --------------------------------------------------------------


@pytest.mark.claim("minimisers-compact")
def test_minimisers_are_approximate_k_means_minimisers_z3():
    # On any set S: if C_T minimises L_T on S and C* minimises J on S, then
    #   J(C_T) <= L_T(C_T) <= L_T(C*) <= J(C*) + c T,
    # and with F_T: J(C_T) <= F_T(C_T) + H T <= F_T(C*) + H T <= J(C*) + H T.
    # For entmax, if L_T(C*) = J(C*) (every row one-hot at C*), C* itself minimises L_T.
    JT, LT, FT, Js, Ls, Fs, Lo, T, c, H = z3.Reals("JT LT FT Js Ls Fs Lo T c H")
    facts = [T > 0, c >= 0, H >= 0,
             JT <= LT, LT <= JT + c * T, JT - H * T <= FT, FT <= JT,
             Js <= Ls, Ls <= Js + c * T, Js - H * T <= Fs, Fs <= Js,
             LT <= Ls, Js <= JT]  # C_T minimises L_T, C* minimises J
    assert_implies(facts, JT - Js <= c * T)
    facts_F = [T > 0, H >= 0, JT - H * T <= FT, FT <= JT, Js - H * T <= Fs, Fs <= Js, FT <= Fs]
    assert_implies(facts_F, JT - Js <= H * T)
    # entmax exactness: L(C*) = J(C*) and L >= J >= J(C*) everywhere: L(C*) <= L(C) for all C
    assert_implies([Ls == Js, Lo >= JT, JT >= Js], Lo >= Ls)


@pytest.mark.claim("minimisers-compact")
def test_huygens_decomposition_and_centre_error_bound():
    # Huygens/Koenig: sum_i (x_i - c)^2 = sum_i (x_i - xbar)^2 + n (c - xbar)^2, per
    # coordinate. So if the Voronoi partition of C is the optimal one P*, with cell sizes n_k,
    # J(C) - J* = sum_k (n_k/N) |c_k - c*_k|^2, and J(C) - J* <= c T gives
    # |c_k - c*_k|^2 <= N c T / n_k.  Any other partition P costs W(P) >= J* + Delta, so
    # c T < Delta forces P(C_T) = P*.
    c = sp.Symbol("c", real=True)
    for n in range(1, 6):
        xs = sp.symbols(f"x0:{n}", real=True)
        xbar = sum(xs) / n
        residual = sum((xi - c) ** 2 for xi in xs) - sum((xi - xbar) ** 2 for xi in xs) - n * (c - xbar) ** 2
        assert_identity(residual, by=sp.expand)
    zx = z3.Reals("x0 x1 x2")
    zc = z3.Real("c")
    zbar = z3.Real("xbar")
    assert_implies([3 * zbar == z3.Sum(zx)],
                   z3.Sum([(xi - zc) ** 2 for xi in zx]) == z3.Sum([(xi - zbar) ** 2 for xi in zx]) + 3 * (zc - zbar) ** 2)
    # the centre bound, for K = 3 cells
    e = z3.Reals("e0 e1 e2")
    nk = z3.Reals("n0 n1 n2")
    N, budget = z3.Reals("N budget")
    facts = [*[x > 0 for x in nk], N == z3.Sum(nk), budget >= 0,
             z3.Sum([nk_ / N * ek * ek for nk_, ek in zip(nk, e)]) <= budget]
    assert_implies(facts, z3.And(*[ek * ek * nk_ <= N * budget for nk_, ek in zip(nk, e)]))
    rng = random.Random(8)
    xs = [mpmath.mpf(rng.uniform(-3, 3)) for _ in range(6)]
    c_value = mpmath.mpf(rng.uniform(-3, 3))
    xbar = sum(xs) / 6
    lhs = sum((xi - c_value) ** 2 for xi in xs)
    assert abs(lhs - sum((xi - xbar) ** 2 for xi in xs) - 6 * (c_value - xbar) ** 2) < _EPS


@pytest.mark.claim("minimisers-compact")
def test_partition_is_optimal_below_the_gap():
    # The key step: if c T < Delta (the gap between the optimal partition P* and every
    # other), the Voronoi partition of C_T is P*. For a partition P write W(P) for its cost
    # at its own cell means (mean over the points); J* = W(P*) = min J.
    # Step 1: J(C) >= W(V(C)) for the Voronoi partition V(C) of C: each cell's sum of
    # squares to c_k is at least the sum to the cell mean (Huygens: it exceeds it by
    # n_k |c_k - m_k|^2 >= 0), here a cell of three points, for all reals.
    x = z3.Reals("x0 x1 x2")
    c, m = z3.Reals("c m")
    assert_implies([3 * m == z3.Sum(x)], z3.Sum([(xi - c) ** 2 for xi in x]) >= z3.Sum([(xi - m) ** 2 for xi in x]))
    # Step 2: from J(C_T) >= W(V(C_T)), W(P) >= J* + Delta for every P != P*, and
    # J(C_T) <= J* + c T (test_minimisers_are_approximate_k_means_minimisers_z3):
    # c T < Delta forces V(C_T) = P*.
    JT, WT, Jstar, T, cK, Delta = z3.Reals("JT WT Jstar T c Delta")
    optimal = z3.Bool("voronoi_partition_of_C_T_is_optimal")
    hypotheses = [T > 0, cK >= 0, Delta > 0, JT >= WT, z3.Implies(z3.Not(optimal), WT >= Jstar + Delta),
                  JT <= Jstar + cK * T, cK * T < Delta]
    assert_implies(hypotheses, optimal)
    # ... and the bound cannot be dropped: with c T >= Delta another partition is possible.
    assert model_of([*hypotheses[:-1], cK * T >= Delta, z3.Not(optimal)])


# --- claim fixed-points-hull ---------------------------------------------------------------


@pytest.mark.claim("fixed-points-hull")
def test_fixed_points_outside_the_hull_exact():
    # X = {0, 1}, C = (1/2, 10), exact rationals. Lloyd: both points are nearer c_1, c_2's
    # cell is empty and keeps its place: C is a fixed point with c_2 = 10 outside [0, 1].
    # Entmax-1.5 at T = 1: the regrets of c_2 are 99.75 and 80.75 >= 2T, so both rows are
    # one-hot, c_2 has zero mass (a dead centre) and keeps its place: a fixed point again.
    X = [sp.Integer(0), sp.Integer(1)]
    C = [sp.Rational(1, 2), sp.Integer(10)]
    T = sp.Integer(1)
    d = [[(x - c) ** 2 for c in C] for x in X]
    regrets = [row[1] - row[0] for row in d]
    assert regrets == [sp.Rational(399, 4), sp.Rational(323, 4)] and all(a >= 2 * T for a in regrets)
    assert sum(X) / len(X) == C[0]  # the one non-empty cell has its mean at c_1
    # Softmax: every r_ik > 0, so n_k > 0 and c_k <- sum_i r_ik x_i / n_k is a convex
    # combination of the data: every softmax fixed point lies in the hull. Here it moves c_2.
    weights = [sp.exp(-(x - C[1]) ** 2 / T) / sum(sp.exp(-(x - c) ** 2 / T) for c in C) for x in X]
    new_c2 = sum(w * x for w, x in zip(weights, X)) / sum(weights)
    assert 0 < new_c2.evalf(50) < 1


# --- claim no-equicoercivity --------------------------------------------------------------


@pytest.mark.claim("no-equicoercivity")
def test_far_centre_limits_and_bounds():
    # C_n = (c_1, c_1 + n e): J(C_n) <= (1/N) sum_i d_i1 = J_1(c_1) (a min is at most its
    # first term), so by the sandwich L_T(C_n) <= J_1(c_1) + c T and F_T(C_n) <= J_1(c_1)
    # for every n and T, while |C_n| -> oo. The limits, per point (x, c_1, T symbolic, 1-D):
    x, c1 = sp.symbols("x c_1", real=True)
    T, n = sp.symbols("T n", positive=True)
    d1, d2 = (x - c1) ** 2, (x - c1 - n) ** 2
    E = sp.exp(-(d2 - d1) / T)  # e^{-regret/T} of the far centre
    L = (d1 + d2 * E) / (1 + E)
    F = d1 - T * sp.log(1 + E)
    for expression in (L, F):
        assert sp.limit(expression.subs({x: sp.Rational(3, 10), c1: 0, T: sp.Rational(1, 2)}), n, sp.oo) == sp.Rational(9, 100)
    # the bounds along the whole sequence (z3, with the sandwich as hypothesis, N = 2)
    dd = z3.Reals("d0_1 d0_2 d1_1 d1_2")
    J0, J1, Ln, Fn, zT, c = z3.Reals("J0 J1 L F T c")
    facts = [J0 <= dd[0], J0 <= dd[1], J1 <= dd[2], J1 <= dd[3], zT > 0, c >= 0,
             Ln <= (J0 + J1) / 2 + c * zT, Fn <= (J0 + J1) / 2]
    bound = (dd[0] + dd[2]) / 2
    assert_implies(facts, z3.And((J0 + J1) / 2 <= bound, Ln <= bound + c * zT, Fn <= bound))
    # 50 digits: at n = 10^k the values are within e^{-regret/T}-small of d1 = 9/100
    for k in range(1, 4):
        values = {x: sp.Rational(3, 10), c1: 0, T: sp.Rational(1, 2), n: sp.Integer(10) ** k}
        assert abs(sp.N(L.subs(values), 50) - sp.Rational(9, 100)) < 1e-30
        assert abs(sp.N(F.subs(values), 50) - sp.Rational(9, 100)) < 1e-30


# --- claim rates ---------------------------------------------------------------------------


@pytest.mark.claim("rates")
def test_softmax_rate_is_exponential_with_exact_constant():
    # Per point with s tied nearest centres, n_m regrets equal to the margin m, the others
    # >= m' > m: with E = e^{-m/T},
    #   L - J = n_m m E / Z + (rest), Z in [s, s (1 + (K-1) E)],
    # so summing over points: A E / (1 + (K-1) E) <= L - J <= A E + (K - 1) m' e^{-m'/T}
    # (T <= m', where a e^{-a/T} decreases in a >= T), A = (m/N) sum_i n_m(i)/s_i.
    # Hence log(L - J) = log A - m/T + o(1): slope -m against 1/T, intercept log A.
    T, m, mp_, p = sp.symbols("T m m' p", positive=True)
    s = sp.Symbol("s", positive=True, integer=True)
    E, E2 = sp.exp(-m / T), sp.exp(-(m + mp_) / T)  # m' = m + (m' - m) > m
    excess = (m * E + (m + mp_) * E2) / (s + E + E2)  # one point, K = 3, regrets (0.., m, m')
    assert_identity(sp.Limit(excess * sp.exp(m / T), T, 0, "+") - m / s)
    assert sp.limit(excess / T**p, T, 0, "+") == 0  # faster than every power of T
    # The two-sided bound per point, over all reals (z3), K = 4: s >= 1 tied nearest
    # centres, one centre at the margin (weight E = e^{-m/T}) and two at regrets a2, a3 >= m'
    # (weights E2, E3 <= E' = e^{-m'/T} <= E, and a e^{-a/T} <= m' E' there since
    # a e^{-a/T} decreases for a >= T: h' = (1 - a/T) e^{-a/T}, test_softmax_excess_per_term_bound):
    #   m E / (s (1 + 3 E)) <= (m E + a2 E2 + a3 E3) / (s + E + E2 + E3) <= m E / s + 2 m' E'.
    # Averaging over the points gives the bounds of the docstring (A sums n_m(i)/s_i).
    zm, zm2, zs, zE, zE1, zE2, zE3, za2, za3 = z3.Reals("m m2 s E Ep E2 E3 a2 a3")
    excess = (zm * zE + za2 * zE2 + za3 * zE3) / (zs + zE + zE2 + zE3)
    facts = [zm > 0, zm2 > zm, zs >= 1, zE > 0, zE < 1, zE1 > 0, zE1 <= zE,
             zE2 > 0, zE3 > 0, zE2 <= zE1, zE3 <= zE1, za2 >= zm2, za3 >= zm2,
             za2 * zE2 <= zm2 * zE1, za3 * zE3 <= zm2 * zE1]
    assert_implies(facts, excess >= zm * zE / (zs * (1 + 3 * zE)))
    assert_implies(facts, excess <= zm * zE / zs + 2 * zm2 * zE1)
    # 50 digits: at T = m/20 the ratio (L - J) e^{m/T} / A is within the bounds
    m_value, m2_value, s_value = mpmath.mpf(1), mpmath.mpf(3), 2
    T_value = m_value / 20
    e1, e2 = mpmath.exp(-m_value / T_value), mpmath.exp(-m2_value / T_value)
    value = (m_value * e1 + m2_value * e2) / (s_value + e1 + e2)
    A = m_value / s_value
    assert A * e1 / (1 + 2 * e1) <= value <= A * e1 + 2 * m2_value * e2


@pytest.mark.claim("rates")
def test_entmax_is_exact_below_the_threshold_and_quadratic_above():
    # A row with s tied nearest centres and next regret m: the entmax threshold is
    # tau = -1/sqrt(s) while only the ties are in the support; the next centre enters iff
    # -m/(2T) > tau, i.e. T > m sqrt(s)/2. Below: r uniform on the ties, L = J exactly,
    # F = J - T (4/3)(1 - s^-1/2) (linear in T when s > 1, exactly J when s = 1).
    T, m = sp.symbols("T m", positive=True)
    s = sp.Symbol("s", positive=True)
    tau = -1 / sp.sqrt(s)
    tau_ = sp.Symbol("tau", negative=True)  # tau < max u = 0
    assert sp.solve(sp.Eq(s * (0 - tau_) ** 2, 1), tau_) == [tau]  # the ties alone carry mass 1
    threshold = sp.solve(sp.Eq(-m / (2 * T), tau), T)
    assert threshold == [m * sp.sqrt(s) / 2]
    # Just above the threshold (s = 1, K = 2, t = m/T < 2): r = (b^2, q^2) with
    # q = (sqrt(8 - t^2) - t)/4, b = q + t/2 solves b^2 + q^2 = 1 and L - J = m q^2,
    # which vanishes to second order at t = 2: L - J = m (t - 2)^2/4 + O((t-2)^3).
    t = sp.Symbol("t", positive=True)
    q = (sp.sqrt(8 - t**2) - t) / 4
    assert_identity((q + t / 2) ** 2 + q**2 - 1)
    assert q.subs(t, 2) == 0 and sp.diff(q, t).subs(t, 2) == sp.Rational(-1, 2)
    assert_identity(sp.Limit((q**2 - (t - 2) ** 2 / 4) / (t - 2) ** 2, t, 2, "-"))
    assert sp.limit((q**2 - (t - 2) ** 2 / 4) / (t - 2) ** 3, t, 2, "-").is_finite
    # 50 digits: the bisection entmax agrees with the closed form at t = 1.9
    r = _mp_entmax15([mpmath.mpf(0), -mpmath.mpf("1.9")])
    q_value = (mpmath.sqrt(8 - mpmath.mpf("1.9") ** 2) - mpmath.mpf("1.9")) / 4
    assert abs(r[1] - q_value**2) < _EPS
    # and is exactly one-hot at t = 2 and beyond
    assert _mp_entmax15([mpmath.mpf(0), -mpmath.mpf(2)])[1] < _EPS


@pytest.mark.claim("rates")
def test_softmax_free_energy_is_linear_with_ties():
    # F - J = -T log Z, Z = s + sum_{a > 0} e^{-a/T} in [s, s + (K - s) e^{-m/T}]:
    # (F - J)/T -> -log s. With ties (s > 1) the rate of F_T -> J is exactly linear.
    T, m = sp.symbols("T m", positive=True)
    for s in (1, 2, 3):
        Z = s + 2 * sp.exp(-m / T)
        assert sp.limit(-T * sp.log(Z) / T, T, 0, "+") == -sp.log(s)
    # 50 digits: (F - J)/T + log s is in [-(K - s) e^{-m/T}/s, 0] (log(1 + x) <= x)
    for s in (1, 2, 3):
        for T_value in (mpmath.mpf("0.5"), mpmath.mpf("0.1")):
            Z = s + 2 * mpmath.exp(-1 / T_value)  # K = s + 2, margin m = 1
            gap = -mpmath.log(Z) + mpmath.log(s)
            assert -2 * mpmath.exp(-1 / T_value) / s - _EPS <= gap <= 0
