"""Support for the claim tests: implementations under test and proof that a property bites.

A claim test is written as a *property factory*: a function of an implementation that
returns a Hypothesis test. It is run on the correct implementations (the reference and
torch, through ``conftest.BACKENDS``), where it must pass, and on a deliberately broken
variant, where ``assert_bites`` requires it to fail with an AssertionError: a property
that cannot tell a broken implementation from a correct one proves nothing.
"""

import types

from hypothesis import Phase, settings

from kmeans_rbf import reference

# How a property is run on a broken variant: until its first failure, up to 1000 examples
# (a property that catches the bug fails within the first few, so this costs nothing then;
# one that catches it only on rare inputs still gets a fair search, the same in every run
# and whatever ran before), without shrinking (the verdict is all that is needed).
_BITE = settings(max_examples=1000, phases=[Phase.explicit, Phase.generate], database=None)


def variant(name, **replacements):
    """The reference with some public functions replaced: a deliberately broken implementation."""
    functions = {f: getattr(reference, f) for f in reference.__all__}
    functions.update(replacements)
    return types.SimpleNamespace(name=name, **functions)


def _leaves(error):
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def assert_bites(property_test):
    """Run a property test bound to a broken implementation; it must fail by assertion."""
    try:
        _BITE(property_test)()
    except BaseException as error:  # noqa: BLE001 - a group of failures is inspected below
        others = [e for e in _leaves(error) if not isinstance(e, AssertionError)]
        assert not others, f"the property failed, but not by assertion: {others!r}"
        return
    raise AssertionError("the property passed on a deliberately broken implementation")
