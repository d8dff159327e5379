"""The test-support layer is tested too: ``assert_bites`` must fail when it should."""

import types

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support import assert_bites

CORRECT = types.SimpleNamespace(name="correct", broken_above=None)
RARELY_BROKEN = types.SimpleNamespace(name="wrong above 990", broken_above=990)


@given(value=st.integers(0, 1000))
def property_of(implementation, value):
    # A stand-in claim test: the "implementation" is wrong only on rare inputs.
    assert implementation.broken_above is None or value <= implementation.broken_above


def test_a_rare_defect_is_found_by_the_bite_search():
    # Catches: bite settings that are not applied (25 derandomised examples of the ci
    # profile rarely draw a value above 990; the bite search of up to 1000 does).
    assert_bites(property_of, RARELY_BROKEN)


def test_the_test_keeps_its_own_settings_after_a_bite():
    # Catches: the bite settings leaking into the real test (it would run 1000 examples).
    own = property_of._hypothesis_internal_use_settings
    assert_bites(property_of, RARELY_BROKEN)
    assert property_of._hypothesis_internal_use_settings is own


def test_a_property_that_passes_does_not_bite():
    with pytest.raises(AssertionError, match="passed on the deliberately broken"):
        assert_bites(property_of, CORRECT)


def test_a_failure_that_is_not_an_assertion_does_not_bite():
    def crashes(implementation):
        raise ZeroDivisionError("a crash is not a verdict")

    with pytest.raises(AssertionError, match="not by assertion"):
        assert_bites(crashes, CORRECT)


def test_a_plain_test_bites_too():
    def counterexample(implementation):
        assert implementation.broken_above is None

    assert_bites(counterexample, RARELY_BROKEN)
