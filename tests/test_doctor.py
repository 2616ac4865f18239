"""softmax doctor: each check true to this machine, each problem with what to do, and
the page fits 80 columns."""

from __future__ import annotations

import json
import platform
import sys

from typer.testing import CliRunner

from softmax_exp import doctor
from softmax_exp.device import Gpu
from softmax_exp.doctor import Finding, diagnose
from softmax_exp.mxnet_compat import MxnetMissingError
from softmax_exp_cli.doctor import findings_lines
from softmax_exp_cli.main import app

H100 = Gpu(0, "NVIDIA H100 80GB HBM3", (9, 0))


def by_topic(findings):
    return {finding.topic: finding for finding in findings}


def test_every_check_reports_in_order_with_this_python():
    findings = diagnose()
    topics = list(dict.fromkeys(finding.topic for finding in findings))
    assert topics == ["python", "numpy", "mxnet", "shim", "build", "gpu", "cpu", "kernels",
                      "data", "ray"]  # fmt: skip
    python = by_topic(findings)["python"]
    assert python.text.startswith(platform.python_version()) and sys.executable in python.text
    assert not python.problem


def test_no_gpu_is_one_plain_line_not_a_problem(monkeypatch):
    monkeypatch.setattr("softmax_exp.device.list_gpus", lambda: [])
    monkeypatch.setattr("softmax_exp.device.cuda_enabled", lambda: False)
    assert doctor.check_gpus() == [
        Finding("gpu", "none seen (no nvidia-smi): training runs on the CPU")
    ]


def test_a_gpu_the_wheels_have_no_code_for_says_what_to_build(monkeypatch):
    monkeypatch.setattr("softmax_exp.device.list_gpus", lambda: [H100])
    monkeypatch.setattr("softmax_exp.device.cuda_enabled", lambda: True)
    (found,) = doctor.check_gpus()
    assert found.problem and "compute capability 9.0" in found.text
    assert "MXNET_CUDA_ARCH 9.0" in found.fix and "CUDA 11.8+" in found.fix
    monkeypatch.setattr("softmax_exp.device.cuda_enabled", lambda: False)
    (found,) = doctor.check_gpus()
    assert found.problem and "no CUDA" in found.text and "mxnet-cu" in found.fix


def test_data_not_verified_or_missing_is_a_problem_with_a_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("SOFTMAX_CACHE_DIR", str(tmp_path / "cache"))
    (found,) = doctor.check_data()
    assert found.problem and "not verified" in found.text and found.fix.startswith("softmax data")
    monkeypatch.setenv("SOFTMAX_DATA_DIR", str(tmp_path))
    (found,) = doctor.check_data()
    assert found.problem and found.text.startswith("not found") and found.fix


def test_a_missing_mxnet_is_said_once_and_the_rest_still_run(monkeypatch):
    def missing():
        raise MxnetMissingError("MXNet is not installed; run scripts/setup")

    checks = {"python": doctor.check_python, "mxnet": missing, "gpu": missing,
              "cpu": doctor.check_cpu}  # fmt: skip
    monkeypatch.setattr(doctor, "CHECKS", checks)
    found = by_topic(diagnose())
    assert found["mxnet"].problem and "not installed" in found["mxnet"].text
    assert found["gpu"].text == "skipped: MXNet cannot be loaded (above)"
    assert not found["cpu"].problem and not found["python"].problem


def test_lines_fit_80_columns_and_never_cut_a_path():
    long_path = "/root/.cache/softmax-exp/kernels/" + "0123456789abcdef" * 4 + "/lib.so"
    findings = [
        Finding("kernels", f"built and loaded from {long_path}"),
        Finding("data", "not found (looked in /a, /b)", True, "install it " * 12),
    ]
    lines = [line for line, _ in findings_lines(findings, 80)]
    assert lines[0] == "kernels built and loaded from" and lines[1] == " " * 8 + long_path
    assert all(len(line) <= 80 for line in lines if long_path not in line)
    assert all(line == line.rstrip() for line in lines)
    assert any(line.strip().startswith("fix: install it") for line in lines)
    assert lines[2] == "data    PROBLEM: not found (looked in /a, /b)"


def test_cli_json_and_exit_code_follow_the_problems(monkeypatch):
    monkeypatch.setattr(doctor, "CHECKS", {"python": doctor.check_python})
    done = CliRunner().invoke(app, ["doctor", "--json"])
    assert done.exit_code == 0 and json.loads(done.output)["problems"] == 0
    monkeypatch.setattr(doctor, "CHECKS", {"python": lambda: [Finding("python", "x", True, "y")]})
    done = CliRunner().invoke(app, ["doctor"])
    assert done.exit_code == 1
    assert done.output.splitlines() == ["python PROBLEM: x", "       fix: y", "1 problem found"]
