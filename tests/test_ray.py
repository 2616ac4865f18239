"""Sweeps on Ray clusters started the way users start them: `ray start --head` and
`ray start --address` (token authentication on), each a subprocess of the test in its
own session on 127.0.0.1, stopped by the test by pid; `softmax sweep --address` joins
them from another process, as a user's terminal would. CI installs the `ray` extra."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from helpers import SMALL_GRID
from softmax_exp import records
from softmax_exp.errors import ClusterError, ConfigError
from softmax_exp.sweep import SerialExecutor, ray_cluster, run_sweep
from softmax_exp.sweep.ray_executor import RayExecutor

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # Ray clusters

TESTS = Path(__file__).parent
NODE_ARGS = ["--num-cpus", "1", "--object-store-memory", str(150 * 1024 * 1024)]
# Long enough to kill the worker node mid-task, short enough for CI's 2 cores.
KILL_GRID = """\
base: {epochs: 3, train_subset: 3000, batch_size: 50}
grid: {lr: [0.02, 0.05, 0.1, 0.2, 0.4, 0.8]}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def session_processes(sessions=(), marker: str = "") -> list[str]:
    """Processes of these sessions, or naming `marker` (a cluster's temp dir) if given."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            state, _, _, session = (proc / "stat").read_text().rpartition(")")[2].split()[:4]
            if state == "Z":  # dead, waiting for a parent to reap it: nothing runs
                continue
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if int(session) in sessions or (marker and marker in command):
                found.append(f"{proc.name}: {command[:120]}")
    return found


class StartedCluster:
    """A head (`ray start --head`) and worker nodes (`ray start --address`), each in a
    session of its own; their HOME holds the token as `ray get-auth-token --generate`
    leaves it, and RAY_AUTH_MODE=token, as Ray's docs say for every node."""

    def __init__(self, root: Path, cache: Path, auth: str = "token"):
        self.root = root
        self.home = root / "home"
        # Ray's sockets live under its temp dir: keep the path short.
        self.tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "HOME": str(self.home),
            "RAY_TMPDIR": str(self.tmp),
            "RAY_AUTH_MODE": auth,
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_USAGE_STATS_ENABLED": "0",
            "SOFTMAX_CACHE_DIR": str(cache),
            # worker nodes need no data: the driver ships it
            "SOFTMAX_DATA_DIR": str(root / "no-data"),
            "SOFTMAX_EXP_KERNELS": "native",
        }
        # What the nodes have installed of softmax_exp is never used: the driver ships its
        # own. A copy that cannot even be imported comes first on their path.
        stale = root / "stale" / "softmax_exp"
        stale.mkdir(parents=True)
        (stale / "__init__.py").write_text("raise ImportError('the node ran its own copy')\n")
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(stale.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        self.nodes: list[subprocess.Popen] = []
        self.home.mkdir(parents=True)
        ray = shutil.which("ray", path=str(Path(sys.executable).parent))
        subprocess.run(
            [ray, "get-auth-token", "--generate"],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.token = (self.home / ".ray" / "auth_token").read_text()
        self._start(
            [
                ray,
                "start",
                "--head",
                "--block",
                "--port",
                str(self.port),
                "--include-dashboard",
                "false",
                *NODE_ARGS,
            ]
        )

    def add_node(self) -> subprocess.Popen:
        # tests/ray_node.py is `ray start`, lifting only its refusal of a second node
        # on 127.0.0.1 (see there).
        return self._start(
            [
                sys.executable,
                str(TESTS / "ray_node.py"),
                "start",
                "--block",
                "--address",
                self.address,
                *NODE_ARGS,
            ]
        )

    def _start(self, command: list[str]) -> subprocess.Popen:
        with open(self.root / f"node-{len(self.nodes)}.log", "wb") as log:
            node = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.nodes.append(node)
        return node

    def wait_for_nodes(self, timeout: float = 90) -> None:
        """Until every node says it started (a worker node once it joined the head)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            logs = [p.read_text(errors="replace") for p in self.root.glob("node-*.log")]
            if all("Ray runtime started" in log for log in logs):
                return
            assert all(node.poll() is None for node in self.nodes), self.logs()
            time.sleep(0.2)
        raise AssertionError(f"nodes not up in {timeout} s: {self.logs()}")

    def running_task(self, node: subprocess.Popen) -> bool:
        """Whether a worker of `node` is running one of our tasks now."""
        return any("ray::_run_remote" in line for line in session_processes({node.pid}))

    def kill(self, node: subprocess.Popen) -> None:
        """The node goes away at once, as a machine does: its whole process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGKILL)
        node.wait(30)

    def stop(self) -> None:
        for node in reversed(self.nodes):
            with contextlib.suppress(ProcessLookupError):
                node.terminate()  # `ray start --block` stops its processes on SIGTERM
        for node in self.nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.wait(20)
            self.kill(node)  # whatever is left of its group
        left = session_processes({node.pid for node in self.nodes}, str(self.tmp))
        shutil.rmtree(self.tmp, ignore_errors=True)
        assert not left, f"Ray processes left behind: {left}"

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-2000:] for p in sorted(self.root.glob("node-*.log"))
        )


def softmax(*args: str, env: dict, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """The command, from `cwd`: not the repository, which Ray would put on the workers'
    path (a driver's directory is), hiding whether the package was shipped."""
    return subprocess.run(
        [sys.executable, "-m", "softmax_exp_cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def driver_env(cluster: StartedCluster, **changes) -> dict:
    """A user's terminal on the head machine: the token in ~/.ray/auth_token, and
    RAY_AUTH_MODE not set (softmax presents the token itself)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_AUTH")}
    env.update(HOME=str(cluster.home), RAY_TMPDIR=str(cluster.tmp))
    env.update(changes)
    return env


def metrics(path: Path) -> pd.DataFrame:
    trials = pd.read_csv(path / "trials.csv").drop(columns=["wall_seconds", "path"])
    return trials.sort_values("trial_id").reset_index(drop=True)


def epochs(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path / "epochs.csv").drop(columns=list(records.TIMING_COLUMNS))
    return table.sort_values(["trial_id", "epoch"]).reset_index(drop=True)


def assert_clean(output: str) -> None:
    """Nothing of Ray's own logging reaches the user."""
    for marker in (
        "gcs_client",
        "(raylet)",
        "Token authentication",
        "INFO",
        "WARNING",
        "Traceback",
    ):
        assert marker not in output, output


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, kernel_builds, real_dataset):
    root = tmp_path_factory.mktemp("cluster")
    cache = root / "cache"
    cache.mkdir()
    (cache / "kernels").symlink_to(kernel_builds, target_is_directory=True)
    started = StartedCluster(root, cache)
    try:
        started.add_node()  # it waits for the head by itself
        started.wait_for_nodes()
        yield started
    finally:
        started.stop()


def test_a_sweep_through_address_equals_the_local_executor_and_resumes(tmp_path, cluster):
    spec = tmp_path / "s.yaml"
    spec.write_text(SMALL_GRID)
    env = driver_env(cluster, SOFTMAX_CACHE_DIR=os.environ["SOFTMAX_CACHE_DIR"])
    command = [
        "sweep",
        str(spec),
        "--executor",
        "ray",
        "--address",
        cluster.address,
        "--out",
        str(tmp_path / "ray"),
    ]
    done = softmax(*command, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert_clean(done.stdout)
    local = run_sweep(spec, tmp_path / "local", argv=["test"], executor=SerialExecutor())
    assert len(local.finished()) == 4
    pd.testing.assert_frame_equal(
        metrics(tmp_path / "ray"), metrics(local.path), check_exact=False, rtol=0, atol=1e-7
    )
    pd.testing.assert_frame_equal(
        epochs(tmp_path / "ray"), epochs(local.path), check_exact=False, rtol=0, atol=1e-7
    )

    again = softmax(*command, env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "4 already finished, 0 to run" in again.stdout


def test_killing_the_worker_node_mid_sweep_retries_its_trials(tmp_path, cluster):
    spec = tmp_path / "s.yaml"
    spec.write_text(KILL_GRID)
    env = driver_env(cluster, SOFTMAX_CACHE_DIR=os.environ["SOFTMAX_CACHE_DIR"])
    sweep = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "softmax_exp_cli",
            "sweep",
            str(spec),
            "--executor",
            "ray",
            "--address",
            cluster.address,
            "--out",
            str(tmp_path / "ray"),
            "--no-fuse",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = cluster.nodes[1]
    try:
        deadline = time.time() + 120
        while not cluster.running_task(worker) and time.time() < deadline:
            time.sleep(0.05)
        assert cluster.running_task(worker), "the worker node never ran a task"
        cluster.kill(worker)  # mid-task: its trial must be retried on the head
        stdout, stderr = sweep.communicate(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, stdout + stderr
    assert stderr == ""
    assert_clean(stdout)
    local = run_sweep(
        spec, tmp_path / "local", fuse=False, argv=["test"], executor=SerialExecutor()
    )
    ray_trials = metrics(tmp_path / "ray")
    assert len(ray_trials) == 6 and (ray_trials.status == "completed").all()
    pd.testing.assert_frame_equal(
        ray_trials, metrics(local.path), check_exact=False, rtol=0, atol=1e-7
    )
    assert not epochs(tmp_path / "ray").duplicated(["trial_id", "epoch"]).any()


@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_a_missing_or_wrong_token_is_one_line_saying_where_to_put_it(tmp_path, cluster, token):
    spec = tmp_path / "s.yaml"
    spec.write_text(SMALL_GRID)
    changes = (
        {"HOME": str(tmp_path)}
        if token == "missing"
        else {"RAY_AUTH_TOKEN": "not-" + cluster.token}
    )
    out = tmp_path / "out"
    done = softmax(
        "sweep",
        str(spec),
        "--executor",
        "ray",
        "--address",
        cluster.address,
        "--out",
        str(out),
        env=driver_env(cluster, **changes),
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: --address {cluster.address}: the Ray cluster ")
    assert "'ray get-auth-token'" in done.stderr
    assert ("RAY_AUTH_TOKEN" if token == "wrong" else "~/.ray/auth_token") in done.stderr
    assert not out.exists()


JOIN = (
    "import sys; from softmax_exp.sweep.ray_cluster import connect; "
    "ray = connect(sys.argv[1] or None); print(ray.get_runtime_context().gcs_address); "
    "ray.shutdown()"
)


def test_with_debug_rays_own_lines_and_the_trace_show(tmp_path, cluster):
    spec = tmp_path / "s.yaml"
    spec.write_text(SMALL_GRID)
    done = softmax(
        "--debug",
        "sweep",
        str(spec),
        "--executor",
        "ray",
        "--address",
        cluster.address,
        "--out",
        str(tmp_path / "out"),
        env=driver_env(cluster, HOME=str(tmp_path)),
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "InvalidAuthToken" in done.stderr  # Ray's C++ log line, hidden without --debug
    assert "Traceback" in done.stderr and "ClusterError" in done.stderr


def test_a_cluster_without_authentication_is_joined_too(tmp_path):
    """Token mode off on the head (RAY_AUTH_MODE=disabled), a token on the driver's
    machine all the same: presenting it does no harm."""
    started = StartedCluster(tmp_path / "cluster", tmp_path, auth="disabled")
    try:
        started.wait_for_nodes()
        done = subprocess.run(
            [sys.executable, "-c", JOIN, started.address],
            env=driver_env(started),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{started.address}\n" and done.stderr == ""
    finally:
        started.stop()


def test_an_unreachable_address_is_one_line_within_seconds_and_writes_nothing(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SMALL_GRID)
    out = tmp_path / "out"
    began = time.monotonic()
    done = softmax(
        "sweep",
        str(spec),
        "--executor",
        "ray",
        "--address",
        "127.0.0.1:1",
        "--out",
        str(out),
        env=dict(os.environ),
        cwd=tmp_path,
        timeout=60,
    )
    took = time.monotonic() - began
    assert done.returncode == 2 and took < 30, (took, done.stderr)
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(
        "error: --address 127.0.0.1:1: cannot reach a Ray cluster "
        "(connection refused); start one there with 'ray start "
        "--head --port 1'"
    )
    assert not out.exists()


def test_an_address_where_no_ray_cluster_answers_fails_in_bounded_time(tmp_path):
    """Something listens there, but it is not a Ray head (its GCS port): Ray alone would
    wait 40 s and more. The bound is 15 s; 2 here, to keep the test short."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        code = (
            "import sys; from softmax_exp.sweep import ray_cluster as c; "
            "c.GCS_TIMEOUT_S = 2; c.connect(sys.argv[1])"
        )
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", code, address],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "HOME": str(tmp_path)},
        )
    assert time.monotonic() - began < 20
    assert done.stderr.rstrip().endswith(
        f"ClusterError: Ray cluster address {address}: no Ray cluster answered within 2 s; "
        "give the head's GCS port, as 'ray start --head' prints it"
    ), done.stderr


def test_without_an_address_a_new_local_instance_starts_despite_a_stale_one(tmp_path):
    """`ray.init()` would join the last cluster this machine ran, dead or not."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    stale = f"127.0.0.1:{free_port()}"
    try:
        (ray_tmp / "ray").mkdir()
        (ray_tmp / "ray" / "ray_current_cluster").write_text(stale)
        env = {**os.environ, "RAY_TMPDIR": str(ray_tmp), "HOME": str(tmp_path)}
        done = subprocess.run(
            [sys.executable, "-c", JOIN, ""], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("127.0.0.1:") and stale not in done.stdout
        assert done.stderr == ""  # Ray's start-up lines are hidden
        assert not session_processes(marker=str(ray_tmp)), "the local instance outlived it"
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_a_local_instance_is_set_to_stay_on_127_0_0_1_before_ray_reads_it():
    """Checked without starting one: Ray reads the setting once, at import."""
    code = (
        "from softmax_exp.sweep.ray_executor import RayExecutor; RayExecutor(); "
        "from ray._private import ray_constants as c; print(c.ENABLE_RAY_CLUSTER)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "False\n", done.stderr


@pytest.mark.parametrize(
    "address,stays",
    [("127.0.0.1:6379", "False"), ("localhost:6379", "False"), ("10.0.0.5:6379", "True")],
)
def test_a_loopback_address_keeps_ray_on_loopback(address, stays):
    """Else Ray swaps 127.0.0.1 for the machine's outward address, where a head started
    on 127.0.0.1 does not listen, and ray.init retries for ever (seen by a user whose
    shell lacked RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0). Another host is left as it is."""
    code = (
        f"from softmax_exp.sweep.ray_cluster import before_import; "
        f"before_import({address!r}); "
        "from ray._private import ray_constants as c; print(c.ENABLE_RAY_CLUSTER)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout == f"{stays}\n", done.stderr


@pytest.mark.parametrize(
    "address", ["auto", "127.0.0.1", "127.0.0.1:x", "ray://h:10001", "127.0.0.1:70000"]
)
def test_an_address_that_is_not_host_port_is_refused(address):
    with pytest.raises(ClusterError, match="not HOST:PORT"):
        RayExecutor(address=address)


def test_the_token_is_read_where_ray_reads_it(tmp_path, monkeypatch):
    for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ray_cluster.token_source() is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("abc\n")
    assert ray_cluster.token_source() == str(tmp_path / ".ray" / "auth_token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(
        ConfigError,
        match=r"RAY_AUTH_TOKEN_PATH=.*missing: cannot read the "
        r"Ray token \(No such file or directory\)",
    ):
        ray_cluster.token_source()  # Ray itself would abort the process
    (tmp_path / "empty").write_text("\n")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="the file is empty"):
        ray_cluster.token_source()
    monkeypatch.setenv("RAY_AUTH_TOKEN", "xyz")
    assert ray_cluster.token_source() == "RAY_AUTH_TOKEN"


def test_the_token_is_presented_unless_the_user_chose_a_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_AUTH_TOKEN", "xyz")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray_cluster.present_token()
    assert os.environ["RAY_AUTH_MODE"] == "disabled"  # never overruled
    monkeypatch.delenv("RAY_AUTH_MODE")
    ray_cluster.present_token()
    assert os.environ["RAY_AUTH_MODE"] == "token"


def test_the_installed_ray_is_a_supported_one():
    from packaging.requirements import Requirement

    wanted = [Requirement(r) for r in importlib.metadata.requires("softmax-exp") or []]
    ray = [r for r in wanted if r.name == "ray"]
    assert ray, "the ray extra names no Ray versions"
    assert ray[0].specifier.contains(importlib.metadata.version("ray"))


def test_without_ray_installed_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(
        ConfigError,
        match=r"Ray is not installed; install the extra: pip "
        r"install 'softmax-exp\[ray\]'",
    ):
        RayExecutor()
