"""Which images a run trains, selects and reports on: validation split and subset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .config import TrainConfig
from .data import Dataset
from .errors import ConfigError


@dataclass
class SplitData:
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: Optional[np.ndarray]
    val_labels: Optional[np.ndarray]
    test_images: np.ndarray
    test_labels: np.ndarray


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded validation set holding `fraction` of every class."""
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = int(round(fraction * members.size))
        picked.append(rng.permutation(members)[:count])
    return np.sort(np.concatenate(picked)) if picked else np.array([], dtype=np.int64)


def split_dataset(dataset: Dataset, config: TrainConfig) -> SplitData:
    """Hold out validation images (stratified), then take the training subset, if any."""
    images, labels = dataset.train_images, dataset.train_labels
    val_images = val_labels = None
    if config.val_fraction > 0:
        held = stratified_holdout(labels, config.val_fraction, config.val_seed)
        keep = np.ones(labels.size, dtype=bool)
        keep[held] = False
        val_images, val_labels = images[held], labels[held]
        images, labels = images[keep], labels[keep]
    if config.train_subset is not None:
        if config.train_subset > labels.size:
            raise ConfigError(
                f"'train_subset' is {config.train_subset} but only {labels.size} "
                "training images remain after the validation split; lower it"
            )
        if config.subset_seed is None:
            chosen = np.arange(config.train_subset)
        else:
            rng = np.random.default_rng(config.subset_seed)
            chosen = np.sort(rng.permutation(labels.size)[: config.train_subset])
        images, labels = images[chosen], labels[chosen]
    if config.batch_size > labels.size:
        raise ConfigError(
            f"'batch_size' {config.batch_size} is larger than the {labels.size} "
            "training images; lower batch_size"
        )
    return SplitData(
        images, labels, val_images, val_labels, dataset.test_images, dataset.test_labels
    )
