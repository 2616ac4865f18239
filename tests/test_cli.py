"""The CLI layer: thin tests of parsing, exit codes and one-line errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from softmax_exp_cli.main import app, main

runner = CliRunner()


def run_main(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_command_has_help_with_an_example():
    import typer.main

    group = typer.main.get_command(app)
    assert group.commands, "no commands registered"
    for name in group.commands:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example: softmax " + name in " ".join(result.output.split()), name


def test_help_and_version(capsys):
    code, out, _ = run_main(capsys, "--help")
    assert code == 0 and "train" in out
    code, out, _ = run_main(capsys, "--version")
    assert code == 0 and out.startswith("softmax-exp ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--lr", "abc"], "error: Invalid value for '--lr'"),
        (["train", "--bogus"], "error: No such option: --bogus"),
        (["nosuch"], "error: No such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(capsys, args, message):
    code, out, err = run_main(capsys, *args)
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1, err


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--lr", "-1"], "error: --lr: 'lr' is out of range"),
        (
            ["train", "--set", "lrr=1"],
            "error: --set lrr=1: unknown setting 'lrr'; did you mean 'lr'?",
        ),
        (["train", "--ctx", "gpu:0"], "error: --ctx gpu:0: this MXNet"),
        (["train", "--config", "missing.yaml"], "error: missing.yaml: file not found"),
    ],
)
def test_domain_errors_are_one_line_exit_2_and_create_nothing(tmp_path, args, message):
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "runs").exists()


def test_debug_shows_the_traceback(tmp_path):
    result = runner.invoke(app, ["--debug", "train", "--ctx", "gpu", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "DeviceError"


def test_debug_after_the_command_name_works_too(capsys):
    with pytest.raises(Exception, match="built without CUDA"):
        main(["train", "--ctx", "gpu", "--debug"])


def test_missing_data_dir_is_a_clear_error(tmp_path):
    result = runner.invoke(
        app, ["train", "--data-dir", str(tmp_path), "--out", str(tmp_path / "runs")]
    )
    assert result.exit_code == 2
    assert "missing train-images-idx3-ubyte.gz" in result.output
    assert "put the four IDX .gz files there" in result.output
    assert "--data-dir" not in result.output  # the flag given is the problem, not the fix


@pytest.mark.e2e
def test_softmax_data_says_nothing_is_missing_when_a_source_is_complete(real_dataset):
    result = runner.invoke(app, ["data", "--no-download"])
    assert result.exit_code == 0, result.output
    assert "complete" in result.output and "missing" not in result.output
    assert "…" not in result.output  # the test's long cache path wraps, never cut (issue 26)
    assert [line for line in result.output.splitlines() if line != line.rstrip()] == []


@pytest.mark.e2e
def test_a_diverged_train_exits_1_and_says_why(tmp_path, real_dataset):
    result = runner.invoke(
        app,
        [
            "train",
            "--lr",
            "1e38",
            "--epochs",
            "2",
            "--set",
            "train_subset=500",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "diverged after 1 epoch " in result.output
    assert "the training loss became NaN or inf in epoch 1; try a smaller --lr" in result.output
    assert "None" not in result.output and "nan" not in result.output


@pytest.mark.parametrize(
    "args", [["--help"], ["sweep", "SPEC", "--dry-run"]], ids=["click-output", "rich-output"]
)
def test_a_closed_pipe_ends_the_command_quietly_with_exit_0(args, tmp_path):
    """`softmax ... | head`: output stops, the command goes on and exits as it would."""
    import subprocess
    import sys

    (tmp_path / "s.yaml").write_text("grid: {lr: [0.1, 0.2, 0.3]}\n")
    args = [str(tmp_path / "s.yaml") if a == "SPEC" else a for a in args]
    process = subprocess.Popen(
        [sys.executable, "-m", "softmax_exp_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # like `| head` having read what it wanted
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""


def test_the_library_never_imports_the_cli_toolkits():
    """softmax_exp is a library: typer and rich belong to cli/ alone."""
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, sys, softmax_exp\n"
        "for m in pkgutil.walk_packages(softmax_exp.__path__, 'softmax_exp.'):\n"
        "    importlib.import_module(m.name)\n"
        "for name in softmax_exp.__all__:\n"
        "    getattr(softmax_exp, name)\n"
        "bad = {'typer', 'rich'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # it is dropped
def test_a_ctrl_c_swallowed_by_a_destructor_is_raised_at_the_next_safe_point():
    """Python drops exceptions raised in __del__ (MXNet frees cached graphs there); the
    command must still stop, at the next progress callback."""
    import signal

    from rich.console import Console

    from softmax_exp_cli.common import remembered_interrupts
    from softmax_exp_cli.display import TrainDisplay

    class FreedWhileInterrupted:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)

    display = TrainDisplay(Console(file=None, quiet=True), epochs=1, quiet=True)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the tests run in the background
    with remembered_interrupts():
        FreedWhileInterrupted()  # the KeyboardInterrupt is raised and dropped here
        with pytest.raises(KeyboardInterrupt):
            display.batches_done(16)
    assert signal.getsignal(signal.SIGINT) is before


def test_set_null_unsets_what_a_config_file_set(tmp_path):
    import yaml

    (tmp_path / "c.yaml").write_text("patience: 3\ntrain_subset: 5000\n")
    result = runner.invoke(
        app,
        [
            "train",
            "-c",
            str(tmp_path / "c.yaml"),
            "--set",
            "patience=null",
            "--set",
            "train_subset=null",
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.output)
    assert config["patience"] is None and config["train_subset"] is None
    refused = runner.invoke(app, ["train", "--set", "lr=null", "--dry-run"])
    assert refused.exit_code == 2 and refused.output.startswith("error: --set lr=null")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "0.1", "--set", "lr=0.2"], "--lr 0.1 and --set lr=0.2 both set lr"),
        (["--set", "lr=0.2", "--lr", "0.1"], "--lr 0.1 and --set lr=0.2 both set lr"),
        (["--set", "epochs=3", "--epochs", "4"], "--epochs 4 and --set epochs=3 both set epochs"),
        (["--set", "lr=0.2", "--set", "lr=0.3"], "--set lr=0.2 and --set lr=0.3 both set lr"),
    ],
)
def test_a_setting_given_twice_is_refused_in_either_order(args, message):
    """Neither the option nor --set wins silently (issue 26); the help says so."""
    result = runner.invoke(app, ["train", *args, "--dry-run"])
    assert result.exit_code == 2
    assert result.output == f"error: {message}; give only one of them\n"
    assert "lr: " not in result.output
    help_text = " ".join(runner.invoke(app, ["train", "--help"]).output.split())
    assert "takes that option or --set, not both" in help_text


def test_an_error_quoting_a_newline_stays_one_line(capsys):
    """What the user typed is echoed escaped: `--set '0=<newline>'` once printed two lines."""
    from softmax_exp_cli.main import main

    assert main(["train", "--set", "0=\n", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --set 0=\\n: unknown setting '0'")
