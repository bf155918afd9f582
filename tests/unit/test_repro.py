"""kit.core.repro: seeding gives identical MindSpore/numpy draws; bad input is refused."""

import json
import subprocess
import sys

import pytest

from kit.core import repro

DRAW = """
import json, random, numpy as np, mindspore as ms, kit
info = kit.setup({seed}, mode="{mode}", threads=1)
print(json.dumps({{"ms": ms.ops.rand((3,)).asnumpy().tolist(), "np": np.random.rand(2).tolist(),
                  "py": random.random(), "mode": ms.get_context("mode"), "info": info.as_dict()}}))
"""


def draw(seed: int, mode: str = "graph") -> dict:
    out = subprocess.run([sys.executable, "-c", DRAW.format(seed=seed, mode=mode)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_same_seed_same_draws_across_processes_and_different_seed_differs():
    a, b, c = draw(7), draw(7), draw(8)
    assert a == b
    assert a["ms"] != c["ms"] and a["np"] != c["np"] and a["py"] != c["py"]
    assert a["mode"] == 0 and a["info"] == {"seed": 7, "mode": "graph", "threads": 1}
    assert draw(7, "pynative")["mode"] == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seed": -1}, "seed must be an int >= 0, got -1"),
    ({"seed": 1.5}, "seed must be an int >= 0, got 1.5"),
    ({"mode": "eager"}, "mode must be one of 'graph', 'pynative', got 'eager'"),
    ({"threads": 0}, r"threads must be an int in \[1, \d+\], got 0"),
    ({"threads": 10_000}, r"threads must be an int in \[1, \d+\], got 10000"),
])
def test_setup_refuses_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        repro.setup(**kwargs)


def test_versions_name_the_stack():
    v = repro.versions()
    assert v["mindspore"] == "2.10.0" and v["numpy"].startswith("1.")
    assert set(v) >= {"python", "kit", "platform", "cpus"}
