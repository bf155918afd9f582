"""python -m kit: list, run, and refusals with exit code 2 before any kernel starts."""

import subprocess

import pytest

from kit.core import cli


def run_cli(kit_cli, *args, cwd=None):
    return subprocess.run([*kit_cli, *args], capture_output=True, text=True, cwd=cwd)


def test_list_shows_all_ten_chapters(kit_cli, tmp_path):
    out = run_cli(kit_cli, "list", "--runs", str(tmp_path))
    assert out.returncode == 0
    for title in ["Low-bit training", "Automatic model optimization recommendation"]:
        assert title in out.stdout
    assert out.stdout.count("\n") == 11


@pytest.mark.parametrize(("args", "message"), [
    (["run", "99"], "chapter must be one of 01"),
    (["run", "foo"], "chapter must be a chapter id"),
    (["sweep", "SQUARES", "--grid", "n"], "grid item must look like name=v1,v2"),
    (["sweep", "SQUARES", "--grid", "m=1,2"], "unknown parameter 'm' for squares"),
    (["sweep", "SQUARES", "--grid", "n=1,2", "-p", "n", "3"], "both in --grid and in -p/-f"),
    (["sweep", "SQUARES", "--grid", "n=1", "--workers", "0"], "--workers must be an int >= 1"),
    (["run", "SQUARES", "-p", "results_path", "x"], "results_path is set by the runner"),
    (["run", "SQUARES", "-f", "missing.yaml"], "parameters file 'missing.yaml' does not exist"),
])
def test_bad_input_exits_2_with_a_message_and_starts_nothing(kit_cli, squares_notebook,
                                                             tmp_path, args, message):
    args = [str(squares_notebook) if a == "SQUARES" else a for a in args]
    out = run_cli(kit_cli, *args, "--runs", str(tmp_path / "runs"))
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_run_with_yaml_and_p_then_rerun_is_skipped(kit_cli, squares_notebook, tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("n: 5\nsleep: 0.0\n")
    runs = tmp_path / "runs"
    args = ["run", str(squares_notebook), "-f", str(params), "-p", "n", "7", "--runs", str(runs)]
    first = run_cli(kit_cli, *args)
    assert first.returncode == 0, first.stderr
    assert "squares: done in" in first.stdout
    (run_dir,) = (runs / "squares").iterdir()
    assert '"n_squared": 49' in (run_dir / "results.json").read_text()
    second = run_cli(kit_cli, *args)
    assert "already complete" in second.stdout


@pytest.mark.slow
def test_failed_run_exits_1(kit_cli, squares_notebook, tmp_path):
    out = run_cli(kit_cli, "run", str(squares_notebook), "-p", "n", "-5",
                  "--runs", str(tmp_path))
    assert out.returncode == 1
    assert "n must be an int in [0, 1000], got -5" in out.stderr


def test_parser_knows_its_commands():
    assert set(cli.COMMANDS) == {"list", "run", "sweep", "book", "clean"}
    with pytest.raises(SystemExit) as exit_:
        cli.main(["frobnicate"])
    assert exit_.value.code == 2
