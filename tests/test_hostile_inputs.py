"""Hostile inputs (issue #20): every case is one `error:` line, exit 2, no traceback and no file written anywhere
but the model cache. Classes: names and paths that would leave --out, names that break generated code, inputs
that would give a meaningless result, options that used to end in a traceback, half-written state."""

import os
import textwrap

import numpy as np
import pytest
from cli_checks import assert_user_error
from models_for_tests import HOSTILE_LAYER_NAMES, hostile_mlp, tiny_mlp
from test_cli import cli

LONG = "n" * 300  # longer than any file-name limit (255 bytes)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny classifier, good data and one data file per way of being bad."""
    d = tmp_path_factory.mktemp("hostile")
    tiny_mlp(bn=False).save(d / "mlp.h5")
    m = hostile_mlp()
    m.save(d / "names.h5")
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (40, 5)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    np.savez(d / "data.npz", x=x, y=y)
    bad = {
        "neg_labels": dict(x=x, y=y - 5), "big_labels": dict(x=x, y=y + 3), "frac_labels": dict(x=x, y=y + 0.5),
        "empty": dict(x=x[:0], y=y[:0]), "nan": dict(x=np.where(x > 1.5, np.nan, x), y=y),
        "inf": dict(x=np.where(x > 1.5, np.inf, x), y=y), "strings": dict(x=x.astype(str), y=y),
        "objects": dict(x=np.array([object()] * 40), y=y), "short_y": dict(x=x, y=y[:10]),
        "wrong_width": dict(x=x[:, :4], y=y), "no_y_key": dict(x=x), "scalar_x": dict(x=np.float32(1.0), y=y),
    }
    for name, arrays in bad.items():
        np.savez(d / f"{name}.npz", **arrays)
    (d / "afile").write_text("not a directory")
    (d / "plan_junk.json").write_text("{not json")
    (d / "plan_other.json").write_text('{"design": "x", "design_hash": "' + "0" * 64 + '", "bits": [1]}')
    return d


def design(d, name="net", model="mlp.h5", data="data.npz", extra="", key="y"):
    return textwrap.dedent(f"""\
        name: {name}
        model: {{path: {d / model}}}
        data: {{path: {d / data}, x: x, y: {key}}}
        metric: mispredict
        seed: 0
        """) + extra


# (id, design-file text (a function of the data directory) or None, argv after the command, error fragments)
D = design
CASES = [
    # 1. names and paths that would leave --out
    ("name_parent", lambda d: D(d, name="../x"), ["run"], ["../x", "path"]),
    ("name_absolute", lambda d: D(d, name="/tmp/abs"), ["oracle"], ["/tmp/abs"]),
    ("name_empty", lambda d: D(d, name="''"), ["oracle"], ["name", "empty"]),
    ("name_blank", lambda d: D(d, name="'   '"), ["campaign"], ["name"]),
    ("name_dot", lambda d: D(d, name="'.'"), ["run"], ["name"]),
    ("name_dotdot", lambda d: D(d, name="'..'"), ["oracle"], ["name"]),
    ("name_backslash", lambda d: D(d, name="'a\\b'"), ["run"], ["name"]),
    ("name_subdir", lambda d: D(d, name="a/b"), ["rank", "--method", "msb"], ["a/b"]),
    ("name_list", lambda d: D(d, name="[a, b]"), ["run"], ["name"]),
    ("name_mapping", lambda d: D(d, name="{a: 1}"), ["oracle"], ["name"]),
    ("name_bool", lambda d: D(d, name="true"), ["oracle"], ["name"]),
    ("out_is_file_oracle", D, ["oracle", "--out", "{d}/afile"], ["afile"]),
    ("out_is_file_run", D, ["run", "--out", "{d}/afile"], ["afile"]),
    ("out_is_file_campaign", D, ["campaign", "--out", "{d}/afile", "--flips", "2", "--trials", "3"], ["afile"]),
    ("out_is_file_rank", D, ["rank", "--method", "msb", "--out", "{d}/afile"], ["afile"]),
    ("out_under_file", D, ["oracle", "--out", "{d}/afile/sub"], ["afile"]),
    ("out_too_long", D, ["oracle", "--out", "{t}/" + LONG], ["out"]),
    ("hls_out_is_file", D, ["hls", "--out", "{d}/afile"], ["afile"]),
    ("rtl_out_is_file", D, ["rtl", "--out", "{d}/afile"], ["afile"]),
    ("model_is_a_directory", lambda d: D(d, model=""), ["oracle"], ["model"]),
    # 3. inputs that would give a meaningless result
    ("labels_negative", lambda d: D(d, data="neg_labels.npz"), ["oracle"], ["label"]),
    ("labels_too_large", lambda d: D(d, data="big_labels.npz"), ["oracle"], ["label"]),
    ("labels_fractional", lambda d: D(d, data="frac_labels.npz"), ["oracle"], ["label"]),
    ("labels_short", lambda d: D(d, data="short_y.npz"), ["oracle"], ["rows"]),
    ("data_empty", lambda d: D(d, data="empty.npz"), ["oracle"], ["no rows"]),
    ("data_nan", lambda d: D(d, data="nan.npz"), ["oracle"], ["NaN"]),
    ("data_inf", lambda d: D(d, data="inf.npz"), ["run"], ["infinity"]),
    ("data_strings", lambda d: D(d, data="strings.npz"), ["oracle"], ["numeric"]),
    ("data_objects", lambda d: D(d, data="objects.npz"), ["oracle"], ["objects.npz"]),
    ("data_scalar", lambda d: D(d, data="scalar_x.npz"), ["oracle"], ["scalar"]),
    ("data_wrong_width", lambda d: D(d, data="wrong_width.npz"), ["oracle"], ["shape"]),
    ("data_missing_key", lambda d: D(d, data="no_y_key.npz"), ["oracle"], ["'y'"]),
    ("data_missing_file", lambda d: D(d, data="nope.npz"), ["oracle"], ["nope.npz"]),
    ("typo_top_key", lambda d: D(d, extra="smaples: 10\n"), ["oracle"], ["smaples"]),
    ("typo_model_key", lambda d: D(d).replace("model: {path:", "model: {pth:"), ["oracle"], ["model"]),
    ("typo_data_key", lambda d: D(d).replace(", x: x,", ", xx: x,"), ["oracle"], ["xx"]),
    ("typo_dse_key", lambda d: D(d, extra="dse: {rankerz: [msb]}\n"), ["run"], ["rankerz"]),
    ("typo_limits_key", lambda d: D(d, extra="limits: {max_nothing: 1}\n"), ["run"], ["max_nothing"]),
    ("samples_true", lambda d: D(d, extra="samples: true\n"), ["oracle"], ["samples"]),
    ("samples_zero", lambda d: D(d, extra="samples: 0\n"), ["oracle"], ["samples"]),
    ("samples_text", lambda d: D(d, extra="samples: many\n"), ["oracle"], ["samples"]),
    ("seed_negative", lambda d: D(d).replace("seed: 0", "seed: -1"), ["oracle"], ["seed"]),
    ("seed_float", lambda d: D(d).replace("seed: 0", "seed: 1.5"), ["oracle"], ["seed"]),
    ("metric_unknown", lambda d: D(d).replace("mispredict", "accuracy"), ["oracle"], ["accuracy"]),
    ("design_not_mapping", lambda d: "- a\n- b\n", ["oracle"], ["mapping"]),
    ("design_bad_yaml", lambda d: "name: [unclosed\n", ["oracle"], ["YAML"]),
    ("design_empty_file", lambda d: "", ["run"], ["mapping"]),
    ("design_binary", lambda d: "\x00\x01\x02", ["oracle"], ["YAML"]),
    ("model_missing", lambda d: D(d, model="nope.h5"), ["oracle"], ["nope.h5"]),
    ("model_path_number", lambda d: "name: n\nmodel: {path: 123}\nmetric: mispredict\n", ["oracle"], ["model.path"]),
    # 4. options that used to end in a traceback
    ("inject_seed_negative", D, ["inject", "--sample", "3", "--seed", "-1", "--out", "{t}/x.csv"], ["seed"]),
    ("scheduler_not_url", D, ["oracle", "--scheduler", "notaurl"], ["scheduler"]),
    ("workers_zero", D, ["oracle", "--workers", "0"], ["workers"]),
    ("workers_negative", D, ["campaign", "--workers", "-2", "--flips", "2", "--trials", "3"], ["workers"]),
    ("flips_zero", D, ["campaign", "--flips", "0", "--trials", "3"], ["flips"]),
    ("trials_zero", D, ["campaign", "--flips", "2", "--trials", "0"], ["trials"]),
    ("rate_above_one", D, ["campaign", "--fault-model", "ber", "--rate", "2", "--trials", "3"], ["rate"]),
    ("fault_model_unknown", D, ["campaign", "--fault-model", "cosmic", "--trials", "3"], ["cosmic"]),
    ("samples_option_zero", D, ["oracle", "--samples", "0"], ["samples"]),
    ("plan_junk", D, ["rtl", "--out", "{t}/rtl", "--protect", "{d}/plan_junk.json"], ["plan_junk.json"]),
    ("plan_other_design", D, ["rtl", "--out", "{t}/rtl", "--protect", "{d}/plan_other.json"], ["another design"]),
    ("plan_missing", D, ["hls", "--out", "{t}/hls", "--protect", "{d}/nope.json"], ["nope.json"]),
    ("hls_backend_unknown", D, ["hls", "--out", "{t}/hls", "--backend", "Quartus"], ["Quartus"]),
    ("budget_bad", D, ["plan", "--budget", "2.5", "--plan", "{t}/p.json"], ["budget"]),
    ("ranker_unknown", D, ["plan", "--ranker", "psychic", "--budget", "0.1", "--plan", "{t}/p.json"], ["psychic"]),
    ("inject_bits_outside", D, ["inject", "--bits", "0,99999", "--out", "{t}/x.csv"], ["99999"]),
    ("inject_replica_bad", D, ["inject", "--bits", "1", "--replica", "5", "--out", "{t}/x.csv"], ["replica"]),
    ("check_missing_dir", None, ["check", "{t}/nothing"], ["nothing"]),
]


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "cache" not in p.relative_to(root).parts)


@pytest.mark.parametrize("case, text, argv, fragments", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_one_line_and_writes_nothing(base, tmp_path, case, text, argv, fragments):
    args = [a.format(d=base, t=tmp_path) for a in argv]
    if text is not None:
        path = tmp_path / "design.yaml"
        path.write_text(text(base))
        args.insert(1, str(path))
    if "--out" not in args and args[0] not in ("check",):
        args += ["--out", str(tmp_path / "out")]
    before_base, before_tmp = _files(base), _files(tmp_path)
    proc = cli(*args, cwd=tmp_path, cache=tmp_path / "cache")
    assert_user_error(proc, *fragments)
    assert _files(base) == before_base and _files(tmp_path) == before_tmp
    assert not os.path.exists("/tmp/abs")


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)


def test_layer_names_that_break_cpp_and_verilog_verify_at_every_level(base, tmp_path):
    """Acceptance of issue #20: layers named a-b, 1abc, a/b, x\\, module, myproject in a design named tmr_ff: the
    hls4ml C++ compiles, the Verilog top is not the tmr_ff primitive, and every level agrees with QKeras (a name
    TensorFlow cannot run, x\\, runs under a TensorFlow-safe name; the outputs give the user's names back)."""
    import json

    path = tmp_path / "tmr_ff.yaml"
    path.write_text(design(base, name="tmr_ff", model="names.h5"))
    proc = cli("verify", "--design", path, "--levels", "qkeras,sim,hls,rtl", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["mismatches"] == {"qkeras": 0, "sim": 0, "hls": 0, "rtl": 0}
    proc = cli("rtl", path, "--out", tmp_path / "rtl", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "rtl" / "net_tmr_ff.v").is_file() and "module tmr_ff" in (tmp_path / "rtl" /
                                                                                "tmr_ff.v").read_text()
    from codesign.rtl.build import RtlBuild

    users = [layer["user_name"] for layer in RtlBuild.read(tmp_path / "rtl").summary["layers"]]
    assert set(HOSTILE_LAYER_NAMES) <= set(users)  # the summary gives the user's names back
    proc = cli("hls", path, "--out", tmp_path / "hls", cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    hls = json.loads((tmp_path / "hls" / ".codesign-hls.json").read_text())
    assert {"a-b", "1abc", "a/b", "x\\", "module", "myproject"} <= set(hls["layer_names"].values())
    cpp = (tmp_path / "hls" / "firmware" / "myproject.cpp").read_text()
    from codesign.names import cpp_ident

    for name in HOSTILE_LAYER_NAMES:
        if cpp_ident(name) != name:
            assert f"{name}_" not in cpp.replace(cpp_ident(name), "")  # the raw name never reaches the C++
