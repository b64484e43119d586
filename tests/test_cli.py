"""The ``codesign`` CLI run as a subprocess: one-line user errors (exit 2, nothing written) and the happy paths.

Each call that loads a model imports TensorFlow (~5 s), so the model files are built once per session and the cases
that fail before any model is loaded (missing files, bad YAML) are cheap.
"""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cli_checks import assert_user_error
from models_for_tests import tiny_cnn, tiny_mlp


# --- helpers ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """Model, input and data files shared by all CLI tests (built in-process, once)."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits

    d = tmp_path_factory.mktemp("cli-files")
    rng = np.random.default_rng(0)
    mlp = tiny_mlp(bn=False)
    mlp.save(d / "mlp.h5")
    cnn = tiny_cnn()
    cnn.save(d / "cnn.h5")

    inp = tf.keras.Input((5,), name="x")
    x = QDense(3, kernel_quantizer=quantized_bits(4, 0, alpha=1), bias_quantizer=quantized_bits(4, 0, alpha=1),
               name="d")(inp)
    x = tf.keras.layers.Activation("tanh", name="squash")(x)
    tf.keras.Model(inp, x, name="tanhnet").save(d / "tanh.h5")

    inp = tf.keras.Input((4, 4, 1), name="x")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="in_q")(inp)
    x = tf.keras.layers.Conv2DTranspose(2, 2, name="upconv")(x)
    tf.keras.Model(inp, x, name="ctnet").save(d / "convt.h5")

    inp = tf.keras.Input((5,), name="x")
    x = QActivation(quantized_bits(8, 2, alpha=1), name="in_q")(inp)
    x = tf.keras.layers.Dense(3, name="plain_dense")(x)
    tf.keras.Model(inp, x, name="floatnet").save(d / "float.h5")

    (d / "corrupt.h5").write_bytes(rng.bytes(4096))
    np.save(d / "x.npy", rng.normal(0, 1, (40, 5)).astype(np.float32))
    np.save(d / "x_wrong.npy", rng.normal(0, 1, (40, 4)).astype(np.float32))
    np.savez(d / "data.npz", x=rng.normal(0, 1, (40, 5)).astype(np.float32), y=rng.integers(0, 3, 40))
    return {"dir": d, "models": {"mlp": mlp, "cnn": cnn}}


def cli(*args, cwd, cache):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CODESIGN_CACHE=str(cache))
    return subprocess.run([sys.executable, "-m", "codesign.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def write_design(path, name="net", model="mlp.h5", data="data.npz", metric="mispredict", raw=None):
    """A design file from the minimal user schema, or ``raw`` text/bytes as is."""
    if raw is None:
        raw = textwrap.dedent(f"""\
            name: {name}
            model: {{path: {model}}}
            data: {{path: {data}, x: x, y: y}}
            metric: {metric}
            seed: 0
            """)
    if isinstance(raw, bytes):
        path.write_bytes(raw)
    else:
        path.write_text(raw)
    return path


# --- user errors -----------------------------------------------------------------------------------------------------

# (case id, argv with {d} = the files directory, fragments the one error line must contain)
MODEL_ERRORS = [
    ("missing_model_info", ["info", "{d}/nope.h5"], ["nope.h5", "does not exist"]),
    ("missing_model_verify", ["verify", "--model", "{d}/nope.h5", "--inputs", "{d}/x.npy"], ["nope.h5"]),
    ("corrupt_h5", ["info", "{d}/corrupt.h5"], ["corrupt.h5"]),
    ("unsupported_tanh", ["info", "{d}/tanh.h5"], ["squash", "tanh"]),
    ("unsupported_conv2dtranspose", ["info", "{d}/convt.h5"], ["upconv", "Conv2DTranspose"]),
    ("float_dense_on_chip", ["info", "{d}/float.h5"], ["plain_dense", "float"]),
    ("input_shape_mismatch",
     ["verify", "--model", "{d}/mlp.h5", "--inputs", "{d}/x_wrong.npy", "--levels", "qkeras,sim"], ["shape"]),
    ("missing_inputs_file", ["verify", "--model", "{d}/mlp.h5", "--inputs", "{d}/nope.npy"], ["nope.npy"]),
    ("unknown_level", ["verify", "--model", "{d}/mlp.h5", "--inputs", "{d}/x.npy", "--levels", "qkeras,gates"], ["gates"]),
    ("missing_design_verify", ["verify", "--design", "{d}/nope.yaml"], ["nope.yaml"]),
]


@pytest.mark.parametrize("argv, fragments", [c[1:] for c in MODEL_ERRORS], ids=[c[0] for c in MODEL_ERRORS])
def test_model_errors(files, tmp_path, argv, fragments):
    d = files["dir"]
    proc = cli(*[a.format(d=d) for a in argv], cwd=tmp_path, cache=tmp_path / "cache")
    assert_user_error(proc, *fragments)


RUN_ERRORS = [
    ("malformed_yaml", dict(raw="name: bad\nmodel: {path: mlp.h5\n  metric: [\n"), ["malformed YAML", "line 3"]),
    ("not_utf8_yaml", dict(raw=b"name: \xff\xfe\x82 bad\n"), ["malformed YAML"]),
    ("missing_data_file", dict(data="missing.npz"), ["missing.npz"]),
    ("unknown_metric", dict(metric="accuracy"), ["accuracy", "mispredict"]),
    ("missing_model_in_design", dict(model="nope.h5"), ["nope.h5"]),
    ("name_escapes_out", dict(name="../escaped"), ["../escaped"]),
    ("design_not_a_mapping", dict(raw="- just\n- a list\n"), ["mapping"]),
    ("non_string_path", dict(raw="name: n\nmodel: {path: 123}\nmetric: mispredict\n"), ["model.path"]),
]


@pytest.mark.parametrize("design, fragments", [c[1:] for c in RUN_ERRORS], ids=[c[0] for c in RUN_ERRORS])
def test_run_errors(files, tmp_path, design, fragments):
    d = files["dir"]
    path = write_design(tmp_path / "design.yaml", **{"model": d / "mlp.h5", "data": d / "data.npz", **design})
    out = tmp_path / "out"
    out.mkdir()
    proc = cli("run", path, "--out", out, cwd=tmp_path, cache=tmp_path / "cache")
    assert_user_error(proc, *fragments)
    assert sorted(p.name for p in out.iterdir()) == []  # hidden temp dirs included
    assert not (tmp_path / "escaped").exists()


def test_run_missing_design_creates_nothing(tmp_path):
    out = tmp_path / "never"
    proc = cli("run", tmp_path / "nope.yaml", "--out", out, cwd=tmp_path, cache=tmp_path / "cache")
    assert_user_error(proc, "nope.yaml")
    assert not out.exists()


def test_run_out_is_a_file(files, tmp_path):
    design = write_design(tmp_path / "net.yaml", model=files["dir"] / "mlp.h5", data=files["dir"] / "data.npz")
    out = tmp_path / "out"
    out.write_text("not a directory")
    proc = cli("run", design, "--out", out, cwd=tmp_path, cache=tmp_path / "cache")
    assert_user_error(proc, str(out))
    assert out.read_text() == "not a directory"


# --- happy paths -----------------------------------------------------------------------------------------------------


def expected_bits(model):
    """Weight and bias bit counts straight from the Keras model: parameter count x quantizer bits."""
    weight = bias = 0
    for layer in model.layers:
        if getattr(layer, "kernel_quantizer", None) is not None:
            weight += int(np.prod(layer.kernel.shape)) * int(layer.kernel_quantizer_internal.bits)
            if layer.use_bias:
                bias += int(np.prod(layer.bias.shape)) * int(layer.bias_quantizer_internal.bits)
    return weight, bias


@pytest.mark.parametrize("which, layers", [("mlp", ["d1", "a1", "d2"]), ("cnn", ["conv", "relu1", "dense"])])
def test_info(files, tmp_path, which, layers):
    weight, bias = expected_bits(files["models"][which])
    assert weight > 0 and bias > 0
    proc = cli("info", files["dir"] / f"{which}.h5", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    listed = [ln.split()[0] for ln in proc.stdout.splitlines()[1:-1]]
    for name in layers:
        assert name in listed, proc.stdout
    m = re.search(r"weight bits (\d+)\s+bias bits (\d+)\s+BitSpace (\d+)", proc.stdout)
    assert m, proc.stdout
    assert (int(m[1]), int(m[2]), int(m[3])) == (weight, bias, weight + bias)


def test_verify_qkeras_sim(files, tmp_path):
    d = files["dir"]
    proc = cli("verify", "--model", d / "mlp.h5", "--inputs", d / "x.npy", "--levels", "qkeras,sim",
               cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    result = json.loads(proc.stdout)
    assert result["mismatches"] == {"qkeras": 0, "sim": 0}
    assert result["n_inputs"] == 40 and result["ok"] is True


def test_run_twice_replaces_output(files, tmp_path):
    d = files["dir"]
    design = write_design(tmp_path / "user.yaml", name="usernet", model=d / "mlp.h5", data=d / "data.npz")
    out = tmp_path / "out"
    final = out / "usernet"

    proc = cli("run", design, "--out", out, "--until", "verify", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    for rel in ("manifest.json", "model/qnet.npz", "report/summary.json"):
        assert (final / rel).is_file(), rel
    summary = json.loads((final / "report" / "summary.json").read_text())
    assert summary["design"] == "usernet" and summary["metric"] == "mispredict" and summary["rows"] == 40
    assert summary["fidelity"]["mismatches"] == {"qkeras": 0, "sim": 0}
    assert 0.0 <= summary["accuracy"] <= 1.0
    manifest = json.loads((final / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["qnet_sha256"] == summary["qnet_sha256"]
    (final / "report" / "stale.txt").write_text("left over from the first run")
    (final / "oracle").mkdir()  # what other commands wrote survives a new run

    proc = cli("run", design, "--out", out, "--until", "verify", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert sorted(p.name for p in out.iterdir()) == ["usernet"]  # no .usernet.tmp-*/.usernet.old-* left
    assert not (final / "report" / "stale.txt").exists()
    # .lock: the (empty) file a run holds while it writes this design's directory
    assert sorted(p.name for p in final.iterdir()) == [".lock", "manifest.json", "model", "oracle", "report", "verify"]
    assert json.loads((final / "report" / "summary.json").read_text()) == summary
