"""Data loading, registry and EMD: unit tests on data the tests make, plus checks against the real data directory.

The real-data tests run only when CODESIGN_DATA is set (CI points it at ../shared); they use the value present when
the test session started, since the unit tests monkeypatch the variable.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os

import numpy as np
import pytest

from codesign.data import digits, hgcal, registry, smartpixel
from codesign.data.hgcal import Geometry
from codesign.errors import CodesignError
from codesign.metrics.emd import emd

REAL_DATA = os.environ.get("CODESIGN_DATA")


@pytest.fixture
def real_data():
    if not REAL_DATA:
        pytest.skip("real-data check: set CODESIGN_DATA to the directory holding data/ and models/")
    return REAL_DATA


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CODESIGN_DATA", str(tmp_path))
    return tmp_path


def _register(monkeypatch, name: str, path, content: bytes) -> registry.Entry:
    """Register a test-made file (a real entry with its path and hash swapped)."""
    e = registry.Entry(name, registry.PurePosixPath(path), hashlib.sha256(content).hexdigest(), "test/test", "0" * 40)
    monkeypatch.setitem(registry.REGISTRY, name, e)
    return e


def _toy_geometry(seed: int = 0) -> Geometry:
    """A shuffled arrangement with 16 masked duplicate positions, cells on a line at x = i (distance |i - j|)."""
    rng = np.random.default_rng(seed)
    positions = rng.permutation(64)
    kept, masked = positions[:48], positions[48:]
    arrange = np.empty(64, dtype=int)
    arrange[kept] = rng.permutation(48)
    arrange[masked] = rng.integers(0, 48, size=16)  # duplicates, as in the real geometry
    mask = np.zeros(64, dtype=int)
    mask[kept] = 1
    coords = np.stack([np.arange(48.0), np.zeros(48)], axis=1)
    return Geometry(arrange, mask, coords)


# ---------------------------------------------------------------- registry


def test_registry_lists_all_shared_files():
    names = registry.names()
    assert "hgcal/ttbar_0PU.csv" in names and "hgcal/geometry.json" in names
    assert "smartpixel_muc/batch_1.tfrecord" in names
    assert "econt_medium/8x8_c8_S2_tele_fqK_6bit.hdf5" in names
    assert str(registry.path_of("econt_medium/8x8_c8_S2_tele_fqK_6bit.hdf5")) == \
        "models/econt_medium/8x8_c8_S2_tele_fqK_6bit.hdf5"
    assert str(registry.path_of("hgcal/ttbar_0PU.csv")) == "data/hgcal/ttbar_0PU.csv"
    for name in names:
        e = registry.entry(name)
        assert len(e.sha256) == 64 and len(e.commit) == 40 and e.repo.count("/") == 1
        assert e.url is None or e.url.startswith(f"https://raw.githubusercontent.com/{e.repo}/{e.commit}/")


def test_registry_missing_file_names_the_variable(data_dir):
    with pytest.raises(CodesignError, match="CODESIGN_DATA") as info:
        registry.fetch("hgcal/ttbar_0PU.csv")
    assert "data/hgcal/ttbar_0PU.csv" in str(info.value) and "--data-dir" in str(info.value)
    assert "\n" not in str(info.value)


def test_registry_no_data_dir_at_all(monkeypatch):
    monkeypatch.delenv("CODESIGN_DATA", raising=False)
    with pytest.raises(CodesignError, match="CODESIGN_DATA"):
        registry.fetch("hgcal/ttbar_0PU.csv")


def test_registry_unknown_name_suggests():
    with pytest.raises(CodesignError, match="hgcal/ttbar_0PU.csv"):
        registry.fetch("hgcal/ttbar_0PU.cvs")


def test_registry_sha256_mismatch(data_dir):
    target = data_dir / registry.path_of("hgcal/CALQ_output.csv")
    target.parent.mkdir(parents=True)
    target.write_text("CALQ_0\n1\n")
    with pytest.raises(CodesignError, match="sha256"):
        registry.fetch("hgcal/CALQ_output.csv")


def test_registry_verifies_once_per_file_version(data_dir, monkeypatch):
    import pooch

    e = _register(monkeypatch, "test/file.txt", "data/test/file.txt", b"hello")
    target = data_dir / e.path
    target.parent.mkdir(parents=True)
    target.write_bytes(b"hello")
    calls = []
    real_hash = pooch.file_hash
    monkeypatch.setattr(pooch, "file_hash", lambda *a, **k: calls.append(a) or real_hash(*a, **k))
    assert registry.fetch("test/file.txt") == target
    assert registry.fetch("test/file.txt", data_dir=str(data_dir)) == target
    assert len(calls) == 1  # cached by (path, mtime, size)
    target.write_bytes(b"hellO")  # same size; the new mtime invalidates the cache
    os.utime(target, ns=(1, 1))
    with pytest.raises(CodesignError, match="sha256"):
        registry.fetch("test/file.txt")


def test_registry_derived_file_cannot_be_downloaded(data_dir):
    with pytest.raises(CodesignError, match="no public download"):
        registry.fetch("hgcal/geometry.json", download=True)


# ---------------------------------------------------------------- HGCAL preparation


def _write_csv(path, rows, extra_first_column=False):
    header = [f"CALQ_{i}" for i in range(48)]
    lines = [",".join((["entry"] if extra_first_column else []) + header)]
    for j, r in enumerate(rows):
        lines.append(",".join(([str(j)] if extra_first_column else []) + [str(int(v)) for v in r]))
    path.write_text("\n".join(lines) + "\n")


def test_prepare_normalization_and_arrangement(tmp_path):
    g = _toy_geometry()
    rows = np.zeros((4, 48), dtype=int)
    rows[0, [3, 17, 40]] = [50, 30, 20]  # sum 100 -> divide by 64
    rows[2, 5] = 64  # sum 64, a power of two -> divide by 64 (floor(log2) exact)
    rows[3, [0, 47]] = [1, 2]  # sum 3 -> divide by 2
    # row 1 stays all zero and must be dropped
    csv = tmp_path / "toy.csv"
    _write_csv(csv, rows, extra_first_column=True)

    x8, x48 = hgcal.load_hgcal(csv, geometry=g)
    assert x8.shape == (3, 8, 8, 1) and x8.dtype == np.float32
    assert x48.shape == (3, 48) and x48.dtype == np.float64
    kept = rows[[0, 2, 3]]
    for r, got48, got8 in zip(kept, x48, x8.reshape(3, 64)):
        s = int(r.sum())
        divisor = 1 << (s.bit_length() - 1)  # 2**floor(log2(s)) for an integer s, computed without floats
        assert divisor == 2 ** math.floor(math.log2(s))
        np.testing.assert_array_equal(got48, r / divisor)
        expected8 = [r[g.arrange_8x8[k]] / divisor if g.arrmask_8x8[k] else 0.0 for k in range(64)]
        np.testing.assert_array_equal(got8, np.array(expected8, dtype=np.float32))
    assert x48[0].sum() == 100 / 64 and x48[1].sum() == 1.0 and x48[2].sum() == 1.5

    np.testing.assert_array_equal(hgcal.to_48(x8, g), x48)  # exact: k/2**e fits float32
    np.testing.assert_array_equal(hgcal.to_48(x8.reshape(3, 64), g), x48)
    x8_1, x48_1 = hgcal.load_hgcal(csv, n=1, geometry=g)
    np.testing.assert_array_equal(x48_1, x48[:1])


def test_prepare_rejects_bad_rows():
    g = _toy_geometry()
    with pytest.raises(CodesignError, match="shape"):
        hgcal.prepare(np.ones((2, 47)), g)
    with pytest.raises(CodesignError, match="non-negative"):
        hgcal.prepare(-np.ones((1, 48)), g)


def test_csv_without_calq_columns(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(CodesignError, match="CALQ_0"):
        hgcal.read_csv(bad)
    header_only = tmp_path / "empty.csv"
    _write_csv(header_only, [])
    assert hgcal.read_csv(header_only).shape == (0, 48)
    with pytest.raises(CodesignError, match="no HGCAL dataset"):
        hgcal.load_hgcal(tmp_path / "nope.csv", geometry=_toy_geometry())


def test_geometry_must_cover_each_cell_once():
    g = _toy_geometry()
    arrange = g.arrange_8x8.copy()
    kept = np.flatnonzero(g.arrmask_8x8)
    arrange[kept[0]] = arrange[kept[1]]
    with pytest.raises(CodesignError, match="permutation"):
        Geometry(arrange, g.arrmask_8x8, g.coords)


def test_geometry_from_json(tmp_path):
    import json

    g = _toy_geometry()
    p = tmp_path / "geometry.json"
    p.write_text(json.dumps({"arrange_8x8": g.arrange_8x8.tolist(), "arrmask_8x8": g.arrmask_8x8.tolist(),
                             "hex_coords": (g.coords / 2).tolist(), "hex_scale": 2.0}))
    g2 = Geometry.from_json(p)
    np.testing.assert_array_equal(g2.coords, g.coords)
    np.testing.assert_array_equal(g2.cell_of_position, g.cell_of_position)
    assert (g2.arrange_8x8[g2.cell_of_position] == np.arange(48)).all()


# ---------------------------------------------------------------- EMD


def test_emd_identical_is_zero_and_symmetric():
    g = _toy_geometry()
    rng = np.random.default_rng(1)
    x = rng.random((20, 48)) * (rng.random((20, 48)) < 0.4)
    x[:, 0] += 0.1  # no all-zero rows
    y = rng.random((20, 48))
    np.testing.assert_allclose(emd(x, x, g), 0.0, atol=1e-12)
    np.testing.assert_allclose(emd(x, 3 * x, g), 0.0, atol=1e-12)  # scale-free: both normalized to sum 1
    np.testing.assert_allclose(emd(x, y, g), emd(y, x, g), rtol=1e-12, atol=1e-12)
    assert (emd(x, y, g) > 0).all()
    np.testing.assert_array_equal(emd(x, y, g), emd(x, y, g))  # deterministic


def test_emd_point_masses_and_line():
    g = _toy_geometry()
    for i, j in [(0, 47), (3, 5), (10, 10)]:
        x = np.zeros(48); x[i] = 1.0
        y = np.zeros(48); y[j] = 7.0
        assert emd(x, y, g)[0] == pytest.approx(g.ground_metric[i, j], abs=1e-12)
        assert g.ground_metric[i, j] == abs(i - j)
    x = np.zeros(48); x[[0, 2]] = 1.0  # half at 0, half at 2 vs all at 1: each half moves by 1
    y = np.zeros(48); y[1] = 1.0
    assert emd(x, y, g)[0] == pytest.approx(1.0, abs=1e-12)


def test_emd_matches_pot_reference():
    from codesign.metrics.emd import _import_ot

    ot = _import_ot()  # without pulling in TensorFlow
    g = _toy_geometry()
    rng = np.random.default_rng(2)
    x, y = rng.random((10, 48)), rng.random((10, 48))
    ref = [ot.emd2(a / a.sum(), b / b.sum(), g.ground_metric) for a, b in zip(x, y)]
    np.testing.assert_allclose(emd(x, y, g), ref, rtol=1e-10, atol=1e-12)


def test_emd_closed_forms_for_one_or_two_cells_match_pot():
    """Rows with one or two non-empty cells on either side skip the simplex (closed form / fractional knapsack)."""
    from types import SimpleNamespace

    from codesign.metrics.emd import _import_ot

    ot = _import_ot()
    rng = np.random.default_rng(5)
    pts = rng.random((48, 2)) * 6  # a 2-D ground metric: not the line, where greedy shortcuts would be easy
    g = SimpleNamespace(ground_metric=np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)))
    n = 60
    sparse = np.zeros((n, 48))
    for r in range(n):
        k = 1 + r % 3  # 1, 2 and 3 cells: both closed forms and the simplex
        sparse[r, rng.choice(48, k, replace=False)] = rng.random(k) + 0.01
    dense = rng.random((n, 48)) * (rng.random((n, 48)) < 0.8)
    dense[:, 7] += 0.05
    for x, y in ((sparse, dense), (dense, sparse), (sparse, sparse[::-1])):
        a, b = x / x.sum(1, keepdims=True), y / y.sum(1, keepdims=True)
        ref = [ot.emd2(a[i], b[i] * a[i].sum() / b[i].sum(), g.ground_metric) for i in range(n)]
        np.testing.assert_allclose(emd(x, y, g), ref, rtol=1e-10, atol=1e-12)


def test_emd_zero_output_compares_to_uniform():
    g = _toy_geometry()
    x = np.zeros((1, 48)); x[0, 0] = 1.0
    assert emd(x, np.zeros((1, 48)), g)[0] == pytest.approx(emd(x, np.ones((1, 48)), g)[0])
    assert emd(x, np.zeros((1, 48)), g)[0] == pytest.approx(np.mean(np.arange(48.0)))


def test_emd_rejects_bad_input():
    g = _toy_geometry()
    with pytest.raises(CodesignError, match="non-negative"):
        emd(np.ones((1, 48)), -np.ones((1, 48)), g)
    with pytest.raises(CodesignError, match="NaN"):
        emd(np.ones((1, 48)), np.full((1, 48), np.nan), g)
    with pytest.raises(CodesignError, match="shape"):
        emd(np.ones((2, 48)), np.ones((3, 48)), g)


# ---------------------------------------------------------------- digits


def test_digits_split():
    x, y = digits.dataset("train", seed=0)
    xt, yt = digits.dataset("test", seed=0)
    assert x.shape[1:] == (8, 8, 1) and x.dtype == np.float32 and y.dtype == np.int64
    assert len(x) + len(xt) == 1797 and len(xt) == 540
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, np.round(x * 16))  # exact k/16
    assert set(np.unique(yt)) == set(range(10))
    x2, y2 = digits.dataset("train", seed=0)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = digits.dataset("train", seed=1)
    assert not np.array_equal(x, x3)
    with pytest.raises(CodesignError, match="split"):
        digits.dataset("valid")


# ---------------------------------------------------------------- smart pixel


def _fake_batch(rng, n):
    return {k: rng.random((n, *shape)).astype(np.float32) for k, shape in smartpixel.FEATURES.items()}


def _write_tfrecord(path, batch):
    """One Example holding the whole batch, each feature a serialized float32 tensor (the upstream layout)."""
    import tensorflow as tf

    feats = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(v).numpy()]))
             for k, v in batch.items()}
    with tf.io.TFRecordWriter(str(path)) as w:
        w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())


def test_tfrecord_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    b0, b1 = _fake_batch(rng, 5), _fake_batch(rng, 3)
    _write_tfrecord(tmp_path / "b0.tfrecord", b0)
    _write_tfrecord(tmp_path / "b1.tfrecord", b1)
    got = smartpixel.read_tfrecords([tmp_path / "b0.tfrecord", tmp_path / "b1.tfrecord"])
    assert set(got) == set(smartpixel.FEATURES)
    for k in smartpixel.FEATURES:
        np.testing.assert_array_equal(got[k], np.concatenate([b0[k], b1[k]]))
    only = smartpixel.read_tfrecords(tmp_path / "b1.tfrecord", keys=["y_profile"])
    assert list(only) == ["y_profile"] and only["y_profile"].shape == (3, 13)
    with pytest.raises(CodesignError, match="unknown smart-pixel feature"):
        smartpixel.read_tfrecords(tmp_path / "b1.tfrecord", keys=["pt"])
    with pytest.raises(CodesignError, match="does not exist"):
        smartpixel.read_tfrecords(tmp_path / "missing.tfrecord")


def test_smartpixel_dataset_split(data_dir, monkeypatch):
    rng = np.random.default_rng(4)
    n = 50
    arrays = {k: rng.random((n, *shape)).astype(np.float32) for k, shape in smartpixel.FEATURES.items()
              if k != "cluster"}
    arrays["y"] = (np.arange(n) % 2).astype(np.float32).reshape(n, 1)
    rel = registry.path_of("smartpixel_muc/muc_bib_filter_validation.npz")
    target = data_dir / rel
    target.parent.mkdir(parents=True)
    np.savez(target, **arrays)
    real = registry.entry("smartpixel_muc/muc_bib_filter_validation.npz")
    monkeypatch.setitem(registry.REGISTRY, real.name,
                        dataclasses.replace(real, sha256=hashlib.sha256(target.read_bytes()).hexdigest()))
    x, y = smartpixel.dataset("train")
    xt, yt = smartpixel.dataset("test")
    assert x.shape == (40, 13) and xt.shape == (10, 13) and x.dtype == np.float32 and y.dtype == np.int64
    assert yt.sum() == 5  # stratified
    rows = {r.tobytes() for r in np.concatenate([x, xt])}
    assert len(rows) == n  # a partition
    np.testing.assert_array_equal(smartpixel.dataset("train")[0], x)
    xa, ya = smartpixel.dataset("all")
    np.testing.assert_array_equal(xa, arrays["y_profile"])


# ---------------------------------------------------------------- real data (CODESIGN_DATA)


@pytest.mark.realdata
def test_real_registry_hashes(real_data):
    for name in registry.names():
        assert registry.fetch(name, data_dir=real_data).is_file()


@pytest.mark.realdata
def test_real_tfrecords_equal_npz_rows(real_data):
    z = smartpixel.load_npz(real_data)
    for name, (start, stop) in smartpixel.BATCH_ROWS.items():
        got = smartpixel.read_tfrecords(registry.fetch(name, data_dir=real_data))
        assert len(got["y"]) == stop - start
        for k, v in got.items():
            if k == "cluster":  # not in the npz; its sums are the profiles
                np.testing.assert_allclose(v[..., 0].sum(axis=2), got["y_profile"], rtol=1e-5, atol=1e-4)
                continue
            np.testing.assert_array_equal(v, z[k][start:stop])


# README row counts; the files contain no all-zero rows, so the counts hold before and after preparation.
HGCAL_ROWS = {"CALQ_output": 6050, "electron_pt20_eta15-30_0PU": 17382, "jet_pt20_eta15-30_0PU": 40054,
              "ttbar_0PU": 38382}


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(HGCAL_ROWS))
def test_real_hgcal_rows(real_data, name):
    raw = hgcal.read_csv(registry.fetch(f"hgcal/{name}.csv", data_dir=real_data))
    x8, x48 = hgcal.load_hgcal(name, data_dir=real_data)
    assert len(raw) == len(x8) == len(x48) == HGCAL_ROWS[name]
    sums = x48.sum(axis=1)
    assert ((sums >= 1) & (sums < 2)).all()  # divided by 2**floor(log2(sum))


@pytest.mark.realdata
def test_real_geometry(real_data):
    g = hgcal.load_geometry(real_data)
    assert g.arrmask_8x8.sum() == 48 and g.coords.shape == (48, 2)
    # coordinates are in small-cell units: neighbouring trigger cells of one 16-cell group are 2 apart
    assert g.ground_metric[0, 1] == pytest.approx(2.0, rel=1e-5)
    assert g.ground_metric[0, 4] == pytest.approx(2.0, rel=1e-5)
    np.testing.assert_array_equal(g.ground_metric, g.ground_metric.T)
    assert (np.diag(g.ground_metric) == 0).all()
