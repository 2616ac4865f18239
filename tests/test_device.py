"""--ctx gpu: every way it cannot work is one line before training, tested without a GPU
(the MXNet here is a CPU build; the GPU's answers are played by monkeypatch)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from softmax_exp import device
from softmax_exp.device import Gpu, parse_nvidia_smi, probe_failure, wheel_runs_on
from softmax_exp.errors import DeviceError
from softmax_exp_cli.main import app

H100 = Gpu(0, "NVIDIA H100 80GB HBM3", (9, 0))
NO_KERNEL = "CUDA: no kernel image is available for execution on the device"


@pytest.mark.parametrize(
    "capability, runs",
    [((5, 0), True), ((6, 1), True), ((7, 5), True), ((8, 6), True), ((8, 9), True),
     ((3, 7), False), ((5, 3), True), ((9, 0), False), ((10, 0), False), ((12, 0), False)],
)  # fmt: skip
def test_which_gpus_the_wheels_run_on(capability, runs):
    assert wheel_runs_on(capability) is runs


def test_no_kernel_image_names_the_capability_and_what_to_do():
    line = probe_failure("gpu:0", NO_KERNEL, H100)
    assert "\n" not in line and line.startswith("ctx gpu:0: this MXNet has no code for ")
    assert "NVIDIA H100 80GB HBM3, compute capability 9.0" in line
    assert "MXNET_CUDA_ARCH including 9.0" in line and "CUDA 11.8+" in line
    assert "use ctx cpu" in line


def test_other_probe_failures_carry_mxnets_reason():
    line = probe_failure("gpu", "CUDA: out of memory", None)
    assert line == (
        "ctx gpu: MXNet cannot run on its GPU: CUDA: out of memory; check nvidia-smi, "
        "or use ctx cpu"
    )


def test_nvidia_smi_lines_become_gpus(monkeypatch):
    monkeypatch.setattr(device, "_runtime_capability", lambda index: None)
    text = "0, NVIDIA H100 80GB HBM3, 9.0\n1, Tesla V100-SXM2-16GB, 7.0\n2, Old GPU, [N/A]\n"
    assert parse_nvidia_smi(text) == [
        H100, Gpu(1, "Tesla V100-SXM2-16GB", (7, 0)), Gpu(2, "Old GPU", None),
    ]  # fmt: skip
    assert parse_nvidia_smi("No devices were found\n") == []


def test_a_cpu_build_of_mxnet_is_refused_before_the_probe():
    with pytest.raises(DeviceError, match=r"^ctx gpu: this MXNet \(1\.9\.1\) was built without"):
        device.resolve_context("gpu")


def pretend_gpu(monkeypatch, error):
    monkeypatch.setattr(device, "cuda_enabled", lambda: True)
    monkeypatch.setattr(device, "gpu_count", lambda: 1)
    monkeypatch.setattr(device, "gpu_info", lambda index: H100)
    monkeypatch.setattr(device, "probe", error)


def test_the_probe_really_runs_an_operation_on_the_context():
    """On this CPU build MXNet's real answer to an operation on gpu(0) is an error."""
    mx = device.load_mxnet()
    assert "GPU" in device.probe(mx.gpu(0)) and device.probe(mx.cpu()) == ""


def test_a_gpu_without_code_fails_in_one_line_before_any_run(monkeypatch, tmp_path):
    pretend_gpu(monkeypatch, lambda context: NO_KERNEL)
    done = CliRunner().invoke(app, ["train", "--ctx", "gpu:0", "--out", str(tmp_path)])
    assert done.exit_code == 2
    assert done.output.startswith("error: --ctx gpu:0: this MXNet has no code for NVIDIA H100")
    assert done.output.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_a_working_gpu_is_returned(monkeypatch):
    pretend_gpu(monkeypatch, lambda context: "")
    assert device.resolve_context("gpu:0").device_type == "gpu"
