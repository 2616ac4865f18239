from __future__ import annotations

import functools
import gzip
import http.server
import threading

import numpy as np
import pytest

from helpers import idx_bytes, make_tiny
from softmax_exp import data
from softmax_exp.errors import DataError


def spec_for(spec, role):
    return next(f for f in spec.files if f.role == role)


def test_parse_good_files_round_trip(tiny):
    directory, spec, arrays = tiny
    for file in spec.files:
        got = data.read_file(directory / f"{file.name}.gz", file, spec)
        expected = arrays[file.role]
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected.reshape(got.shape))


def test_truncated_gzip_names_file(tiny):
    directory, spec, _ = tiny
    path = directory / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: truncated"):
        data.read_file(path, spec_for(spec, "train_images"), spec)


def test_truncated_idx_content(tiny):
    directory, spec, arrays = tiny
    raw = idx_bytes(arrays["train_labels"], data.LABELS_MAGIC)[:-5]
    path = directory / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(DataError, match="truncated: 55 data bytes, header says 60"):
        data.read_file(path, spec_for(spec, "train_labels"), spec)


def test_wrong_magic(tiny):
    directory, spec, arrays = tiny
    raw = idx_bytes(arrays["test_labels"], data.IMAGES_MAGIC)
    path = directory / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(DataError, match="not an IDX label file .magic number 0x00000803"):
        data.read_file(path, spec_for(spec, "test_labels"), spec)


def test_corrupt_content_fails_checksum(tiny):
    directory, spec, arrays = tiny
    images = arrays["test_images"].copy()
    images[0, 0, 0] ^= 1  # one flipped bit, header still valid
    path = directory / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images, data.IMAGES_MAGIC)))
    with pytest.raises(DataError, match="corrupt: sha256"):
        data.read_file(path, spec_for(spec, "test_images"), spec)


def test_label_out_of_range(tmp_path):
    labels = np.array([0, 1, 12])
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(labels, data.LABELS_MAGIC))
    file = data.FileSpec("test_labels", "labels", "0" * 64, 3)
    with pytest.raises(DataError, match="label 12 out of range 0..9"):
        data.read_file(path, file, data.FASHION_MNIST)


def test_wrong_shape_in_header(tiny):
    directory, spec, _ = tiny
    raw = idx_bytes(np.zeros((60, 27, 28)), data.IMAGES_MAGIC)
    path = directory / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(DataError, match=r"header shape \(60, 27, 28\), expected \(60, 28, 28\)"):
        data.read_file(path, spec_for(spec, "train_images"), spec)


def test_uncompressed_files_are_accepted(tmp_path, tiny):
    directory, spec, arrays = tiny
    for file in spec.files:
        raw = gzip.decompress((directory / f"{file.name}.gz").read_bytes())
        (tmp_path / file.name).write_bytes(raw)
    loaded = data.load_dataset(tmp_path, spec)
    np.testing.assert_array_equal(loaded.test_labels, arrays["test_labels"])


# --- where the data comes from ---------------------------------------------------------


@pytest.fixture
def sources(tmp_path, monkeypatch, isolated_cache):
    """Three places holding different tiny datasets (same checksums spec not needed)."""
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    return {
        "cache": isolated_cache / "fashion-mnist",
        "debian": tmp_path / "debian",
        "explicit": tmp_path / "explicit",
    }


def test_source_order_debian_when_nothing_else(sources):
    make_tiny(sources["debian"])
    assert data.locate().kind == "debian"


def test_source_order_cache_before_debian(sources):
    make_tiny(sources["debian"])
    make_tiny(sources["cache"])
    assert data.locate().kind == "cache"


def test_explicit_dir_wins_and_env_var_works(sources, monkeypatch):
    make_tiny(sources["debian"])
    make_tiny(sources["explicit"])
    assert data.locate(sources["explicit"]).kind == "data-dir"
    monkeypatch.setenv("SOFTMAX_DATA_DIR", str(sources["explicit"]))
    assert data.locate().directory == sources["explicit"]


def test_explicit_dir_missing_file_is_an_error_not_a_fallback(sources):
    make_tiny(sources["debian"])
    make_tiny(sources["explicit"])
    (sources["explicit"] / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(
        DataError, match="missing t10k-labels-idx1-ubyte.gz; put the four IDX .gz files there"
    ):
        data.locate(sources["explicit"])


def test_nothing_found_and_no_download(sources):
    with pytest.raises(DataError, match="fashion-mnist not found .* dataset-fashion-mnist"):
        data.locate(allow_download=False)


# --- download, against a server on 127.0.0.1 ----------------------------------------------


@pytest.fixture
def http_server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; yields (base url, directory, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    log: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            log.append(self.path)

    handler = functools.partial(Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", root, log
    server.shutdown()
    server.server_close()


def test_download_into_cache_then_reuse(sources, http_server, monkeypatch):
    url, root, log = http_server
    spec, arrays = make_tiny(root)
    monkeypatch.setenv("SOFTMAX_DATA_URL", url)
    loaded = data.load_dataset(dataset=spec)
    np.testing.assert_array_equal(loaded.train_labels, arrays["train_labels"])
    assert len(log) == 4
    cache_files = sorted(p.name for p in (sources["cache"].parent / "tiny").glob("*.gz"))
    assert len(cache_files) == 4
    data.load_dataset(dataset=spec)
    assert len(log) == 4, "second load must come from the cache, not the network"


def test_download_of_corrupt_file_keeps_nothing(sources, http_server, monkeypatch):
    url, root, _ = http_server
    spec, _ = make_tiny(root)
    make_tiny(root, seed=1)  # same names, other content: checksums no longer match
    monkeypatch.setenv("SOFTMAX_DATA_URL", url)
    with pytest.raises(DataError, match="cannot download .*corrupt"):
        data.load_dataset(dataset=spec)
    left = list((sources["cache"].parent / "tiny").iterdir())
    assert left == [], f"partial downloads left behind: {left}"


def test_download_404_is_a_clear_error(sources, http_server, monkeypatch):
    url, _, _ = http_server
    monkeypatch.setenv("SOFTMAX_DATA_URL", url)
    with pytest.raises(
        DataError,
        match=r"cannot download http://127.0.0.1:\d+/train-images"
        r"-idx3-ubyte.gz: HTTP 404 File not found; install Debian",
    ):
        data.load_dataset()


# --- decoded cache ---------------------------------------------------------------------------


def test_decoded_cache_skips_parsing(tiny, monkeypatch):
    directory, spec, arrays = tiny
    data.load_dataset(directory, spec)
    calls = []
    monkeypatch.setattr(data, "read_file", lambda *a: calls.append(a))
    again = data.load_dataset(directory, spec)
    assert calls == []
    np.testing.assert_array_equal(again.test_images, arrays["test_images"].reshape(20, -1))


def test_changed_source_file_is_verified_again(tiny):
    directory, spec, arrays = tiny
    data.load_dataset(directory, spec)
    path = directory / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"garbage"))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        data.load_dataset(directory, spec)


def test_damaged_decoded_cache_is_rebuilt(tiny, isolated_cache):
    directory, spec, arrays = tiny
    data.load_dataset(directory, spec)
    (cached,) = (isolated_cache / "tiny").glob("decoded-*.npz")
    cached.write_bytes(b"not a zip")
    again = data.load_dataset(directory, spec)
    np.testing.assert_array_equal(again.train_labels, arrays["train_labels"])


def test_verify_reports_each_file(tiny):
    directory, spec, _ = tiny
    (directory / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    report = dict(data.verify(data.find_files("data-dir", directory, spec), spec))
    assert report[str(directory / "train-images-idx3-ubyte.gz")] == "ok"
    assert report[str(directory / "t10k-labels-idx1-ubyte.gz")].startswith("truncated or not gzip")
