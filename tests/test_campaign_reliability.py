"""Campaign durability and executors: SIGKILL at random moments + resume == one uninterrupted run, bit for bit;
Dask and a local process pool give the same table as one in-process worker; CLI user errors of `oracle`/`campaign`.

The kill target is a small script that loads a saved QNet and the data and never imports TensorFlow (~0.5 s to
start instead of ~6 s), then runs the real runner + store (chunks of 4 faults: frequent commits) and writes the
oracle through the real API; the CLI is killed and resumed once as well.
"""

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from codesign.campaign import api, runner
from codesign.campaign.evaluate import Evaluator
from codesign.campaign.faults import FaultModel, FaultSpace
from codesign.campaign.store import Store
from codesign.data.load import Data
from codesign.metrics.cost import Cost
from codesign.sim.forward import predict
from cli_checks import assert_user_error
from models_for_tests import tiny_cnn

ROWS = 2000  # ~2.5 s of campaign for the 2958 bits of the CNN (the CLI is killed mid-run too)

TARGET = textwrap.dedent("""\
    import sys
    import time
    from pathlib import Path
    from types import SimpleNamespace

    from codesign.campaign import api, runner
    from codesign.campaign.faults import FaultModel, FaultSpace
    from codesign.campaign.store import Store
    from codesign.flow import campaigns
    from codesign.ir.qnet import QNet
    from codesign.prepare import Prepared
    from codesign.spec import load
    from codesign.workspace import Workspace

    files, out = Path(sys.argv[1]), Path(sys.argv[2])
    design = Prepared(load(files / "net.yaml"))
    # the QNet the CLI would build from cnn.h5, loaded without TensorFlow; no decoder (metric mispredict)
    design.qnet = design.base_qnet = QNet.load(files / "qnet.npz")
    design.model = SimpleNamespace(decoder=None, input_scale=1.0, dataset=None, onchip=None)
    evaluator = design.evaluator()
    if len(sys.argv) > 3:  # slowed down (sleeping, not computing) so that kills land mid-campaign
        evaluate, pause = evaluator.evaluate, float(sys.argv[3])
        evaluator.evaluate = lambda bits: time.sleep(pause) or evaluate(bits)
    model = FaultModel("single", seed=design.seed)  # what api.oracle plans
    space = FaultSpace(model, evaluator.qnet.bitspace)
    store = Store(out / design.name / ".work" / "oracle.sqlite", api.campaign_key(design.name, evaluator, model, None))
    runner.run(evaluator, space, store, chunk=4, progress=False)
    store.close()
    campaigns.oracle(design, Workspace(out, design.name))  # resumes the same store (nothing left) and writes oracle/
    assert "tensorflow" not in sys.modules
    print("done")
    """)


def env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(Path(__file__).resolve().parents[1]))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """cnn.h5 (+ its QNet), a second model, data, design files and the kill-target script."""
    d = tmp_path_factory.mktemp("campaign-files")
    from codesign.ir.from_keras import from_keras

    model = tiny_cnn(1, "same")
    model.save(d / "cnn.h5")
    qnet = from_keras(model)
    qnet.save(d / "qnet.npz")
    other = tiny_cnn(2, "valid", seed=1)
    other.save(d / "other.h5")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.5, 1.5, (ROWS, 6, 6, 2)).astype(np.float32)
    y = np.argmax(predict(qnet, x).reshape(ROWS, -1), axis=1)
    y[::3] = (y[::3] + 1) % 4  # a third wrong: mispredict evaluates the other two thirds
    np.savez(d / "data.npz", x=x, y=y)
    for name, path in (("net.yaml", "cnn.h5"), ("other.yaml", "other.h5")):
        (d / name).write_text(f"name: net\nmodel: {{path: {path}}}\ndata: {{path: data.npz, x: x, y: y}}\n"
                              "metric: mispredict\nseed: 0\n")
    (d / "target.py").write_text(TARGET)
    return SimpleNamespace(dir=d, qnet=qnet, x=x, y=y, other_qnet=from_keras(other))


def _connect(db: Path):
    """Read-only: the test never writes (or checkpoints) a store a campaign left behind."""
    return contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True))


def results(db: Path) -> list[tuple]:
    with _connect(db) as c:
        rows = c.execute("SELECT * FROM results ORDER BY fault_id").fetchall()
        n, distinct = c.execute("SELECT COUNT(*), COUNT(DISTINCT fault_id) FROM results").fetchone()
    assert n == distinct == len(rows)
    return rows


def stored(db: Path) -> int:
    """Results committed so far (0 before the store and its schema exist)."""
    for attempt in range(50):
        if not db.exists():
            return 0
        try:
            with _connect(db) as c:
                return c.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # killed (or looked at) before the schema was committed
                return 0
            if attempt == 49:
                raise
            time.sleep(0.02)  # busy: the campaign is creating or checkpointing the store


def start_target(files, out, *pause):
    return subprocess.Popen([sys.executable, str(files.dir / "target.py"), str(files.dir), str(out), *pause],
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def baseline(files, tmp_path_factory):
    """One uninterrupted run of the kill target."""
    out = tmp_path_factory.mktemp("baseline")
    proc = start_target(files, out)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0 and stdout.strip() == "done", stderr
    final = out / "net" / "oracle"
    rows = results(final / "store.sqlite")
    assert [r[0] for r in rows] == list(range(files.qnet.bitspace.size))
    assert 0 < sum(r[3] > 0 for r in rows) < len(rows)
    return SimpleNamespace(out=out, rows=rows, csv=(final / "oracle.csv").read_bytes(),
                           summary=(final / "summary.json").read_bytes())


def test_sigkill_at_random_moments_then_resume_is_bit_identical(files, baseline, tmp_path):
    out = tmp_path / "out"
    work = out / "net" / ".work" / "oracle.sqlite"
    total = files.qnet.bitspace.size
    rng = np.random.default_rng(2024)
    before, mid_run, log = 0, 0, []
    for kill in range(12):
        proc = start_target(files, out, "0.001")  # ~3 s more for the whole campaign
        if kill % 2:
            # a moment inside the campaign: shortly after this run's first commit
            deadline = time.monotonic() + 120
            while stored(work) == before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(float(rng.uniform(0.0, 0.3)))
        else:
            time.sleep(float(rng.uniform(0.1, 0.9)))  # anywhere: imports, evaluator, store, campaign
        assert proc.poll() is None, (f"run {kill} finished before its kill", log, proc.communicate())
        os.kill(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, (kill, proc.returncode, stderr, log)
        after = stored(work)
        log.append((kill, before, after))
        assert after >= before, log  # committed results survive every kill
        mid_run += int(before < after < total)
        before = after
        # everything a killed run left behind is already the final answer, row for row
        partial = results(work) if after else []
        assert partial == [baseline.rows[r[0]] for r in partial]
    assert mid_run >= 6, log  # kills landed between commits of the campaign, not only at startup
    assert stored(work) < total, log  # the finishing run below has work left
    proc = start_target(files, out)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0 and stdout.strip() == "done", stderr

    final = out / "net" / "oracle"
    assert results(final / "store.sqlite") == baseline.rows  # same ids, same ΔC bits, none missing, none twice
    assert results(work) == baseline.rows
    assert (final / "oracle.csv").read_bytes() == baseline.csv
    assert (final / "summary.json").read_bytes() == baseline.summary


# --- the CLI: kill once, resume --------------------------------------------------------------------------------------


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "codesign.cli", *map(str, args)], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=600)


def test_cli_oracle_killed_and_resumed(files, baseline, tmp_path):
    out = tmp_path / "out"
    work = out / "net" / ".work" / "oracle.sqlite"
    total = files.qnet.bitspace.size
    proc = subprocess.Popen([sys.executable, "-m", "codesign.cli", "oracle", str(files.dir / "net.yaml"), "--out",
                             str(out), "--workers", "1"], cwd=tmp_path, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while stored(work) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert 0 < stored(work) < total, "the kill did not land mid-campaign"
    assert not (out / "net" / "oracle").exists()  # results appear whole or not at all

    done = cli("oracle", files.dir / "net.yaml", "--out", out, "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{total} bits on" in done.stdout and "written to" in done.stdout
    final = out / "net" / "oracle"
    assert results(final / "store.sqlite") == baseline.rows
    assert (final / "oracle.csv").read_bytes() == baseline.csv  # CLI (QNet from .h5) == API (QNet from .npz)
    assert (final / "summary.json").read_bytes() == baseline.summary


# --- executors: Dask and a local pool == one in-process worker -------------------------------------------------------


@pytest.fixture(scope="module")
def campaigns(files):
    """(evaluator, [fault spaces]) on 300 rows: the oracle plan and a multi-bit plan."""
    n = 300
    ev = Evaluator(files.qnet, Cost("mispredict", Data(files.x[:n], files.y[:n])))
    bs = files.qnet.bitspace
    return ev, {"single": FaultSpace(FaultModel("single"), bs),
                "multibit": FaultSpace(FaultModel("multibit", flips=3, trials=400, seed=5), bs)}


def run_table(ev, space, path, **kw):
    store = Store(path, {"campaign": "executors", "plan": space.model.to_dict()})
    try:
        n = runner.run(ev, space, store, progress=False, **kw)
        assert n == len(space.fault_ids())
        return store.table()
    finally:
        store.close()


def assert_same_table(a, b):
    assert set(a) == set(b)
    for name in a:
        if a[name].dtype == np.float64:
            assert a[name].tobytes() == b[name].tobytes(), name  # bit-identical floats
        else:
            assert a[name].tolist() == b[name].tolist(), name


@pytest.fixture(scope="module")
def reference_tables(campaigns, tmp_path_factory):
    ev, spaces = campaigns
    d = tmp_path_factory.mktemp("reference")
    tables = {k: run_table(ev, s, d / f"{k}.sqlite", workers=1) for k, s in spaces.items()}
    assert len(tables["single"]["fault_id"]) == ev.qnet.bitspace.size
    assert 0 < np.sum(tables["multibit"]["delta_cost"] > 0) < 400
    return tables


def test_local_pool_equals_one_worker(campaigns, reference_tables, tmp_path):
    ev, spaces = campaigns
    for kind, space in spaces.items():
        assert_same_table(run_table(ev, space, tmp_path / f"{kind}.sqlite", workers=2, chunk=64),
                          reference_tables[kind])


def test_dask_cluster_equals_one_worker(campaigns, reference_tables, tmp_path):
    from distributed import LocalCluster

    ev, spaces = campaigns
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        client = runner.connect(cluster.scheduler_address)
        try:
            for kind, space in spaces.items():
                assert_same_table(run_table(ev, space, tmp_path / f"{kind}.sqlite", client=client, chunk=64),
                                  reference_tables[kind])
        finally:
            client.close()


# --- CLI user errors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, fragments", [
    (["--fault-model", "triple"], ["unknown fault model 'triple'", "multibit"]),
    (["--fault-model", "ber", "--rate", "0"], ["rate must lie in (0, 1)", "got 0.0"]),
    (["--fault-model", "ber", "--rate", "1.5"], ["rate must lie in (0, 1)", "got 1.5"]),
    (["--fault-model", "ber"], ["rate must lie in (0, 1)"]),
    (["--fault-model", "multibit", "--flips", "2", "--trials", "0"], ["--trials"]),
], ids=["unknown_model", "rate_0", "rate_1.5", "rate_missing", "trials_0"])
def test_cli_bad_fault_model(files, tmp_path, args, fragments):
    out = tmp_path / "out"
    proc = cli("campaign", files.dir / "net.yaml", "--out", out, *args, cwd=tmp_path)
    assert_user_error(proc, *fragments)
    assert not out.exists()


def test_cli_flips_beyond_bitspace(files, tmp_path):
    out = tmp_path / "out"
    total = files.qnet.bitspace.size
    proc = cli("campaign", files.dir / "net.yaml", "--out", out, "--fault-model", "multibit", "--flips", total + 1,
               "--trials", 3, cwd=tmp_path)
    assert_user_error(proc, f"--flips {total + 1}", f"exceeds the {total} bits")
    assert not (out / "net" / "campaigns").exists()


def test_cli_unreadable_store(files, tmp_path):
    out = tmp_path / "out"
    tag = api.campaign_tag(FaultModel("multibit", flips=2, trials=5, seed=0), None)
    work = out / "net" / ".work" / f"{tag}.sqlite"
    work.parent.mkdir(parents=True)
    junk = np.random.default_rng(7).bytes(6000)
    work.write_bytes(junk)
    proc = cli("campaign", files.dir / "net.yaml", "--out", out, "--fault-model", "multibit", "--flips", 2,
               "--trials", 5, cwd=tmp_path)
    assert_user_error(proc, "unreadable result store", str(work))
    assert work.read_bytes() == junk  # left for the user to inspect
    assert not (out / "net" / "campaigns").exists()


def test_cli_store_of_another_design(files, tmp_path):
    """Same --out and design name, another model: its design hash differs, the store is refused and kept."""
    out = tmp_path / "out"
    from codesign.flow import campaigns
    from codesign.prepare import Prepared
    from codesign.spec import load
    from codesign.workspace import Workspace

    other = Prepared(load(files.dir / "other.yaml"))
    other.qnet = other.base_qnet = files.other_qnet
    other.model = SimpleNamespace(decoder=None, input_scale=1.0, dataset=None, onchip=None)
    summary = campaigns.oracle(other, Workspace(out, other.name))
    work = out / "net" / ".work" / "oracle.sqlite"
    before = results(work)
    assert len(before) == summary["bits"] == files.other_qnet.bitspace.size
    csv_before = (out / "net" / "oracle" / "oracle.csv").read_bytes()

    proc = cli("oracle", files.dir / "net.yaml", "--out", out, cwd=tmp_path)
    theirs = files.other_qnet.fingerprint()
    assert theirs != files.qnet.fingerprint()
    assert_user_error(proc, "belongs to another campaign", "design 'net'", f"hash {theirs[:12]}", str(work))
    assert results(work) == before
    assert (out / "net" / "oracle" / "oracle.csv").read_bytes() == csv_before
