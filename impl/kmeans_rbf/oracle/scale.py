"""The scale tier: seeded problems at the sizes and scales where implementations break.

Random small problems miss the defects that live where a library switches code paths or
loses precision. Each problem here is built from a name and a seed (reproducible:
``build(name)``), and is judged by the same comparisons as the small tier:

* sizes one below and one above typical tile and chunk boundaries (25/26: ``torch.cdist``
  switches to the matrix-product formula above 25 points; 1023/1025; 65535/65537);
* as many points as centres, one centre, one point, more centres than points;
* up to N = 100,000 points, K = 1024 centres, D = 1024 features;
* data at offsets of 1e3 to 1e6 times its spread (the expansion ``|x|^2 - 2 x.c + |c|^2``
  loses ``u |x|^2`` there);
* points planted on the bisector of their two nearest centres, with relative gaps of 1e-6
  to 1e-12 (with and without offsets of 1e3 and 1e6): the exact labels are decided by the
  reference's differences in float64, which ``tests/test_oracle.py`` shows exact on them;
* logits shifted by 1e4 and 1e300, spread over 1e6, rows of 1024 entries.

The whole tier costs seconds for the reference: N K D stays at or below about 2 10^6 per
problem.
"""

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..kinds import MAPS

__all__ = ["ScaleProblem", "ScaleCheck", "PROBLEMS", "LOGIT_PROBLEMS", "SCALE_CHECKS", "build", "SEED"]

SEED = 20261130


@dataclass(frozen=True)
class ScaleProblem:
    """A named, seeded problem: ``build()`` returns its inputs (a dictionary)."""

    name: str
    maker: Callable
    size: int  # N K D (or the number of logits): the tier runs smallest first

    def build(self, seed=SEED):
        return _built(self, seed)


@functools.lru_cache(maxsize=None)
def _built(problem, seed):
    # Each problem is built once per process: every check of the tier judges the same arrays
    # (which nothing modifies: implementations get copies through the sandbox or are
    # checked for modifying them).
    return problem.maker(np.random.default_rng([seed, _stable_hash(problem.name)]))


def _stable_hash(text):
    return sum((i + 1) * ord(character) for i, character in enumerate(text)) % 2**31


def _blobs(n, k, dim, *, offset=0.0, spread=1.0, separation=10.0, informative=None):
    """Data in k blobs of width ``spread`` whose means are ``separation`` apart, at ``offset``;
    centres C0 near the blob means (each owns its blob); a temperature of the order of the
    blobs' inner distances (rows are soft, not uniform). With ``informative`` = m, the means
    differ in the last m features only: a kernel that drops features sees no clusters."""

    def make(rng):
        means = rng.normal(size=(k, dim)) * separation
        if informative is not None:
            means[:, : dim - informative] = 0.0
        members = np.arange(n) % k
        X = means[members] + rng.normal(size=(n, dim)) * spread + offset
        C = means + rng.normal(size=(k, dim)) * spread * 0.5 + offset
        temperature = 2.0 * dim * spread**2
        return {"problem": (X, C, temperature)}

    return make


def _near_ties(n, k, dim, *, gap, offset=0.0, planted=200):
    """Blob data plus ``planted`` points on the bisector of two centres, moved off it so
    that their two nearest distances differ by ``gap`` relatively (either way)."""

    def make(rng):
        base = _blobs(n - planted, k, dim, offset=0.0)(rng)["problem"]
        X, C, temperature = base[0], base[1], base[2]
        points = []
        while len(points) < planted:
            a, b = rng.choice(k, size=2, replace=False)
            direction = C[b] - C[a]
            # Along the segment a -> b, a move of t |b - a|^2 changes d_a - d_b by 2 t |b - a|^2,
            # and d_a = d_b = |b - a|^2 / 4 at the midpoint: t = gap / 8 gives the relative gap.
            t = rng.choice([-1.0, 1.0]) * gap / 8
            x = (C[a] + C[b]) / 2 + t * direction
            d = np.sum((C - x) ** 2, axis=1)
            if set(np.argsort(d)[:2]) == {a, b}:
                points.append(x)
        X = np.vstack([X, np.array(points)])
        return {"problem": (X + offset, C + offset, temperature)}

    return make


def _square(n, dim):
    def make(rng):
        X = rng.normal(size=(n, dim)) * 3
        C = rng.normal(size=(n, dim)) * 3
        return {"problem": (X, C, float(np.mean(np.sum((X[:, None] - C[None]) ** 2, axis=2))))}

    return make


def _logits(rows, width, *, shift=0.0, spread=6.0):
    def make(rng):
        Z = rng.uniform(-spread, 0.0, size=(rows, width))
        Z[:, 0] = 0.0  # a known maximum, then a shift
        ties = rng.integers(width, size=rows)
        Z[np.arange(rows), ties] = 0.0  # ties at the top, common on quantised logits
        return {"rows": Z + shift}

    return make


def _problem(name, maker, n, k, dim):
    return ScaleProblem(name, maker, n * k * dim)


PROBLEMS = sorted(
    [
        _problem("tile-25", _blobs(25, 4, 3), 25, 4, 3),
        _problem("tile-26", _blobs(26, 4, 3), 26, 4, 3),
        _problem("tile-1023", _blobs(1023, 8, 8), 1023, 8, 8),
        _problem("tile-1025", _blobs(1025, 8, 8), 1025, 8, 8),
        _problem("tile-65535", _blobs(65535, 3, 2), 65535, 3, 2),
        _problem("tile-65537", _blobs(65537, 3, 2), 65537, 3, 2),
        _problem("square-64", _square(64, 4), 64, 64, 4),
        _problem("one-centre", _blobs(500, 1, 3), 500, 1, 3),
        _problem("one-point", lambda rng: {"problem": (rng.normal(size=(1, 3)), rng.normal(size=(5, 3)) * 3, 1.0)}, 1, 5, 3),
        _problem("more-centres-than-points", lambda rng: {"problem": (rng.normal(size=(5, 2)), rng.normal(size=(12, 2)) * 4, 1.0)}, 5, 12, 2),
        _problem("many-centres", _blobs(1100, 1024, 2, separation=60.0), 1100, 1024, 2),
        _problem("many-features", _blobs(300, 6, 1024, separation=3.0, informative=256), 300, 6, 1024),
        _problem("many-points", _blobs(100_000, 4, 2), 100_000, 4, 2),
        *(_problem(f"offset-1e{e}", _blobs(2000, 8, 8, offset=10.0**e), 2000, 8, 8) for e in (3, 4, 5, 6)),
        *(_problem(f"near-ties-1e-{g}", _near_ties(2000, 8, 4, gap=10.0**-g), 2000, 8, 4) for g in (6, 9, 12)),
        _problem("near-ties-1e-9-offset-1e3", _near_ties(2000, 8, 4, gap=1e-9, offset=1e3), 2000, 8, 4),
        _problem("near-ties-1e-12-offset-1e3", _near_ties(2000, 8, 4, gap=1e-12, offset=1e3), 2000, 8, 4),
        _problem("near-ties-1e-6-offset-1e6", _near_ties(2000, 8, 4, gap=1e-6, offset=1e6), 2000, 8, 4),
    ],
    key=lambda problem: problem.size,
)

LOGIT_PROBLEMS = sorted(
    [
        ScaleProblem("logits-shift-1e4", _logits(200, 64, shift=1e4), 200 * 64),
        ScaleProblem("logits-shift-1e300", _logits(200, 64, shift=1e300, spread=1e285), 200 * 64),
        ScaleProblem("logits-spread-1e6", _logits(200, 64, spread=1e6), 200 * 64),
        ScaleProblem("logits-1024-wide", _logits(200, 1024), 200 * 1024),
        ScaleProblem("logits-65537-rows", _logits(65537, 3), 65537 * 3),
    ],
    key=lambda problem: problem.size,
)

_BY_NAME = {problem.name: problem for problem in PROBLEMS + LOGIT_PROBLEMS}


def build(name, seed=SEED):
    """The inputs of the scale problem ``name`` (see ``PROBLEMS``, ``LOGIT_PROBLEMS``).

    Examples
    --------
    >>> X, C, T = build("tile-26")["problem"]
    >>> X.shape, C.shape
    ((26, 3), (4, 3))
    """
    return _BY_NAME[name].build(seed)


# --- the checks of the tier ------------------------------------------------------------------

from . import checks as _checks  # noqa: E402 - the problems above do not need the checks


@dataclass(frozen=True)
class ScaleCheck(_checks.Check):
    """A check run on every problem of ``problems`` (smallest first) instead of drawn inputs.

    ``cases(target)`` yields (problem name, inputs): one per problem and offered kind.
    ``extra``: further inputs (e.g. ``n_iter``) as (key, value) pairs.
    """

    problems: tuple = ()
    extra: tuple = ()

    def cases(self, target):
        for problem in self.problems:
            inputs = {**problem.build(), **dict(self.extra), "scale problem": problem.name}
            for kind in self.kinds_for(target) if self.kinds else [None]:
                yield problem.name, inputs if kind is None else {**inputs, "kind": kind}


def _scale(id, capability, description, verify, problems=PROBLEMS, kinds=(), extra=(), requires=None):
    return ScaleCheck(f"scale.{id}", capability, description, None, verify, kinds, requires, tuple(problems), tuple(extra))


_DECIDED = [p for p in PROBLEMS if not p.name.startswith("near-ties")]

SCALE_CHECKS = [
    _scale("assign", "assign", "labels at scale: tiles, offsets, near-ties", _checks.check_assign),
    _scale("lloyd_step", "lloyd_step", "one Lloyd step at scale", _checks.check_lloyd_step, _DECIDED),
    _scale("kmeans", "kmeans", "three Lloyd steps at scale", _checks.check_kmeans, _DECIDED, extra=[("n_iter", 3)]),
    _scale("kmeans_fit", "kmeans_fit", "centres, labels and inertia after three steps at scale", _checks.check_kmeans_fit, _DECIDED, extra=[("n_iter", 3)]),
    _scale("responsibilities", "responsibilities", "responsibilities of every offered kind at scale",
           _checks.check_responsibilities, kinds=_checks.ALL_KINDS),
    _scale("soft_step", "soft_step", "one soft step at scale", _checks.check_soft_step, _DECIDED, kinds=MAPS),
    _scale("objective", "objective", "J and L_T at scale", _checks.check_objective, kinds=_checks.ALL_KINDS),
    _scale("gradient", "gradient", "the gradient at scale", _checks.check_gradient, _DECIDED, kinds=_checks.ALL_KINDS),
    _scale("entmax15", "entmax15", "entmax15 on shifted, spread and wide rows", _checks._check_map("entmax15"), LOGIT_PROBLEMS),
    _scale("sparsemax", "sparsemax", "sparsemax on shifted, spread and wide rows", _checks._check_map("sparsemax"), LOGIT_PROBLEMS),
]
