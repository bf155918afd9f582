"""The claim-test mechanism on the fixture notebook (chapters add test_NN_*.py beside it)."""

import pytest

pytestmark = pytest.mark.slow


def test_fixture_claim_holds_at_two_sizes(smoke, squares_notebook):
    for n in (3, 12):
        record = smoke(str(squares_notebook), n=n)
        assert record["metrics"]["n_squared"] == n * n
        assert record["params"]["n"] == n
        assert record["headline"][0]["metric"] == "n_squared"
        assert record["figures"] == ["squares.png"]

