"""The training loop: K trials that share a minibatch sequence train as one model.

Speed comes from keeping per-batch Python work small: images live on the device as
uint8; once per epoch an index of the training set is shuffled on the host and sent
over, and each batch gathers its rows inside the graph; one hybridized block computes
the objective and each trial's loss and hits, and metrics are summed on the device and
read back once per epoch. How a batch is computed (the fused CPU kernels, or MXNet's
operators) is a backend (backends.py), chosen once. What each trial makes of its
epochs (early stopping, its end, its checkpoint) is its `TrialProgress` (progress.py).

Trial k's learning rate scales its block's loss (the optimizer's own rate is 1),
so SGD, with or without momentum, gives each block exactly its own update.
"""

from __future__ import annotations

import math
import time
from typing import Optional, Sequence

import numpy as np

from .backends import choose_backend
from .checkpoint import rng_state
from .config import TrainConfig
from .errors import ConfigError
from .evaluation import evaluate_chunks, mean, to_device
from .interrupts import signals_deferred
from .model import NUM_CLASSES
from .mxnet_compat import load_mxnet
from .progress import GroupSnapshot, Stacked, TrialProgress
from .records import EpochMetrics, TrialOutcome
from .schedule import is_constant, schedule_for
from .split import SplitData

# Settings that fix the minibatch sequence and the optimizer: trials agreeing
# on these can share one stacked model.
FUSE_KEYS = (
    "batch_size",
    "seed",
    "ctx",
    "init_sigma",
    "momentum",
    "val_fraction",
    "val_seed",
    "train_subset",
    "subset_seed",
)

PROGRESS_EVERY = 16  # batches between progress callbacks


class TrainHooks:
    """What the trainer tells the outside world. Override what you need."""

    def keeps_checkpoints(self) -> bool:
        """True: the trainer keeps what a checkpoint of the last finished epoch needs, so
        that an interrupt hands one over (`checkpoint`) for each trial it stops."""
        return False

    def wants_checkpoint(self, epoch: int) -> bool:
        """Asked once the group is done with this epoch: True, and `checkpoint` gets a
        Checkpoint of every trial that may go on from it."""
        return False

    def checkpoint(self, index: int, checkpoint) -> None:
        """Trial `index` finished an epoch and may go on (it has not ended, or it reached
        its epoch limit: a finished run can be extended); `checkpoint` goes on from there,
        in any group (`train_group`'s `start`)."""

    def epoch_started(self, epoch: int, num_batches: int) -> None:
        pass

    def batches_done(self, done: int) -> None:
        pass

    def epoch_ended(self, index: int, metrics: EpochMetrics) -> None:
        """Trial `index` finished an epoch."""

    def should_prune(self, index: int, metrics: EpochMetrics, peers: list[EpochMetrics]) -> bool:
        """Asked once every trial of the group has ended the epoch; `peers` are their
        metrics (this trial's included). True stops trial `index` as pruned."""
        return False

    def trial_ended(self, index: int, outcome: TrialOutcome) -> None:
        pass

    def group_epoch_ended(self, epoch: int) -> None:
        """Every trial of the group is done with this epoch (and ended, if it did)."""


def fuse_key(config: TrainConfig) -> tuple:
    return tuple(getattr(config, key) for key in FUSE_KEYS)


def train_group(
    configs: Sequence[TrainConfig],
    data: SplitData,
    ctx,
    hooks: Optional[TrainHooks] = None,
    start: Optional[Sequence] = None,
) -> list[TrialOutcome]:
    """Train every config (all sharing `fuse_key`) side by side; one outcome each.
    `start`: a Checkpoint (or None) per config to go on from, every one at the same
    epoch, whatever groups they were taken in; None, or all None, starts afresh."""
    if len({fuse_key(c) for c in configs}) != 1:
        raise ConfigError(f"cannot train together: configs differ in one of {FUSE_KEYS}")
    starts = [None] * len(configs) if start is None else list(start)
    if len(starts) != len(configs):
        raise ConfigError(f"{len(starts)} checkpoints for {len(configs)} trials")
    epochs = sorted({0 if c is None else c.epoch for c in starts})
    if len(epochs) > 1:
        raise ConfigError(
            f"cannot train together: checkpoints at epochs {epochs} (0: none); "
            "trials share minibatches only from the same epoch"
        )
    return _GroupTrainer(
        list(configs), data, ctx, hooks or TrainHooks(), None if epochs == [0] else starts
    ).run()


class _GroupTrainer:
    def __init__(
        self,
        configs: list[TrainConfig],
        data: SplitData,
        ctx,
        hooks: TrainHooks,
        start: Optional[list] = None,
    ):
        mx = load_mxnet()

        self.mx, self.configs, self.ctx, self.hooks = mx, configs, ctx, hooks
        first = configs[0]
        self.k = len(configs)
        self.batch_size = first.batch_size
        self.train = self._to_device(data.train_images, data.train_labels)
        self.val = (
            None
            if data.val_images is None or data.val_labels is None
            else self._to_device(data.val_images, data.val_labels)
        )
        self.test = self._to_device(data.test_images, data.test_labels)
        self.backend = choose_backend(ctx)
        self.trials = [TrialProgress(k, c, self.backend.name) for k, c in enumerate(configs)]
        self.backend.build(self.k, first.init_sigma, first.seed)
        self.objective = self.backend.objective(self.k)
        self.objective.hybridize(static_alloc=True, static_shape=True)
        samples = self.train[1].shape[0]
        self.trainer = self.backend.trainer(
            first.momentum, {self.batch_size, samples % self.batch_size} - {0}
        )
        batches = math.ceil(samples / self.batch_size)
        self.schedules = [schedule_for(c, batches) for c in configs]
        # constant rates change only when a trial ends (at an epoch's end): then the
        # rates are not looked at after every update (a tenth of the loop's Python time)
        self.rates_vary = not all(is_constant(c) for c in configs)
        self.updates = 0
        self.applied: Optional[np.ndarray] = None  # the rates on the device
        # the stacked parameters after the last finished epoch
        self.last_params: Optional[Stacked] = None
        # what a checkpoint of the last finished epoch needs besides (hooks that keep
        # checkpoints only), and the last epoch checkpointed
        self.snapshot: Optional[GroupSnapshot] = None
        self.checkpointed = 0
        self.first_epoch = 1
        self._set_rates()
        self.rng = np.random.default_rng(first.seed)
        if start is not None:
            self._restore(start)

    def _to_device(self, images: np.ndarray, labels: np.ndarray):
        """uint8 images and labels on the device, with index chunks for evaluation."""
        return to_device(self.mx, images, labels, self.ctx)

    def _set_rates(self) -> None:
        """Each trial's learning rate for the next update, by its schedule (the rate scales
        the trial's loss: the optimizer's own rate is 1), and lr * weight decay; a
        finished trial's slot is frozen at rate 0. Sent to the device only on change."""
        lrs = np.array(
            [
                0.0 if trial.done else schedule(self.updates + 1)
                for trial, schedule in zip(self.trials, self.schedules)
            ]
        )
        if self.applied is not None and np.array_equal(lrs, self.applied):
            return
        self.applied = lrs
        self.lr_nd = self.mx.nd.array(lrs, ctx=self.ctx)
        self.backend.set_rates(lrs, lrs * np.array([c.weight_decay for c in self.configs]))

    def run(self) -> list[TrialOutcome]:
        """Train epoch after epoch. Ctrl-C (and SIGTERM where the program handles it)
        takes effect only between minibatches or epochs, never inside a destructor,
        where Python would drop it: the library behaves as the CLI does."""
        epochs = max(c.epochs for c in self.configs)
        with signals_deferred() as self.signals:
            try:
                for epoch in range(self.first_epoch, epochs + 1):
                    loss, acc, seconds = self._train_epoch(epoch)
                    self._end_epoch(epoch, loss, acc, seconds)  # its records are whole
                    self.signals.safe_point()
                    if all(trial.done for trial in self.trials):
                        break
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM where the caller maps it so
                self._interrupted()
                raise
            finally:
                self._release()
        return [trial.outcome for trial in self.trials]

    def _interrupted(self) -> None:
        """Stop at once, keeping what the finished epochs learnt: every live trial ends
        `interrupted`, its final parameters those of its last finished epoch (the last row
        of its metrics) and its best ones those of its best epoch; the unfinished epoch's
        work is dropped."""
        live = [trial for trial in self.trials if not trial.done]
        if self.snapshot is not None and self.snapshot.epoch != self.checkpointed:
            self._checkpoint(live)  # a rerun goes on from the last finished epoch
        for trial in live:
            trial.interrupt(self.last_params)
            self.hooks.trial_ended(trial.index, trial.outcome)

    def _release(self) -> None:
        """Let go of the cached graph now. Every Gluon block is in a reference cycle (it
        and its name scope point at each other), so the block outlives this trainer until
        Python's cyclic collector runs, and with it the cached graph, which holds the
        group's images and buffers: a sweep grew by a copy of them per fused group until
        then (tests/test_memory.py)."""
        self.mx.nd.waitall()  # run() defers signals: none lands in the freeing
        self.objective._clear_cached_op()

    def _train_epoch(self, epoch: int):
        mx, nd = self.mx, self.mx.nd
        images, labels, _ = self.train
        n, size = labels.shape[0], self.batch_size
        batches = math.ceil(n / size)
        self.hooks.epoch_started(epoch, batches)
        started = time.perf_counter()
        # Shuffled by index: each batch gathers its rows inside the graph, which costs a
        # quarter of copying the whole shuffled set once per epoch.
        order = nd.array(self.rng.permutation(n), ctx=self.ctx, dtype="int32")
        metrics = []
        for batch, start in enumerate(range(0, n, size), 1):
            index = order[start : start + size]
            count = index.shape[0]
            with mx.autograd.record():
                objective, batch_metrics = self.objective(images, labels, index, self.lr_nd)
            objective.backward()
            self.backend.before_step(count)
            self.trainer.step(count)
            self.updates += 1
            if self.rates_vary:
                self._set_rates()
            metrics.append(batch_metrics)  # summed once per epoch: no per-batch sync or op
            if batch % PROGRESS_EVERY == 0 or batch == batches:
                self.hooks.batches_done(batch)  # what is queued; the engine is close behind
            self.signals.safe_point()
        totals = mean(nd.add_n(*metrics), n)
        return totals[: self.k], totals[self.k :], time.perf_counter() - started

    def _evaluate(self, split) -> tuple[np.ndarray, np.ndarray]:
        loss, acc, _ = evaluate_chunks(self.mx, self.objective, split, self.lr_nd, self.k)
        return loss, acc

    def _end_epoch(self, epoch: int, loss, acc, seconds: float) -> None:
        val_loss, val_acc = self._evaluate(self.val) if self.val else (None, None)
        test_loss, test_acc = self._evaluate(self.test)
        samples = self.train[1].shape[0]
        live: dict[int, EpochMetrics] = {}
        for k, trial in enumerate(self.trials):
            if trial.done:
                continue
            live[k] = EpochMetrics(
                epoch,
                float(loss[k]),
                float(acc[k]),
                None if val_loss is None else float(val_loss[k]),
                None if val_acc is None else float(val_acc[k]),
                float(test_loss[k]),
                float(test_acc[k]),
                seconds,
                samples / seconds,
            )
            trial.record(live[k])
            self.hooks.epoch_ended(k, live[k])
        peers = list(live.values())
        # The weights come off the device once per epoch, however many trials need them;
        # they are also what an interrupt in the next epoch keeps, and the checkpoint.
        self.last_params = self.backend.param_arrays()
        ended = [
            self._judge(k, epoch, m, self.hooks.should_prune(k, m, peers)) for k, m in live.items()
        ]
        if any(ended):
            self._set_rates()
        wanted = self.hooks.wants_checkpoint(epoch)
        if wanted or self.hooks.keeps_checkpoints():
            self.snapshot = GroupSnapshot(
                epoch, self.updates, rng_state(self.rng), self.backend.momentum_arrays(self.trainer)
            )
        if wanted:
            self._checkpoint([self.trials[k] for k in live if self.trials[k].resumable(epoch)])
        self.hooks.group_epoch_ended(epoch)

    def _checkpoint(self, trials: list[TrialProgress]) -> None:
        """Hand over a Checkpoint of the last finished epoch for each of these trials."""
        snapshot, stacked = self.snapshot, self.last_params
        assert snapshot is not None and stacked is not None, "no finished epoch"
        for trial in trials:
            self.hooks.checkpoint(trial.index, trial.checkpoint(snapshot, stacked))
        self.checkpointed = snapshot.epoch

    def _restore(self, starts: list) -> None:
        """Go on from a checkpoint per trial, all at one epoch: each block of the layer and
        of the momentum in its place, the shuffling generator, the update count, early
        stopping and what the finished epochs got."""
        first = starts[0]
        for k, (start, trial) in enumerate(zip(starts, self.trials)):
            trial.check(start)
            if (start.rng, start.updates) != (first.rng, first.updates):
                raise ConfigError(
                    f"checkpoints of trials 0 and {k} disagree on the shuffling "
                    "or the update count: they did not train on the same "
                    "minibatches"
                )
        fresh = self.backend.param_arrays()  # the layout, padding included
        self.backend.set_arrays(*_blocks_into(fresh, starts, "weight", "bias"))
        if first.weight_momentum is not None:
            zeros = tuple(np.zeros_like(array) for array in fresh)
            self.backend.set_momentum_arrays(
                self.trainer, *_blocks_into(zeros, starts, "weight_momentum", "bias_momentum")
            )
        self.rng.bit_generator.state = first.rng
        self.updates, self.first_epoch = first.updates, first.epoch + 1
        for start, trial in zip(starts, self.trials):
            trial.restore(start)
        self.last_params = self.backend.param_arrays()
        self.applied = None
        self._set_rates()

    def _judge(self, k: int, epoch: int, metrics: EpochMetrics, pruned: bool) -> bool:
        """Whether trial k ended with this epoch (its progress decides); tells the hooks."""
        trial = self.trials[k]
        assert self.last_params is not None, "judged before the epoch's parameters were read"
        if not trial.judge(epoch, metrics, self.last_params, pruned):
            return False
        self.hooks.trial_ended(k, trial.outcome)
        return True


def _blocks_into(
    stacked: tuple[np.ndarray, np.ndarray], starts: list, weight: str, bias: str
) -> tuple[np.ndarray, np.ndarray]:
    """`stacked` (`param_arrays`' layout) with each checkpoint's `weight` and `bias`
    arrays (named so) in its trial's rows; what else it held (the padding) is kept."""
    for k, start in enumerate(starts):
        rows = slice(NUM_CLASSES * k, NUM_CLASSES * (k + 1))
        stacked[0][rows], stacked[1][rows] = getattr(start, weight), getattr(start, bias)
    return stacked
