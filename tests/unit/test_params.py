"""kit.core.params: every check's acceptance, and the exact error messages."""

import pytest

from kit.core import params as kp


@pytest.mark.parametrize(("check", "good", "bad", "message"), [
    (kp.Int(1, 12), [1, 12, 7], [0, 13, 2.0, True, "3"], "an int in [1, 12]"),
    (kp.Int(0), [0, 10**9], [-1], "an int >= 0"),
    (kp.Float(0.0, 1.0, low_open=True), [1, 0.5, 1e-9], [0.0, 1.5, float("nan"), False],
     "a number in (0.0, 1.0]"),
    (kp.Float(high=2.0, high_open=True), [-5, 1.99], [2.0, float("inf")], "a number < 2.0"),
    (kp.Choice("graph", "pynative"), ["graph"], ["Graph", 1, None], "one of 'graph', 'pynative'"),
    (kp.Choice(1, 2), [1, 2], [1.0, True], "one of 1, 2"),
    (kp.Bool(), [True, False], [0, 1, "True"], "True or False"),
    (kp.Str(), ["x"], ["", None, 3], "a non-empty string"),
    (kp.Optional(kp.Int(1, 3)), [None, 2], [0, "2"], "None or an int in [1, 3]"),
    (kp.ListOf(kp.Int(1, 8), 1, 3), [[1], (2, 8), [1, 2, 3]], [[], [0], [1, 2, 3, 4], 5],
     "a list of 1-3 items, each an int in [1, 8]"),
])
def test_checks_accept_and_refuse(check, good, bad, message):
    for value in good:
        assert check.validate("p", value) is value
    for value in bad:
        with pytest.raises(ValueError) as err:
            check.validate("p", value)
        assert str(err.value) == f"p must be {message}, got {value!r}"


SPEC = kp.Spec(order=kp.Int(1, 12), mode=kp.Choice("graph", "pynative"), seed=kp.Int(0),
               results_path=kp.Optional(kp.Str()))


def namespace(**overrides):
    ns = {"order": 4, "mode": "graph", "seed": 0, "results_path": None,
          "In": [""], "Out": {}, "_": "", "get_ipython": print, "kp": kp}
    ns.update(overrides)
    return ns


def test_check_returns_the_declared_values_only():
    assert SPEC.check(namespace()) == {"order": 4, "mode": "graph", "seed": 0,
                                       "results_path": None}


def test_check_message_names_parameter_value_and_allowed_range():
    with pytest.raises(ValueError, match=r"^order must be an int in \[1, 12\], got 20$"):
        SPEC.check(namespace(order=20))


def test_check_reports_unknown_injected_names_with_a_suggestion():
    with pytest.raises(ValueError) as err:
        SPEC.check(namespace(ordr=3))
    assert "unknown parameter 'ordr'" in str(err.value)
    assert "did you mean 'order'?" in str(err.value)


def test_check_reports_every_problem_at_once_and_missing_names():
    ns = namespace(order=0, mode="eager")
    del ns["seed"]
    with pytest.raises(ValueError) as err:
        SPEC.check(ns)
    text = str(err.value)
    assert "parameter 'seed' is missing" in text
    assert "order must be an int in [1, 12], got 0" in text
    assert "mode must be one of 'graph', 'pynative', got 'eager'" in text


def test_check_values_validates_partial_mappings():
    assert SPEC.check_values({"order": 2}) == {"order": 2}
    with pytest.raises(ValueError, match="unknown parameter 'lr'"):
        SPEC.check_values({"lr": 0.1})
    with pytest.raises(ValueError, match="order must be"):
        SPEC.check_values({"order": 99})


def test_spec_refuses_non_checks_and_choice_needs_options():
    with pytest.raises(TypeError, match="parameter 'order' needs a Check"):
        kp.Spec(order=int)
    with pytest.raises(ValueError, match="at least one option"):
        kp.Choice()
