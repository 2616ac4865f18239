"""Fashion-MNIST from its four IDX files: find, download, verify, decode, cache.

Integrity is checked on the *decompressed* bytes: Debian recompressed the
`.gz` files, so their own checksums differ from upstream's while the content
does not. Images stay uint8 in memory; the trainer scales them per batch.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import DataError
from .fileio import atomic_path, atomic_writer, write_json
from .paths import cache_root  # noqa: F401 - also data.cache_root, as before

CLASS_NAMES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
UPSTREAM_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
HOW_TO_GET = (
    "install Debian's package (apt-get install dataset-fashion-mnist), "
    "or name a data directory holding the four IDX .gz files (SOFTMAX_DATA_DIR)"
)
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
CACHE_FORMAT = 1


@dataclass(frozen=True)
class FileSpec:
    role: str  # train_images, train_labels, test_images, test_labels
    name: str  # file name without .gz
    sha256: str  # of the decompressed bytes
    count: int


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    files: tuple[FileSpec, ...]
    url: str = UPSTREAM_URL
    rows: int = 28
    cols: int = 28
    classes: int = 10

    def key(self) -> str:
        text = json.dumps([self.name, [f.sha256 for f in self.files], CACHE_FORMAT])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


FASHION_MNIST = DatasetSpec(
    "fashion-mnist",
    (
        FileSpec(
            "train_images",
            "train-images-idx3-ubyte",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            60000,
        ),
        FileSpec(
            "train_labels",
            "train-labels-idx1-ubyte",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            60000,
        ),
        FileSpec(
            "test_images",
            "t10k-images-idx3-ubyte",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            10000,
        ),
        FileSpec(
            "test_labels",
            "t10k-labels-idx1-ubyte",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            10000,
        ),
    ),
)


@dataclass
class Dataset:
    """Images as uint8 (N, rows*cols), labels as uint8 (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str = ""


@dataclass
class Source:
    kind: str  # data-dir, cache, debian, download
    directory: Path
    paths: dict[str, Path] = field(default_factory=dict)  # role -> file found
    missing: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing


def parse_idx(raw: bytes, where: str, spec: FileSpec, dataset: DatasetSpec) -> np.ndarray:
    """Decode one IDX file, checking magic number, dimensions, length and label range."""
    is_images = spec.role.endswith("images")
    magic, dims = (IMAGES_MAGIC, 3) if is_images else (LABELS_MAGIC, 1)
    header = 4 + 4 * dims
    if len(raw) < header:
        raise DataError(
            f"{where}: truncated: {len(raw)} bytes, shorter than the IDX header; {HOW_TO_GET}"
        )
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(
            f"{where}: not an IDX {'image' if is_images else 'label'} file "
            f"(magic number 0x{found:08x}, expected 0x{magic:08x}); {HOW_TO_GET}"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    expected = (spec.count, dataset.rows, dataset.cols)[:dims]
    if shape != expected:
        raise DataError(f"{where}: header shape {shape}, expected {expected}; {HOW_TO_GET}")
    size = int(np.prod(shape))
    if len(raw) != header + size:
        state = "truncated" if len(raw) < header + size else "has trailing bytes"
        raise DataError(
            f"{where}: {state}: {len(raw) - header} data bytes, header says {size}; {HOW_TO_GET}"
        )
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    # np.max(data), not data.max(): numpy 2.5's stubs refuse the method without arguments
    top = int(np.max(data)) if data.size and not is_images else 0
    if not is_images and top >= dataset.classes:
        raise DataError(f"{where}: label {top} out of range 0..{dataset.classes - 1}; {HOW_TO_GET}")
    return data.reshape(spec.count, -1) if is_images else data.copy()


def read_file(
    path: Path, spec: FileSpec, dataset: DatasetSpec, compressed: Optional[bool] = None
) -> np.ndarray:
    """Read, decompress (by default when the name ends in .gz), parse and checksum one file."""
    try:
        raw = _read_bytes(path, path.suffix == ".gz" if compressed is None else compressed)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; {HOW_TO_GET}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or not gzip data ({exc}); {HOW_TO_GET}") from None
    array = parse_idx(raw, str(path), spec, dataset)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise DataError(
            f"{path}: corrupt: sha256 of its content is {digest[:12]}..., expected "
            f"{spec.sha256[:12]}...; delete it and {HOW_TO_GET}"
        )
    return array


def _read_bytes(path: Path, compressed: bool) -> bytes:
    if compressed:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    return path.read_bytes()


def find_files(kind: str, directory: Path, dataset: DatasetSpec) -> Source:
    source = Source(kind, directory)
    for spec in dataset.files:
        for candidate in (directory / f"{spec.name}.gz", directory / spec.name):
            if candidate.is_file():
                source.paths[spec.role] = candidate
                break
        else:
            source.missing.append(f"{spec.name}.gz")
    return source


def candidate_sources(
    data_dir: Optional[Path] = None, dataset: DatasetSpec = FASHION_MNIST
) -> list[Source]:
    """Where data is looked for, in order. An explicit directory is the only candidate."""
    explicit = data_dir or os.environ.get("SOFTMAX_DATA_DIR")
    if explicit:
        return [find_files("data-dir", Path(explicit).expanduser(), dataset)]
    return [
        find_files("cache", cache_root() / dataset.name, dataset),
        find_files("debian", DEBIAN_DIR, dataset),
    ]


def download(dataset: DatasetSpec, directory: Path, url: Optional[str] = None) -> Source:
    """Fetch the missing files into `directory`; each is verified before it is kept."""
    base = (url or os.environ.get("SOFTMAX_DATA_URL") or dataset.url).rstrip("/") + "/"
    directory.mkdir(parents=True, exist_ok=True)
    for spec in dataset.files:
        target = directory / f"{spec.name}.gz"
        if target.is_file():
            continue
        address = f"{base}{spec.name}.gz"
        try:
            with atomic_path(target) as tmp:
                with (
                    urllib.request.urlopen(address, timeout=60) as response,
                    open(tmp, "wb") as handle,
                ):
                    shutil.copyfileobj(response, handle)
                read_file(tmp, spec, dataset, compressed=True)
        except urllib.error.HTTPError as exc:
            raise DataError(
                f"cannot download {address}: HTTP {exc.code} {exc.reason}; {HOW_TO_GET}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DataError(f"cannot download {address}: {reason}; {HOW_TO_GET}") from None
        except DataError as exc:
            problem = _problem(exc)
            raise DataError(
                f"cannot download {address}: the file is {problem}; try again "
                f"later or another SOFTMAX_DATA_URL, or {HOW_TO_GET}"
            ) from None
    return find_files("download", directory, dataset)


def locate(
    data_dir: Optional[Path] = None,
    dataset: DatasetSpec = FASHION_MNIST,
    allow_download: bool = True,
) -> Source:
    candidates = candidate_sources(data_dir, dataset)
    for source in candidates:
        if source.complete:
            return source
    if candidates[0].kind == "data-dir":
        source = candidates[0]
        raise DataError(
            f"{source.directory}: missing {', '.join(source.missing)}; put the "
            "four IDX .gz files there, or name no data directory (nor "
            "SOFTMAX_DATA_DIR) to use the cache, Debian's package or a download"
        )
    if not allow_download:
        looked = ", ".join(str(s.directory) for s in candidates)
        raise DataError(f"{dataset.name} not found (looked in {looked}); {HOW_TO_GET}")
    return download(dataset, candidates[0].directory)


def load_dataset(
    data_dir: Optional[Path] = None,
    dataset: DatasetSpec = FASHION_MNIST,
    allow_download: bool = True,
) -> Dataset:
    """Find the files, then load the decoded cache if it was built from these very files."""
    source = locate(data_dir, dataset, allow_download)
    cache = cache_root() / dataset.name
    fingerprint = _fingerprint(source)
    decoded = cache / f"decoded-{dataset.key()}.npz"
    if fingerprint in _verified(cache):
        loaded = _load_decoded(decoded, source)
        if loaded is not None:
            return loaded
    arrays = {
        spec.role: read_file(source.paths[spec.role], spec, dataset) for spec in dataset.files
    }
    _save_decoded(cache, decoded, arrays, fingerprint)
    return Dataset(**arrays, source=f"{source.kind}: {source.directory}")


def verify(source: Source, dataset: DatasetSpec = FASHION_MNIST) -> list[tuple[str, str]]:
    """Check every file in full; returns (file, 'ok' or the problem) per file."""
    report = []
    for spec in dataset.files:
        path = source.paths.get(spec.role)
        if path is None:
            report.append((f"{spec.name}.gz", "missing"))
            continue
        try:
            read_file(path, spec, dataset)
            report.append((str(path), "ok"))
        except DataError as exc:
            report.append((str(path), _problem(exc)))
    return report


def _problem(exc: DataError) -> str:
    """What is wrong, from a 'FILE: problem; how to fix' message."""
    return str(exc).split(": ", 1)[1].split(";")[0]


def is_verified(source: Source, dataset: DatasetSpec = FASHION_MNIST) -> bool:
    """Whether these very files (path, size, mtime) passed a full check before."""
    return _fingerprint(source) in _verified(cache_root() / dataset.name)


def _fingerprint(source: Source) -> str:
    parts = []
    for role in sorted(source.paths):
        stat = source.paths[role].stat()
        parts.append(f"{source.paths[role].resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _verified(cache: Path) -> set[str]:
    try:
        return set(json.loads((cache / "verified.json").read_text()))
    except (OSError, ValueError, TypeError):
        return set()


def _load_decoded(path: Path, source: Source) -> Optional[Dataset]:
    try:
        with np.load(path) as archive:
            arrays = {
                role: archive[role]
                for role in ("train_images", "train_labels", "test_images", "test_labels")
            }
    except Exception:  # noqa: BLE001 - any damage (zip, pickle, short file): rebuild it
        return None
    if any(a.dtype != np.uint8 for a in arrays.values()):
        return None
    return Dataset(**arrays, source=f"{source.kind}: {source.directory}")


def _save_decoded(
    cache: Path,
    decoded: Path,
    arrays: dict[str, Any],
    fingerprint: str,  # Any: numpy 2.5 stubs
) -> None:
    """Best effort: a cache that cannot be written only costs speed next time."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with atomic_writer(decoded, "wb") as handle:
            np.savez(handle, **arrays)
        write_json(cache / "verified.json", sorted(_verified(cache) | {fingerprint}))
    except Exception:  # noqa: BLE001 - e.g. a read-only or full cache directory
        pass
