"""NumPy reference: the ground truth of kmeans-rbf, in float64, written to read like theory/conventions.md.

Notation (``theory/conventions.md``): data ``X`` (N, D), centres ``C`` (K, D), squared
distances ``d_ik = ||x_i - c_k||^2``, temperature ``T > 0``, logits ``z_ik = -d_ik / T``,
responsibilities ``r_i = map(z_i)`` with map one of ``hard`` (one-hot on the nearest
centre, ties to the lowest index), ``softmax`` or ``entmax15`` (alpha-entmax, alpha = 1.5).

* hard objective (K-Means)  ``J(C)   = (1/N) sum_i min_k d_ik``
* RBF objective             ``L_T(C) = (1/N) sum_i sum_k r_ik(C) d_ik``
* free energy               ``F_T(C) = (1/N) sum_i min_{p in simplex} [p . d_i - T H(p)]``
  with H the Shannon entropy (softmax) or the Tsallis 1.5-entropy (entmax15).

Every public function validates its arguments and converts them to float64; a private
twin of the same name with a leading underscore computes. Since softmax and entmax are
invariant to adding a constant to a row, logits are formed from the *regret*
``d_ik - min_l d_il``: the row maximum is then exactly 0 and no ``inf - inf`` can arise
at tiny temperatures or huge coordinates.
"""

import numpy as np

from . import _validation as validation
from .kinds import SOFT_KINDS

__all__ = [
    "squared_distances",
    "assign",
    "margins",
    "softmax",
    "entmax15",
    "sparsemax",
    "responsibilities",
    "objective",
    "free_energy",
    "gradient",
    "free_energy_gradient",
    "lloyd_step",
    "soft_step",
    "kmeans",
    "anneal",
]


def _as_float64(a, name):
    """``a`` as a float64 array; integers and floats only (no bools, strings or complex)."""
    try:
        array = np.asarray(a)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of real numbers: {error}") from None
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be an array of real numbers: {error}") from None
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be an array of real numbers; got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def _data_and_centres(X, C, centres_name="C"):
    X, C = _as_float64(X, "X"), _as_float64(C, centres_name)
    validation.validate_data_and_centres(X, C, centres_name)
    return X, C


def _soft_arguments(X, C, temperature, kind):
    """Validated ``(X, C, temperature)`` of a function with a kind (the kind checked first)."""
    validation.validate_kind(kind)
    temperature = validation.validate_temperature(temperature, kind)
    X, C = _data_and_centres(X, C)
    return X, C, temperature


# --- distances and assignment ----------------------------------------------------------


def squared_distances(X, C):
    """Squared Euclidean distances ``d_ik = ||x_i - c_k||^2``.

    Computed from the differences ``x_i - c_k`` (not from ``|x|^2 - 2 x.c + |c|^2``) so
    that equal distances, e.g. on grid data, come out exactly equal.

    Parameters
    ----------
    X : array_like, shape (N, D)
    C : array_like, shape (K, D)

    Returns
    -------
    d : ndarray, shape (N, K), float64, ``d >= 0``.

    Examples
    --------
    >>> squared_distances([[0.0], [1.0]], [[0.0], [2.0]])
    array([[0., 4.],
           [1., 1.]])
    """
    X, C = _data_and_centres(X, C)
    return _squared_distances(X, C)


def _squared_distances(X, C):
    differences = X[:, None, :] - C[None, :, :]
    with np.errstate(over="ignore"):  # overflow is reported just below, as OverflowError
        d = np.sum(differences**2, axis=2)
    validation.validate_distances_finite(d)
    return d


def assign(X, C):
    """Index of the nearest centre of every point, ``argmin_k d_ik``; ties go to the lowest k.

    Returns
    -------
    labels : ndarray, shape (N,), int64, values in ``[0, K)``.

    Examples
    --------
    >>> assign([[0.0], [1.0], [2.0]], [[0.0], [2.0]])   # x = 1 is a tie: lowest index
    array([0, 0, 1])
    """
    X, C = _data_and_centres(X, C)
    return _assign(_squared_distances(X, C))


def _assign(d):
    return np.argmin(d, axis=1)  # argmin returns the first minimum: the lowest index


def margins(X, C):
    """Margin of every point: the gap ``d_i(2) - d_i(1)`` between its two smallest distances.

    0 on an exact tie (two nearest centres), ``inf`` when K = 1. The smallest margin
    ``m = min_i (d_i(2) - d_i(1))`` governs the limit T -> 0: entmax-1.5 responsibilities
    are exactly hard iff T <= m/2 (claim ``entmax-exact-below-margin``), and softmax
    leaks ``e^(-m/T)``.

    Returns
    -------
    margins : ndarray, shape (N,), float64, ``>= 0``.

    Examples
    --------
    >>> margins([[0.0], [1.0], [3.0]], [[0.0], [2.0]])   # x = 1 is a tie
    array([4., 0., 8.])
    """
    X, C = _data_and_centres(X, C)
    return _margins(_squared_distances(X, C))


def _margins(d):
    if d.shape[1] == 1:
        return np.full(d.shape[0], np.inf)
    two_smallest = np.partition(d, 1, axis=1)[:, :2]
    return two_smallest[:, 1] - two_smallest[:, 0]


# --- maps from logits to the simplex ---------------------------------------------------


def softmax(Z):
    """Softmax of every row (last axis): ``p_k = exp(z_k) / sum_l exp(z_l)``.

    The maximiser of ``p . z + H(p)`` over the simplex, H the Shannon entropy.
    ``-inf`` entries get probability 0; a row needs at least one finite entry.

    Examples
    --------
    >>> softmax([0.0, -np.inf, np.log(3.0)])
    array([0.25, 0.  , 0.75])
    """
    Z = _as_float64(Z, "Z")
    validation.validate_logits(Z)
    return _softmax(Z)


def _below_row_maximum(Z):
    """``z - max z`` per row; a difference beyond the float range is -inf (weight 0)."""
    with np.errstate(over="ignore"):
        return Z - Z.max(axis=-1, keepdims=True)


def _softmax(Z):
    E = np.exp(_below_row_maximum(Z))
    return E / E.sum(axis=-1, keepdims=True)


def entmax15(Z):
    """1.5-entmax of every row (last axis), by the exact sort-based algorithm.

    ``entmax15(z) = argmax_{p in simplex} p . z + H_1.5(p)`` with the Tsallis entropy
    ``H_1.5(p) = (4/3) (1 - sum_k p_k^1.5)``. The solution is ``p_k = [z_k/2 - tau]_+^2``
    with the threshold tau fixed by ``sum_k p_k = 1`` (Peters, Niculae & Martins 2019).
    It is sparse: ``p_k = 0`` whenever ``z_k <= max_l z_l - 2``. ``-inf`` entries get 0.

    Examples
    --------
    >>> entmax15([0.0, -0.4, -5.0]).round(12)   # (0.8^2, 0.6^2, 0): tau = -0.8
    array([0.64, 0.36, 0.  ])
    """
    Z = _as_float64(Z, "Z")
    validation.validate_logits(Z)
    return _entmax15(Z)


def _entmax15(Z):
    u = _below_row_maximum(Z) / 2
    # tau >= max u - 1 = -1 (at tau = -1 the largest entry alone has mass 1), so entries
    # below -1 are outside the support: clipping them to -1 leaves tau unchanged and keeps
    # -inf and huge spreads out of the sums below.
    u_sorted = -np.sort(-np.maximum(u, -1.0), axis=-1)
    k = np.arange(1, u.shape[-1] + 1)
    mean = np.cumsum(u_sorted, axis=-1) / k
    mean_of_squares = np.cumsum(u_sorted**2, axis=-1) / k
    # tau_k solves sum_{j<=k} (u_(j) - tau)^2 = 1 on the branch tau < mean.
    delta = (1 - k * (mean_of_squares - mean**2)) / k
    tau = mean - np.sqrt(np.maximum(delta, 0.0))
    # tau_k < u_(k) holds exactly for k <= support size: the support is the leading run
    # (counting every k would let a rounding of tau_k just below a clipped -1 add entries).
    support_size = _leading_run(tau < u_sorted)
    tau_star = np.take_along_axis(tau, support_size - 1, axis=-1)
    return np.where(_in_support(u, u_sorted, support_size), np.maximum(u - tau_star, 0.0) ** 2, 0.0)


def _leading_run(condition):
    """Length of the run of True at the start of each row (at least 1 here: k = 1 holds)."""
    return np.sum(np.cumprod(condition, axis=-1), axis=-1, keepdims=True)


def _in_support(u, u_sorted, support_size):
    """The entries among the ``support_size`` largest, and above -1 (tau >= -1 exactly).

    Outside the support the exact output is 0; a tau rounded one ulp low would otherwise
    leave a mass of ~1e-32 there, and "exactly one-hot" would fail by that much.
    """
    smallest = np.take_along_axis(u_sorted, support_size - 1, axis=-1)
    return (u >= smallest) & (u > -1.0)


def sparsemax(Z):
    """Sparsemax (2-entmax) of every row: the Euclidean projection of z onto the simplex.

    ``p_k = [z_k - tau]_+`` with tau fixed by ``sum_k p_k = 1``. ``-inf`` entries get 0.

    Examples
    --------
    >>> sparsemax([0.0, -0.5, -3.0])
    array([0.75, 0.25, 0.  ])
    """
    Z = _as_float64(Z, "Z")
    validation.validate_logits(Z)
    return _sparsemax(Z)


def _sparsemax(Z):
    u = _below_row_maximum(Z)
    # As in _entmax15: tau >= -1, so clipping entries below -1 leaves tau unchanged.
    u_sorted = -np.sort(-np.maximum(u, -1.0), axis=-1)
    k = np.arange(1, u.shape[-1] + 1)
    tau = (np.cumsum(u_sorted, axis=-1) - 1) / k
    support_size = _leading_run(tau < u_sorted)
    tau_star = np.take_along_axis(tau, support_size - 1, axis=-1)
    return np.where(_in_support(u, u_sorted, support_size), np.maximum(u - tau_star, 0.0), 0.0)


_MAPS = {"softmax": _softmax, "entmax15": _entmax15}


# --- responsibilities, objectives, free energy -----------------------------------------


def _regret(d):
    return d - d.min(axis=1, keepdims=True)


def _over_temperature(values, temperature):
    """``values / T``, where overflow to +inf is meant: such an entry has weight exactly 0."""
    with np.errstate(over="ignore"):
        return values / temperature


def _logits(d, temperature):
    """``z_ik = -(d_ik - min_l d_il) / T``: the logits -d/T shifted so the row maximum is 0."""
    return -_over_temperature(_regret(d), temperature)


def responsibilities(X, C, temperature=None, kind="hard"):
    """Responsibilities ``r_ik``: each row of the map applied to ``z_i = -d_i / T``.

    ``kind='hard'`` is one-hot on ``assign(X, C)`` (temperature ignored; may be None).
    Rows lie on the simplex; ``argmax_k r_ik`` is a nearest centre for every T > 0.

    Returns
    -------
    r : ndarray, shape (N, K), float64.

    Examples
    --------
    >>> responsibilities([[0.0]], [[0.0], [2.0]], temperature=10.0, kind="entmax15").round(12)
    array([[0.64, 0.36]])
    """
    X, C, temperature = _soft_arguments(X, C, temperature, kind)
    return _responsibilities(_squared_distances(X, C), temperature, kind)


def _responsibilities(d, temperature, kind):
    if kind == "hard":
        return np.eye(d.shape[1])[_assign(d)]
    return _MAPS[kind](_logits(d, temperature))


def objective(X, C, temperature=None, kind="hard"):
    """The RBF objective ``L_T(C) = (1/N) sum_i sum_k r_ik(C) d_ik`` (mean over points).

    For ``kind='hard'`` this is the K-Means objective ``J(C) = (1/N) sum_i min_k d_ik``.
    Always ``J <= L_T``; for entmax15 ``L_T = J`` exactly once every point's two smallest
    distances differ by at least 2T.

    Examples
    --------
    >>> X, C = [[0.0]], [[0.0], [2.0]]                 # d = (0, 4)
    >>> objective(X, C)
    0.0
    >>> round(objective(X, C, temperature=10.0, kind="entmax15"), 12)   # r = (0.64, 0.36)
    1.44
    """
    X, C, temperature = _soft_arguments(X, C, temperature, kind)
    d = _squared_distances(X, C)
    return _objective(d, _responsibilities(d, temperature, kind))


def _objective(d, r):
    return float(np.mean(np.sum(r * d, axis=1)))


def _shannon_entropy(p):
    return -np.sum(p * np.log(np.where(p > 0, p, 1.0)), axis=-1)


def _tsallis15_entropy(p):
    return (4.0 / 3.0) * (1.0 - np.sum(p**1.5, axis=-1))


def free_energy(X, C, temperature=None, kind="softmax"):
    """Free energy ``F_T(C) = (1/N) sum_i min_{p in simplex} [p . d_i - T H(p)]``.

    * softmax (H Shannon): the minimiser is ``softmax(-d_i/T)`` and
      ``F_T = -(T/N) sum_i log sum_k exp(-d_ik / T)``;
    * entmax15 (H Tsallis 1.5): the minimiser is ``entmax15(-d_i/T)``;
    * hard: the T -> 0 limit, ``F_0 = J``.

    ``J - T H_max <= F_T <= J`` with ``H_max = log K`` (softmax) or
    ``(4/3)(1 - K^-1/2)`` (entmax15).

    Examples
    --------
    >>> float(free_energy([[0.0]], [[0.0], [0.0]], temperature=1.0))   # -log 2
    -0.6931471805599453
    """
    X, C, temperature = _soft_arguments(X, C, temperature, kind)
    return _free_energy(_squared_distances(X, C), temperature, kind)


def _free_energy(d, temperature, kind):
    if kind == "hard":
        return float(np.mean(d.min(axis=1)))
    if kind == "softmax":
        z = _logits(d, temperature)  # log-sum-exp of -d/T, shifted by the row minimum of d
        log_partition = np.log(np.sum(np.exp(z), axis=1))
        return float(np.mean(d.min(axis=1) - temperature * log_partition))
    r = _entmax15(_logits(d, temperature))
    return float(np.mean(np.sum(r * d, axis=1) - temperature * _tsallis15_entropy(r)))


# --- gradients -------------------------------------------------------------------------


def _jacobian_vector_product(r, a, kind):
    """``J a`` for the (symmetric) Jacobian J of the map at the point whose output is r.

    softmax:  J = diag(r) - r r^T          ->  (J a)_k = r_k (a_k - r . a)
    entmax15: J = diag(s) - s s^T / sum s  ->  (J a)_k = s_k (a_k - s . a / sum s),
              s = sqrt(r) (zero off the support).
    Entries with zero weight contribute nothing (a e^-a -> 0) and their a may be inf, so
    they are zeroed before the products.
    """
    s = r if kind == "softmax" else np.sqrt(r)
    a = np.where(s > 0, a, 0.0)
    centred = a - np.sum(s * a, axis=1, keepdims=True) / np.sum(s, axis=1, keepdims=True)
    return s * centred


def _centre_gradient(X, C, weights):
    """``(2/N) sum_i w_ik (c_k - x_i)``: the gradient of (1/N) sum_ik w_ik d_ik at fixed w."""
    return (2.0 / X.shape[0]) * np.einsum("ik,ikd->kd", weights, C[None, :, :] - X[:, None, :])


def gradient(X, C, temperature=None, kind="hard"):
    """Exact gradient of ``objective`` with respect to C, including the dependence of r on C.

    ``grad_{c_k} L_T = (2/N) sum_i g_ik (c_k - x_i)`` with ``g_ik = r_ik - (J_i a_i)_k``,
    ``a_i = d_i / T`` and ``J_i`` the Jacobian of the map at ``z_i`` (claim gradient-objective):
    the first term is the gradient at frozen responsibilities, the second flows through r.
    For ``kind='hard'`` ``g = r`` one-hot (J is differentiable where no point is tied).

    Returns
    -------
    grad : ndarray, shape (K, D), float64.

    Examples
    --------
    >>> gradient([[0.0], [2.0]], [[1.0]])   # 2 * mean(c - x)
    array([[0.]])
    """
    X, C, temperature = _soft_arguments(X, C, temperature, kind)
    d = _squared_distances(X, C)
    r = _responsibilities(d, temperature, kind)
    if kind == "hard":
        return _centre_gradient(X, C, r)
    a = _over_temperature(_regret(d), temperature)  # J 1 = 0: d/T and regret/T give one J a
    return _centre_gradient(X, C, r - _jacobian_vector_product(r, a, kind))


def free_energy_gradient(X, C, temperature=None, kind="softmax"):
    """Gradient of ``free_energy`` with respect to C: ``(2/N) sum_i r_ik (c_k - x_i)``.

    By the envelope theorem the minimising p may be held fixed, so there is no term
    through r (claim gradient-free-energy). For ``kind='hard'`` this is the gradient of J.

    Examples
    --------
    >>> free_energy_gradient([[0.0], [2.0]], [[0.0], [2.0]], temperature=1e-3)
    array([[0.],
           [0.]])
    """
    X, C, temperature = _soft_arguments(X, C, temperature, kind)
    r = _responsibilities(_squared_distances(X, C), temperature, kind)
    return _centre_gradient(X, C, r)


# --- updates ---------------------------------------------------------------------------


def _weighted_means(X, C, weights):
    """``sum_i w_ik x_i / sum_i w_ik`` per centre; a centre with no weight keeps its place."""
    mass = weights.sum(axis=0)
    sums = weights.T @ X
    empty = mass <= 0
    means = sums / np.where(empty, 1.0, mass)[:, None]
    return np.where(empty[:, None], C, means)


def lloyd_step(X, C):
    """One Lloyd step: every centre moves to the mean of its Voronoi cell.

    Cells use ``assign`` (ties to the lowest index). An empty cell keeps its centre where
    it was (Lloyd's update is undefined there; this is the documented policy).

    Examples
    --------
    >>> lloyd_step([[0.0], [1.0], [2.0]], [[0.0], [2.0]])   # the tie x = 1 goes to c_0
    array([[0.5],
           [2. ]])
    """
    X, C = _data_and_centres(X, C)
    return _lloyd_step(X, C)


def _lloyd_step(X, C):
    d = _squared_distances(X, C)
    return _weighted_means(X, C, _responsibilities(d, None, "hard"))


def soft_step(X, C, temperature=None, kind="softmax"):
    """One soft step: ``c_k <- sum_i r_ik x_i / n_k`` with ``n_k = sum_i r_ik``.

    This is the EM M-step, and also the gradient step ``c_k - N/(2 n_k) grad_{c_k} F_T``
    on the free energy. A centre with ``n_k = 0`` (entmax15 can give exactly zero mass:
    a dead centre) keeps its place. For softmax ``n_k > 0`` always; the weights are
    rescaled per centre in the log domain so that the step stays exact when every
    ``r_ik`` underflows (see ``_softmax_column_weights``).

    Examples
    --------
    >>> X = [[0.0], [1.0], [2.0]]
    >>> soft_step(X, [[0.0], [2.0]], temperature=1e-3, kind="entmax15")  # tie split 1/2
    array([[0.33333333],
           [1.66666667]])
    """
    X, C, temperature = _soft_arguments(X, C, temperature, kind)
    return _soft_step(X, C, temperature, kind)


def _soft_step(X, C, temperature, kind):
    d = _squared_distances(X, C)
    if kind == "softmax":
        return _weighted_means(X, C, _softmax_column_weights(d, temperature))
    return _weighted_means(X, C, _responsibilities(d, temperature, kind))


def _softmax_column_weights(d, temperature):
    """Weights proportional, per centre, to ``r_ik``, the largest of each column being 1.

    ``log r_ik = -regret_ik / T - log sum_l exp(-regret_il / T)``. Within column k, adding
    ``min_j regret_jk / T`` is a constant that the weighted mean ignores, and it keeps
    every exponent finite: so the step stays exact where every ``r_ik`` underflows, or
    even where ``regret / T`` overflows (claim empty-clusters).
    """
    regret = _regret(d)
    log_partition = np.log(np.sum(np.exp(_logits(d, temperature)), axis=1, keepdims=True))
    log_w = -_over_temperature(regret - regret.min(axis=0, keepdims=True), temperature) - log_partition
    return np.exp(log_w - log_w.max(axis=0, keepdims=True))


def kmeans(X, C0, n_iter):
    """Lloyd's algorithm: ``n_iter`` Lloyd steps from ``C0``; no restarts, no early stop.

    Returns
    -------
    C : ndarray, shape (K, D), float64.

    Examples
    --------
    >>> kmeans([[0.0], [1.0], [9.0], [10.0]], [[0.0], [1.0]], n_iter=5)
    array([[0.5],
           [9.5]])
    """
    X, C = _data_and_centres(X, C0, "C0")
    for _ in range(validation.validate_count(n_iter, "n_iter")):
        C = _lloyd_step(X, C)
    return C


def anneal(X, C0, temperatures, kind="softmax", steps_per_temperature=1):
    """Deterministic annealing: ``steps_per_temperature`` soft steps at each temperature in turn.

    Returns
    -------
    trajectory : ndarray, shape (1 + len(temperatures) * steps_per_temperature, K, D)
        ``trajectory[0] = C0``; ``trajectory[1 + t * s + j]`` is the centres after step
        ``j`` at ``temperatures[t]`` (s = steps_per_temperature).

    Examples
    --------
    >>> X = [[0.0], [1.0], [9.0], [10.0]]
    >>> trajectory = anneal(X, [[4.0], [6.0]], [100.0, 1.0, 0.01], "softmax")
    >>> trajectory.shape
    (4, 2, 1)
    >>> trajectory[-1].round(6)
    array([[0.5],
           [9.5]])
    """
    validation.validate_kind(kind, allowed=SOFT_KINDS)
    temperatures = validation.validate_temperatures(temperatures, kind)
    steps = validation.validate_count(steps_per_temperature, "steps_per_temperature", minimum=1)
    X, C = _data_and_centres(X, C0, "C0")
    trajectory = [C]
    for temperature in temperatures:
        for _ in range(steps):
            C = _soft_step(X, C, temperature, kind)
            trajectory.append(C)
    return np.stack(trajectory)
