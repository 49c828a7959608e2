"""Comparisons and test cases, judged in the grader's process."""
import dataclasses

import numpy as np
import pytest

from ebmlib.grading import Test, close, equal, jacobian
from ebmlib.grading.spec import Case, judge, make_case, within_round_off


def case(compare=close(), expected=(np.array([1.0, 2.0, 3.0]),)):
    c = make_case(Test("q", "t", "f", (np.zeros(3),), compare), 0, "ex", False)
    c.expected = list(expected)
    return c


def test_close_passes_within_tolerance_and_reports_the_first_difference():
    assert judge(case(), [np.array([1.0, 2.0, 3.0 + 1e-9])]) == ("ok", "passed")
    status, message = judge(case(), [np.array([1.0, 2.5, 3.5])])
    assert status == "wrong"
    assert message.startswith("2 of 3 entries differ") and "index (1,): got 2.5, expected 2" in message


@pytest.mark.parametrize("got, problem", [
    ([np.zeros((3, 1))], "has shape (3, 1), expected (3,)"),
    ([np.array([1.0, np.nan, 3.0])], "contains NaN at index (1,)"),
    ([np.array(["a", "b", "c"])], "expected numbers"),
    ([np.zeros(3), np.zeros(3)], "returned 2 values (a tuple), expected 1 value"),
])
def test_shapes_types_nans_and_counts_are_explained(got, problem):
    status, message = judge(case(), got)
    assert status == "wrong" and problem in message


def test_equal_is_exact():
    c = case(equal(), (np.array([0, 2, 1]),))
    assert judge(c, [np.array([0, 2, 1])])[0] == "ok"
    assert judge(c, [np.array([0, 1, 1])]) == ("wrong", "1 of 3 entries differ; first at index (1,): got 1, expected 2")


def test_jacobian_lists_the_wrong_entries():
    expected = np.array([[0.2, 0.3, 0.5]])
    c = case(jacobian(), (expected,))
    assert judge(c, [np.array([0.2, 0.3, 0.5])])[0] == "ok"
    status, message = judge(c, [np.array([0.2, -0.3, 0.5])])
    assert status == "wrong"
    assert "d out[0] / d in[1]: analytic -0.3, finite differences 0.3" in message
    assert "has 2 entries" in judge(c, [np.zeros(2)])[1]


def test_inputs_are_deterministic_and_survive_json():
    test = Test("q", "batch", "f(*args, beta=2.0)", lambda rng: (rng.normal(size=(2, 3)), 3, 0.5))
    a, b = make_case(test, 0, "ex", True), make_case(test, 0, "ex", True)
    np.testing.assert_array_equal(a.args[0], b.args[0])
    assert a.scalars == [None, "int", "float"]
    a.expected = [np.array([1.0, np.inf, -np.inf])]
    back = Case.from_json(a.to_json())
    np.testing.assert_array_equal(back.args[0], a.args[0])
    np.testing.assert_array_equal(back.expected[0], a.expected[0])
    assert back.scalars == a.scalars and back.compare == a.compare


def test_arguments_must_be_numeric():
    with pytest.raises(ValueError, match="numbers or numeric arrays"):
        make_case(Test("q", "t", "f", ("text",)), 0, "ex", False)


def test_call_expressions_see_args_inside_comprehensions_and_lambdas():
    from ebmlib.grading.harvest import _target

    assert _target("[a * k for a in args]", {"k": 3})((1, 2)) == [3, 6]
    assert _target("(lambda: sum(args))()", {})((1, 2, 4)) == 7
    with pytest.raises(LookupError, match="'missing' is not defined"):
        _target("missing(*args)", {})


def changed(c, args=None, expected=None):
    """A copy of case ``c`` with other inputs or expected values."""
    return dataclasses.replace(c, args=args if args is not None else c.args,
                               expected=expected if expected is not None else c.expected)


@pytest.mark.parametrize("compare, delta, kept", [
    (close(1e-6, 1e-9), 1e-15, True),    # last bits
    (close(1e-6, 1e-9), 2e-9, True),     # below 1/1000 of rtol * 3
    (close(1e-6, 1e-9), 1e-8, False),    # a real change, though within the test's tolerance
    (close(0, 0), 1e-15, False),         # an exact test keeps only exact values
    (jacobian(1e-5), 5e-9, True),
    (jacobian(1e-5), 5e-7, False),
])
def test_round_off_is_a_thousandth_of_the_tests_tolerance(compare, delta, kept):
    c = case(compare)
    old = changed(c, expected=[c.expected[0] + np.array([0.0, 0.0, delta])])
    assert within_round_off(c, old) is kept


def test_round_off_needs_the_same_test_shapes_and_non_finite_entries():
    c = case(expected=(np.array([1.0, np.inf, np.nan]),))
    assert within_round_off(c, changed(c, expected=[np.array([1.0 + 1e-15, np.inf, np.nan])]))
    assert not within_round_off(c, changed(c, expected=[np.array([1.0, -np.inf, np.nan])]))
    assert not within_round_off(c, changed(c, expected=[np.array([1.0, np.inf, 0.0])]))
    assert not within_round_off(c, changed(c, expected=[np.array([1.0, np.inf])]))
    assert not within_round_off(c, changed(c, args=[np.zeros(4)]))
    assert not within_round_off(c, changed(c, args=[np.array([1e-300, 0.0, 0.0])]))
    moved = changed(c, args=[np.array([1.0, 2.0, 3.0])])
    assert within_round_off(moved, changed(moved, args=[np.array([1.0, 2.0, 3.0 + 1e-13])]))
    assert not within_round_off(moved, changed(moved, args=[np.array([1.0, 2.0, 3.0 + 1e-9])]))
    assert not within_round_off(c, dataclasses.replace(c, call="g"))


def test_a_release_keeps_round_off_cases_and_takes_real_changes():
    from ebmlib.grading.exercise import Exercise
    a = case(close(1e-6, 1e-9))
    b = make_case(Test("q", "u", "f", (np.ones(2),)), 1, "ex", False)
    b.expected = [np.array([5.0, 6.0])]
    ex = Exercise("ex", {"q": 1.0}, [a, b])
    released = ex.public_metadata()
    a.expected = [a.expected[0] * (1 + 1e-15)]      # another machine's last bits
    b.expected = [np.array([5.0, 6.5])]             # the solution changed
    ex.keep_released_cases(released)
    assert a.expected[0].tolist() == [1.0, 2.0, 3.0]
    assert b.expected[0].tolist() == [5.0, 6.5]
    ex.keep_released_cases({"not": "a release"})    # an unusable earlier release: nothing kept
    assert b.expected[0].tolist() == [5.0, 6.5]


def test_hidden_feedback_says_how_an_answer_is_off_never_the_expected_value():
    hidden = dataclasses.replace(case(expected=(np.array([1.25, -2.5, 3.75]),)), hidden=True)
    status, message = judge(hidden, [np.array([1.25, 2.5, 3.75])])
    assert status == "wrong" and "first at index (1,): the opposite sign" in message
    assert "2.5" not in message and "expected 2" not in message
    assert "too large" in judge(hidden, [np.array([1.25, -2.5, 9.0])])[1]
    public = dataclasses.replace(hidden, hidden=False)
    assert "expected 3.75" in judge(public, [np.array([1.25, -2.5, 9.0])])[1]


def test_hidden_jacobian_feedback_names_entries_not_values():
    expected = np.array([[0.5, -0.25], [0.125, 0.75]])
    hidden = dataclasses.replace(case(jacobian(), (expected,)), hidden=True)
    status, message = judge(hidden, [np.array([[0.5, 0.25], [0.125, 0.75]])])
    assert status == "wrong" and "d out[0] / d in[1] (the opposite sign)" in message
    assert "0.25" not in message and "finite differences" not in message
