"""Hostile settings and sweep files (issue 25): bounded reading, and one line with exit
code 2 for each, never a traceback or a wait without end."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softmax_exp import yamlio
from softmax_exp.sweep.spec import _first_repeat
from softmax_exp_cli.main import main


def refused(capsys, argv) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert code == 2, captured
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    return captured.err


def laughs(kind: str, levels: int = 9) -> str:
    """Each level is ten aliases of the one before: 10**levels values once expanded."""
    lines = []
    for level in range(levels):
        name = chr(ord("a") + level)
        if kind == "list":
            items = ", ".join(["x"] * 10 if level == 0 else [f"*{chr(ord(name) - 1)}"] * 10)
            lines.append(f"{name}: &{name} [{items}]")
        else:
            value = "1" if level == 0 else f"*{chr(ord(name) - 1)}"
            items = ", ".join(f"k{i}: {value}" for i in range(10))
            lines.append(f"{name}: &{name} {{{items}}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("kind", ["list", "mapping"])
@pytest.mark.parametrize("command", [["sweep"], ["train", "-c"]])
def test_aliases_that_expand_without_end_are_refused(tmp_path, capsys, kind, command):
    path = tmp_path / "laughs.yaml"
    path.write_text(laughs(kind) + "grid: {lr: [0.1]}\n")
    assert len(path.read_bytes()) < 2000
    err = refused(capsys, [*command, str(path), "--dry-run"])
    assert f"more than {yamlio.MAX_NODES:,} values once its aliases" in err


def test_a_few_aliases_are_still_fine(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("base: &b {epochs: 2}\ngrid: {lr: &l [0.1, 0.2]}\n")
    assert main(["sweep", str(path), "--dry-run"]) == 0


@pytest.mark.parametrize("command", [["sweep"], ["train", "-c"]])
def test_an_endless_or_huge_file_is_refused_at_the_size_cap(tmp_path, capsys, command):
    err = refused(capsys, [*command, "/dev/zero", "--dry-run"])
    assert "/dev/zero: larger than 1024 KiB" in err
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * yamlio.MAX_BYTES + "\ngrid: {lr: [0.1]}\n")
    assert "larger than 1024 KiB" in refused(capsys, [*command, str(big), "--dry-run"])


@pytest.mark.slow  # writes and reads a grid file near the size limit
def test_a_long_grid_list_is_refused_by_its_size(tmp_path, capsys):
    """Repeats are found in linear time, so the size limit answers, not a pairwise scan
    of 60,000 values (minutes before this change)."""
    path = tmp_path / "s.yaml"
    values = ", ".join(str(i) for i in range(1, 60_001))
    path.write_text(f"grid:\n  batch_size: [{values}]\n  lr: [0.1, 0.2]\nmax_trials: 100000\n")
    assert "this sweep has 120,000 trials, over the limit" in refused(
        capsys, ["sweep", str(path), "--dry-run"]
    )


scalars = st.one_of(
    st.integers(-3, 3), st.floats(allow_nan=False), st.booleans(), st.text(max_size=2)
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=2),
    st.dictionaries(st.text(max_size=1), scalars, max_size=2),
)


@given(st.lists(values, max_size=8))
def test_repeats_are_those_a_pairwise_scan_finds(items):
    pairwise = [v for i, v in enumerate(items) if v in items[:i]]
    found = _first_repeat(items)
    if pairwise:
        assert found is not None and found[0] == pairwise[0]
    else:
        assert found is None


@pytest.mark.parametrize("name", ["../../../x", "a/b", "..", "x\\y", "'a\\x00b'"])
def test_a_sweep_name_never_leads_out_of_runs(tmp_path, capsys, monkeypatch, name):
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    path = tmp_path / "s.yaml"
    path.write_text(f"name: {name}\nbase: {{epochs: 1, train_subset: 100}}\ngrid: {{lr: [0.1]}}\n")
    monkeypatch.chdir(tmp_path)
    assert "is not a plain name" in refused(capsys, ["sweep", str(path)])
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before


@pytest.mark.parametrize("method", ["[median]", "{a: 1}", "1", "null"])
def test_a_prune_method_of_another_type_is_one_line(tmp_path, capsys, method):
    path = tmp_path / "s.yaml"
    path.write_text(f"grid: {{lr: [0.1]}}\nprune: {{method: {method}}}\n")
    assert "prune.method" in refused(capsys, ["sweep", str(path), "--dry-run"])
