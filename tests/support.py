"""Support for the claim tests: proof that a claim's property bites.

A claim test is an ordinary (usually Hypothesis) test that takes the ``implementation``
fixture of ``conftest.py``: it runs on every correct implementation, where it must pass.
Its bite test runs *the same test* with a deliberately broken variant (``variants.py``) in
place of the implementation, where ``assert_bites`` requires it to fail by assertion: a
property that cannot tell a broken implementation from a correct one proves nothing.

Examples
--------
In a claim test module::

    @pytest.mark.claim("step-size")
    @given(problem=problems(), kind=st.sampled_from(SOFT_KINDS))
    def test_gradient_step_is_the_soft_step(implementation, problem, kind):
        ...

    @pytest.mark.claim("step-size")
    def test_step_size_bites():
        assert_bites(test_gradient_step_is_the_soft_step, variants.SOFT_STEP_MIRRORED)

The convergence claims compare the three values J, L_T and F_T of an implementation with
exact bounds; ``objectives`` computes them and ``objectives_rounding`` says how far each may
be off in float64.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import Phase, settings

from kmeans_rbf.tolerances import error_bounds

__all__ = ["assert_bites", "assert_bites_engine", "objectives", "objectives_rounding", "patched"]

# How a property is run on a broken variant: until its first failure, up to 1000 examples
# (a property that catches the bug fails within the first few, so this costs nothing then;
# one that catches it only on rare inputs still gets a fair search, the same in every run
# and whatever ran before), without shrinking (the verdict is all that is needed).
_BITE = dict(max_examples=1000, phases=[Phase.explicit, Phase.generate], database=None)


@contextlib.contextmanager
def _bite_settings(test):
    """Run a Hypothesis test with the bite settings, restoring its own afterwards.

    Hypothesis reads a test's settings from its ``_hypothesis_internal_use_settings``
    attribute at every call; ``@settings`` would set it for good (the real test would then
    run 1000 examples too), so it is swapped for the duration of the call only.
    ``tests/test_support.py`` checks that this still works with the installed Hypothesis.
    """
    own = getattr(test, "_hypothesis_internal_use_settings", None)
    if own is None:  # a plain test, not a Hypothesis one
        yield
        return
    test._hypothesis_internal_use_settings = settings(own, **_BITE)
    try:
        yield
    finally:
        test._hypothesis_internal_use_settings = own


def _leaves(error):
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def assert_bites(test, broken, **arguments):
    """Run the claim test ``test`` with ``broken`` as its implementation; it must fail by assertion.

    ``arguments`` are passed on (a test's other fixtures or parameters, by name).
    """
    try:
        with _bite_settings(test):
            test(implementation=broken, **arguments)
    except pytest.skip.Exception:
        raise AssertionError(f"{test.__name__} skipped itself on {broken.name!r}; a bite needs a verdict") from None
    except BaseException as error:  # noqa: BLE001 - a group of failures is inspected below
        others = [e for e in _leaves(error) if not isinstance(e, AssertionError)]
        assert not others, f"{test.__name__} failed on {broken.name!r}, but not by assertion: {others!r}"
        return
    raise AssertionError(f"{test.__name__} passed on the deliberately broken {broken.name!r}")


@contextlib.contextmanager
def patched(target, **replacements):
    """``target``'s attributes replaced for the duration: a deliberately broken engine
    (the fast machinery's private pieces, which no ``implementation`` fixture reaches)."""
    saved = {name: getattr(target, name) for name in replacements}
    for name, value in replacements.items():
        setattr(target, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(target, name, value)


@contextlib.contextmanager
def fused_kernels(enabled):
    """The streamed steps with the fused kernels (``kmeans_rbf.fused``) on or off."""
    from kmeans_rbf import fused

    previous = fused.use_fused(enabled)
    try:
        yield
    finally:
        fused.use_fused(previous)


def assert_bites_engine(test, broken, *args, **kwargs):
    """``test(*args, **kwargs)`` must fail by assertion while ``broken()`` is in force.

    ``broken`` returns a context manager that breaks the engine (usually ``patched``);
    the tests of ``kmeans_rbf.streaming``, ``fused`` and ``out_of_core`` bite this way.
    A Hypothesis test runs with the bite settings, as in ``assert_bites``.
    """
    with broken(), _bite_settings(test):
        try:
            test(*args, **kwargs)
        except AssertionError:
            return
    raise AssertionError(f"{test.__name__} passed with the engine broken by {broken.__name__}")


def objectives(implementation, X, C, T, kind):
    """``(J, L_T, F_T)`` at ``(X, C)`` as ``implementation`` computes them, as floats."""
    J = float(implementation.objective(X, C))
    L = float(implementation.objective(X, C, T, kind))
    F = float(implementation.free_energy(X, C, T, kind))
    return J, L, F


def objectives_rounding(X, C, T, kind):
    """Bounds on the float64 rounding errors of ``(J, L_T, F_T)`` at ``(X, C)``.

    The entries ``objective`` and ``free_energy`` of ``kmeans_rbf.tolerances.error_bounds``
    (for J, those of ``kind='hard'``). An inequality between two computed values gets the
    sum of their two bounds.
    """
    soft = error_bounds(X, C, T, kind, np.float64)
    hard = error_bounds(X, C, None, "hard", np.float64)
    return hard["objective"], soft["objective"], soft["free_energy"]

