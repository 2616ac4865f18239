"""Sweeps on a real local Ray cluster (a head and a second node on 127.0.0.1, started
with Ray's own cluster utilities). CI installs the `ray` extra and runs these."""

from __future__ import annotations

import sys
import threading
import time

import pandas as pd
import pytest

from helpers import SMALL_GRID
from softmax_exp import records
from softmax_exp.errors import ConfigError
from softmax_exp.sweep import SerialExecutor, SweepObserver, run_sweep
from softmax_exp.sweep.ray_executor import RayExecutor

pytestmark = pytest.mark.e2e



def start_cluster():
    import ray
    from ray.cluster_utils import Cluster

    ray.shutdown()
    node_args = {"num_cpus": 1, "object_store_memory": 150 * 1024 * 1024}
    cluster = Cluster(initialize_head=True, head_node_args={**node_args,
                                                             "include_dashboard": False})
    worker = cluster.add_node(**node_args)
    cluster.wait_for_nodes()
    assert cluster.address.startswith("127.0.0.1:"), "test clusters stay on loopback"
    return cluster, worker


def stop_cluster(cluster):
    import ray

    ray.shutdown()
    cluster.shutdown()


def tables(path):
    trials = pd.read_csv(path / "trials.csv").drop(columns=["wall_seconds"])
    epochs = pd.read_csv(path / "epochs.csv").drop(columns=list(records.TIMING_COLUMNS))
    return trials, epochs


@pytest.fixture(scope="module")
def cluster(real_dataset):
    cluster, _ = start_cluster()
    yield cluster
    stop_cluster(cluster)


def test_a_sweep_on_two_ray_nodes_equals_the_local_executor(tmp_path, cluster):
    (tmp_path / "s.yaml").write_text(SMALL_GRID)
    import ray

    remote = run_sweep(tmp_path / "s.yaml", tmp_path / "ray", fuse=False, argv=["test"],
                       executor=RayExecutor(address=cluster.address))
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    local = run_sweep(tmp_path / "s.yaml", tmp_path / "local", fuse=False, argv=["test"],
                      executor=SerialExecutor())
    assert len(remote.finished()) == 4
    a, b = tables(remote.path), tables(local.path)
    pd.testing.assert_frame_equal(a[0], b[0], check_exact=False, rtol=0, atol=1e-7)
    pd.testing.assert_frame_equal(a[1], b[1], check_exact=False, rtol=0, atol=1e-7)


def test_fused_groups_and_resume_work_on_ray(tmp_path, cluster):
    (tmp_path / "s.yaml").write_text(SMALL_GRID)
    first = run_sweep(tmp_path / "s.yaml", tmp_path / "out", argv=["test"],
                      executor=RayExecutor(address=cluster.address))
    assert len(first.finished()) == 4
    again = run_sweep(tmp_path / "s.yaml", tmp_path / "out", argv=["test"],
                      executor=RayExecutor(address=cluster.address))
    assert again.skipped == 4


class Progress(SweepObserver):
    def __init__(self):
        self.finished = []

    def trial_finished(self, record):
        self.finished.append((record.trial.id, record.status))


def test_losing_a_worker_node_mid_sweep_loses_nothing(tmp_path, real_dataset):
    import ray

    ray.shutdown()
    cluster, worker = start_cluster()
    try:
        (tmp_path / "s.yaml").write_text(
            "base: {epochs: 6, train_subset: 6000, batch_size: 32}\n"
            "grid: {lr: [0.02, 0.05, 0.1, 0.2, 0.4, 0.8]}\n")
        progress, errors = Progress(), []

        def drive():
            try:
                run_sweep(tmp_path / "s.yaml", tmp_path / "out", fuse=False, argv=["test"],
                          observer=progress, executor=RayExecutor(address=cluster.address))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=drive)
        thread.start()
        deadline = time.time() + 180
        while not progress.finished and time.time() < deadline:
            time.sleep(0.2)
        assert progress.finished, "no trial finished in time"
        cluster.remove_node(worker)  # the second node goes away mid-sweep
        thread.join(timeout=600)
        assert not thread.is_alive() and not errors, errors
        statuses = dict(progress.finished)
        assert sorted(statuses.values()) == ["completed"] * 6
        trials = pd.read_csv(tmp_path / "out" / "trials.csv")
        epochs = pd.read_csv(tmp_path / "out" / "epochs.csv")
        assert len(trials) == 6 and not trials.trial_id.duplicated().any()
        assert (trials.status == "completed").all() and (trials.epochs_run == 6).all()
        assert len(epochs) == 36 and not epochs.duplicated(["trial_id", "epoch"]).any()
    finally:
        stop_cluster(cluster)


def test_without_ray_installed_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"Ray is not installed; install the extra: pip "
                                          r"install 'softmax-exp\[ray\]'"):
        RayExecutor()
