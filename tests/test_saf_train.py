"""Fine-tuning a zoo classifier with its saturated weight tables in the loop: the hardware network (stored codes +
tables) computes exactly what the trained Keras network computes, the fine-tuning is cached and deterministic, and
the option's errors are one line."""

import numpy as np
import pytest
from cli_checks import assert_user_error
from test_cli import cli, files  # noqa: F401  (session fixture: tiny models and data)

from codesign.prepare import Prepared
from codesign.spec import load
from codesign.errors import CodesignError
from codesign.mitigate import saf
from codesign.mitigate.saf_train import install, uninstall
from codesign.sim.forward import predict, quantize_input

SPEC = "saf: {function: tanh, level: 0.5, train: {epochs: 2}}\n"


def _design(tmp_path, extra: str = SPEC, name: str = "ft"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nmodel: {{zoo: digits_s}}\ndata: {{dataset: digits, split: test}}\n"
                    f"metric: mispredict\nsamples: 200\n{extra}")
    return Prepared(load(path))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, monkeypatch_module):
    tmp = tmp_path_factory.mktemp("saf_train")
    monkeypatch_module.setenv("CODESIGN_CACHE", str(tmp / "cache"))
    design = _design(tmp)
    design.qnet
    return design, tmp


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_the_hardware_network_is_the_trained_network(tuned):
    design, _ = tuned
    q, base, zm = design.qnet, design.base_qnet, design.model
    info = zm.info["saf"]
    convs = [l for l in q.layers if getattr(l, "kernel_lut", None) is not None]
    assert convs and all(l.saf == "tanh" for l in convs)
    for l in convs:
        # the fine-tuned kernels are stored as they are (no nearest-entry search), behind a table with edge m
        assert np.array_equal(l.kernel, base.layer(l.name).kernel)
        ty = l.kernel_type
        assert info["m"][l.name] == round(0.5 * max(-ty.min_code, ty.max_code))
        assert np.abs(l.kernel_lut).max() <= info["m"][l.name]
        assert np.array_equal(l.kernel_lut, saf.lut_for(base.layer(l.name), "tanh", info["m"][l.name]))
    # the Keras model with the tables installed (as trained) gives exactly the simulator's outputs
    x = design.data.x
    xq = q.input_type.to_float(quantize_input(q, x)).astype(np.float32)
    originals = install(zm.onchip, base, design.spec.saf, info["m"])
    try:
        keras_out = np.asarray(zm.onchip(xq, training=False), dtype=np.float64).reshape(len(x), -1)
    finally:
        uninstall(zm.onchip, originals)
    assert np.array_equal(keras_out, predict(q, xq).reshape(len(x), -1))
    # fine-tuning started from the post-training tables (the accuracy logged for them is the simulator's) and
    # recovered accuracy they lost
    from codesign.data import digits

    xt, yt = digits.dataset("test", seed=0)
    xt = np.asarray(xt, np.float32).reshape(-1, 8, 8, 1)
    original = _design(tuned[1], extra="", name="orig").base_qnet
    post = saf.with_saf(original, "tanh", level=0.5)
    xq = post.input_type.to_float(quantize_input(post, xt)).astype(np.float32)
    acc = float(np.mean(np.argmax(predict(post, xq).reshape(len(xt), -1), axis=1) == np.asarray(yt).reshape(-1)))
    assert info["test_accuracy_table_untrained"] == pytest.approx(acc, abs=1e-12)
    assert info["test_accuracy_finetuned"] > info["test_accuracy_table_untrained"]
    assert 0.5 < info["test_accuracy_finetuned"] <= 1


def test_fine_tuning_is_cached_and_deterministic(tuned, tmp_path, monkeypatch):
    design, tmp = tuned
    files = sorted((tmp / "cache" / "saf").glob("*.h5"))
    assert len(files) == 1 and files[0].with_suffix(".json").is_file()
    again = _design(tmp, name="ft")  # same settings: read from the cache
    assert np.array_equal(again.qnet.layer("conv2d_0").kernel, design.qnet.layer("conv2d_0").kernel)
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "fresh"))
    fresh = _design(tmp_path, name="ft")  # trained again from scratch in another cache
    for l in design.qnet.layers:
        if getattr(l, "kernel_lut", None) is not None:
            assert np.array_equal(fresh.qnet.layer(l.name).kernel, l.kernel), l.name


def test_saf_train_options_fail_in_one_line(tmp_path, files):  # noqa: F811
    for bad, frag in (("saf: {function: tanh, level: 2}\n", "saf.level"),
                      ("saf: {function: tanh, train: {epochs: 0}}\n", "saf.train.epochs"),
                      ("saf: {function: tanh, train: {lr: 1}}\n", "saf.train must be"),
                      ("saf: {function: tanh, train: 3}\n", "saf.train must be")):
        with pytest.raises(CodesignError, match=frag.replace(".", r"\.")):
            _design(tmp_path, bad)
        p = tmp_path / "bad.yaml"
        p.write_text(f"name: b\nmodel: {{zoo: digits_s}}\ndata: {{dataset: digits}}\nmetric: mispredict\n{bad}")
        assert_user_error(cli("run", p, "--out", tmp_path / "o", cwd=tmp_path, cache=tmp_path / "cache"), frag)
        assert not (tmp_path / "o").exists()
    d = files["dir"]  # a user's model: no training recipe here, so no fine-tuning
    p = tmp_path / "user.yaml"
    p.write_text(f"name: u\nmodel: {{path: {d / 'mlp.h5'}}}\ndata: {{path: {d / 'data.npz'}, x: x, y: y}}\n"
                 f"metric: mispredict\n{SPEC}")
    assert_user_error(cli("run", p, "--out", tmp_path / "o", cwd=tmp_path, cache=tmp_path / "cache"),
                      "no training recipe")
    assert not (tmp_path / "o").exists()
