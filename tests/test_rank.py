"""Rankers and their evaluation: Hessian eigenpairs and traces against the exact Hessian, PrioriFI's choices against
Alg. 1, BinFI/StatFI on oracles whose answers are known by construction, evaluation measures against brute force,
and the rank/evaluate/inject command lines."""

import csv

import numpy as np
import pytest

from cli_checks import assert_user_error
from models_for_tests import tiny_cnn, tiny_mlp
from test_cli import cli, write_design

from codesign.rank import evaluation as ev
from codesign.rank.base import Context, Ranking, bit_columns, msb_to_lsb, weight_deltas
from codesign.rank.dynamic import BinFI, BitwiseDynamic, PrioriFI, StatFI, drive


@pytest.fixture(scope="module")
def mlp_design(tmp_path_factory):
    from codesign.prepare import Prepared
    from codesign.spec import load

    d = tmp_path_factory.mktemp("rank")
    tiny_mlp(bn=False).save(d / "mlp.h5")
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (300, 5)).astype(np.float32)
    np.savez(d / "data.npz", x=x, y=rng.integers(0, 3, 300))
    path = write_design(d / "mlp.yaml", model=d / "mlp.h5", data=d / "data.npz")
    return Prepared(load(path)), path


@pytest.fixture(scope="module")
def loss(mlp_design):
    return mlp_design[0].rank_context(rows=300).loss


# --- second-order information ---------------------------------------------------------------------------------------


def test_hessian_vector_products_are_the_exact_hessian(loss):
    h = loss.dense_hessian()
    assert h.shape == (loss.n, loss.n) == (66, 66)
    assert np.allclose(h, h.T, atol=1e-4 * np.abs(h).max())  # symmetric: a true second derivative
    v = np.random.default_rng(0).standard_normal(loss.n)
    assert np.allclose(loss.hvp(v), h @ v, rtol=1e-4, atol=1e-5 * np.abs(h).max())


def test_top_eigenvalues_match_dense_eigh_within_1pct(loss):
    exact = np.linalg.eigvalsh((lambda h: (h + h.T) / 2)(loss.dense_hessian()))
    exact = exact[np.argsort(-np.abs(exact))]
    vals, vecs = loss.top_eigen(8)
    assert len(vals) == 8 and vecs.shape == (8, loss.n)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0)
    rel = np.abs(vals - exact[:8]) / np.abs(exact[:8])
    assert rel.max() < 0.01, (vals, exact[:8])


def test_hutchinson_trace_within_5pct_per_tensor(loss):
    h = loss.dense_hessian()
    traces = loss.traces(400)
    start = 0
    for s in loss.segments:
        exact = float(np.trace(h[start:start + s.size, start:start + s.size]))
        start += s.size
        assert abs(traces[f"{s.layer}/{s.tensor}"] - exact) <= 0.05 * abs(exact), (s.layer, s.tensor, exact)
    assert start == loss.n
    diag = loss.diagonal(400)
    assert np.corrcoef(diag, np.diag(h))[0, 1] > 0.9  # the diagonal estimate the bitwise ranker uses


def test_bad_k(loss):
    from codesign.errors import CodesignError

    with pytest.raises(CodesignError, match="positive"):
        loss.top_eigen(0)
    with pytest.raises(CodesignError, match="positive"):
        PrioriFI(k=0)


# --- bit order helpers -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qnet():
    from codesign.ir.from_keras import from_keras

    return from_keras(tiny_cnn(), "tiny")


def test_weight_deltas_are_exact_flips(qnet):
    from codesign.ir.bitspace import apply_flips

    bs = qnet.bitspace
    dw = weight_deltas(bs, qnet)
    for bit in np.random.default_rng(0).choice(bs.size, 60, replace=False):
        layer, tensor, elem, _ = bs.locate(int(bit))
        seg = bs.segment(layer, tensor)
        (li, t), = apply_flips(qnet, [int(bit)]).items()
        new = t[tensor].reshape(-1)[elem]
        old = qnet.layers[li].params()[tensor][0].reshape(-1)[elem]
        assert dw[bit] == (int(new) - int(old)) * 2.0 ** -seg.type.frac


def test_msb_to_lsb_order(qnet):
    bs = qnet.bitspace
    cols = bit_columns(bs)
    score = np.random.default_rng(0).random(int(cols["param"].max()) + 1)
    order = msb_to_lsb(bs, score)
    assert sorted(order.tolist()) == list(range(bs.size))
    pos = cols["position"][order]
    assert np.all(np.diff(pos) >= 0)  # every MSB before every MSB-1 …
    for p in np.unique(pos):
        s = score[cols["param"][order[pos == p]]]
        assert np.all(np.diff(s) <= 0)  # … and by parameter score within a bit position


# --- PrioriFI ---------------------------------------------------------------------------------------------------------


def alg1_reference(lists, delta, k):
    """Alg. 1 of the PrioriFI paper written out plainly (median of the last k ΔC per list, first non-empty of the
    lists sorted by median, descending, stable)."""
    bs = [list(l) for l in lists]
    deltas = [[] for _ in bs]
    seq = []
    for i in range(len(bs)):
        if bs[i]:
            b = bs[i].pop(0)
            seq.append(b)
            deltas[i].append(delta[b])
    while any(bs):
        ms = [np.median(d[-k:]) if d else -np.inf for d in deltas]
        ranked = sorted(range(len(bs)), key=lambda i: -ms[i])  # Python's sort is stable
        f = next(i for i in ranked if bs[i])
        b = bs[f].pop(0)
        seq.append(b)
        deltas[f].append(delta[b])
    return seq


def test_priorifi_hand_worked_example():
    lists = [[0, 1, 2], [10, 11, 12], [20]]
    delta = np.zeros(30)
    delta[[0, 1, 2, 10, 11, 12, 20]] = [5, 2, 9, 7, 0, 4, 1]
    ctx = Context(qnet=None)
    r = drive(PrioriFI(k=5, lists=lists), ctx, lambda b: delta[b])
    # init 0,10,20; medians 5/7/1 -> 11 (0); 5 vs 3.5 -> 1 (2); tie 3.5/3.5 -> the MSB list: 2; then 12
    assert r.order.tolist() == [0, 10, 20, 11, 1, 2, 12]
    assert r.flips.tolist() == list(range(1, 8))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_priorifi_replay_makes_exactly_alg1_choices(qnet, k):
    bs = qnet.bitspace
    rng = np.random.default_rng(k)
    n_params = int(bit_columns(bs)["param"].max()) + 1
    lists = PrioriFI.significance_lists(bs, rng.random(n_params))
    # a synthetic oracle with many ties and zeros, so the tie-break rule is exercised
    delta = np.round(rng.exponential(1.0, bs.size) * (rng.random(bs.size) < 0.6), 1)
    r = drive(PrioriFI(k=k, lists=lists), Context(qnet), lambda b: delta[b])
    assert r.order.tolist() == alg1_reference(lists, delta, k)
    assert sorted(r.order.tolist()) == list(range(bs.size))


def test_policy_refuses_an_answer_to_another_question():
    from codesign.errors import CodesignError

    p = PrioriFI(lists=[[3, 4]])
    p.start(Context(qnet=None))
    with pytest.raises(CodesignError, match="asked for 3"):
        p.tell(4, 1.0)


# --- BinFI, StatFI, bitwise+dynamic --------------------------------------------------------------------------------------


def monotone_oracle(bs, seed=0):
    """Every parameter sensitive down to a random bit position, with ΔC falling with significance."""
    rng = np.random.default_rng(seed)
    cols = bit_columns(bs)
    widths = np.array([s.type.width for s in bs.segments])[cols["segment"]]
    boundary = rng.integers(0, 7, int(cols["param"].max()) + 1)[cols["param"]]
    return np.where(cols["position"] < boundary, (widths - cols["position"]) * 1.0, 0.0)


@pytest.mark.parametrize("variant", ["actual", "implied", "serial"])
def test_binfi_exact_under_monotonicity(qnet, variant):
    bs = qnet.bitspace
    delta = monotone_oracle(bs)
    r = drive(BinFI(variant), Context(qnet), lambda b: delta[b])
    row = ev.evaluate_ranking(r, delta, bs)
    assert row["false_positives"] == 0 and row["false_negatives"] == 0
    widths = [s.type.width for s in bs.segments for _ in range(s.size)]
    searches = sum(int(np.ceil(np.log2(w + 1))) for w in widths)
    if variant != "serial":  # a binary search: at most ceil(log2(w+1)) injections per parameter
        assert r.flips[-1] <= searches
    else:  # every implied bit injected too
        assert r.flips.tolist() == list(range(1, len(r.order) + 1))
        assert set(np.flatnonzero(delta > 0)) <= set(r.order.tolist())


def test_binfi_misses_a_non_monotone_bit(qnet):
    bs = qnet.bitspace
    delta = np.zeros(bs.size)
    w = bs.segments[0].type.width
    delta[w - 1] = 1.0  # only the LSB of the first weight matters: the search never gets there
    r = drive(BinFI("serial"), Context(qnet), lambda b: delta[b])
    assert ev.evaluate_ranking(r, delta, bs)["false_negatives"] == 1


def test_statfi_sample_size_formula(qnet):
    groups = StatFI(data_aware=False).sample_sizes(Context(qnet))
    for idx, n in groups:
        big_n = len(idx)
        expected = int(np.ceil(big_n / (1 + 0.05 ** 2 * (big_n - 1) / (1.96 ** 2 * 0.25))))
        assert n == min(expected, big_n)
    aware = StatFI(data_aware=True).sample_sizes(Context(qnet))
    assert sum(n for _, n in aware) <= sum(n for _, n in groups)  # p(1-p) <= 1/4


def test_statfi_labels_unsampled_bits_by_majority(qnet):
    bs = qnet.bitspace
    delta = np.ones(bs.size)
    r = drive(StatFI(data_aware=False), Context(qnet, seed=3), lambda b: delta[b])
    assert len(r.order) < bs.size and r.predicted.all()  # sampled, and every group's majority is sensitive


def test_bitwise_dynamic_injects_every_bit_once_and_follows_the_score(qnet):
    bs = qnet.bitspace
    score = np.random.default_rng(0).random(bs.size)
    r = drive(BitwiseDynamic(score=score), Context(qnet), lambda b: 1.0)  # nothing insensitive: pure score order
    assert r.order.tolist() == np.argsort(-score, kind="stable").tolist()
    delta = np.zeros(bs.size)
    r = drive(BitwiseDynamic(score=score), Context(qnet), lambda b: delta[b])
    assert sorted(r.order.tolist()) == list(range(bs.size))


# --- evaluation measures ---------------------------------------------------------------------------------------------


def test_oracle_order_scores_one_and_random_less(qnet):
    bs = qnet.bitspace
    delta = np.random.default_rng(0).exponential(1, bs.size) * (np.random.default_rng(1).random(bs.size) < 0.5)
    best = ev.evaluate_ranking(Ranking("oracle", np.argsort(-delta, kind="stable")), delta, bs)
    worst = ev.evaluate_ranking(Ranking("worst", np.argsort(delta, kind="stable")), delta, bs)
    rnd = ev.evaluate_ranking(Ranking("r", np.random.default_rng(2).permutation(bs.size)), delta, bs)
    assert best["auc_vs_oracle"] == pytest.approx(1.0)
    assert worst["auc_vs_oracle"] < rnd["auc_vs_oracle"] < 1.0
    assert best["flips_to_100pct_delta"] == int(np.sum(delta > 0))
    assert best["flips_for_top1pct"] == max(1, int(np.ceil(0.01 * np.sum(delta > 0))))
    assert best["false_positives"] == best["false_negatives"] == 0


def test_bitwise_sampled_on_every_row_is_the_oracle_order(mlp_design):
    from codesign.rank.static import sampled_rank

    design = mlp_design[0]
    ctx = design.rank_context(rows=300)
    full = design.evaluator()
    delta = np.array([full.evaluate([b]).delta_cost for b in range(ctx.bitspace.size)])
    r = sampled_rank(ctx, sample_rows=10_000)  # more than the data: every row
    assert r.info["sample_rows"] == full.n_rows
    np.testing.assert_array_equal(r.info["sample_delta_cost"], delta)
    assert ev.evaluate_ranking(r, delta, ctx.bitspace)["auc_vs_oracle"] == pytest.approx(1.0)
    assert np.all(np.diff(delta[r.order]) <= 0)  # ΔC never rises along the order ...
    zero = r.order[delta[r.order] == 0]  # ... and the bits it cannot separate follow the bitwise score
    from codesign.rank.static import bitwise_scores

    assert np.all(np.diff(bitwise_scores(ctx)[zero]) <= 0)

    small = sampled_rank(ctx, sample_rows=60)
    assert small.info["sample_rows"] <= 60  # mispredict keeps the sample's correctly classified rows
    assert sorted(small.order.tolist()) == list(range(ctx.bitspace.size))
    np.testing.assert_array_equal(small.order, sampled_rank(ctx, sample_rows=60).order)  # seeded
    assert not np.array_equal(small.info["sample_delta_cost"], delta)


def test_partial_ranking_has_false_negatives_and_flat_curve(qnet):
    bs = qnet.bitspace
    delta = np.zeros(bs.size)
    delta[:10] = 1.0
    r = Ranking("partial", np.arange(5))
    row = ev.evaluate_ranking(r, delta, bs)
    assert row["false_negatives"] == 5 and row["flips_to_100pct_delta"] is None
    assert ev.curve(r, delta, bs.size)[-1] == 5.0


def test_monoscore_equals_the_definition(qnet):
    bs = qnet.bitspace
    rng = np.random.default_rng(0)
    delta = np.round(rng.exponential(1, bs.size), 1)
    delta[rng.random(bs.size) < 0.1] = np.nan  # bits the oracle skipped are left out
    pos = bit_columns(bs)["position"]
    fast = ev.monoscores(delta, bs)
    ok = np.flatnonzero(~np.isnan(delta))
    for b in rng.choice(ok, 40, replace=False):
        score = 0
        for d in ok:
            x, y = pos[b], pos[d]  # smaller position = more significant
            if x == y:
                continue
            if x < y:
                score += 1 if delta[b] >= delta[d] else -1
            else:
                score += 1 if delta[b] <= delta[d] else -1
        assert fast[b] == pytest.approx(score / len(ok))


def test_monotonicity_exception_rates_equal_brute_force(qnet):
    bs = qnet.bitspace
    rng = np.random.default_rng(5)
    delta = np.round(rng.exponential(1, bs.size), 1) * (rng.random(bs.size) < 0.7)
    cols = bit_columns(bs)
    pos, param = cols["position"], cols["param"]
    intra = inter = 0
    for b in range(bs.size):
        lower = pos > pos[b]
        intra += np.any(delta[lower & (param == param[b])] > delta[b])
        inter += np.any(delta[lower & (param != param[b])] > delta[b])
    got = ev.monotonicity_exceptions(delta, bs)
    assert got["intra_exception_rate"] == pytest.approx(intra / bs.size)
    assert got["inter_exception_rate"] == pytest.approx(inter / bs.size)


# --- command line --------------------------------------------------------------------------------------------------


def test_rank_evaluate_inject_cli(mlp_design, tmp_path):
    d, design = mlp_design
    out = tmp_path / "out"
    run = lambda *a: cli(*a, cwd=tmp_path, cache=tmp_path / "cache")  # noqa: E731

    proc = run("evaluate", design, "--out", out)
    assert_user_error(proc, "no oracle", "codesign oracle")
    proc = run("rank", design, "--method", "hessian", "--out", out, "--k-eigen", "4")
    assert proc.returncode == 0, proc.stderr
    with open(out / "net" / "rank" / "hessian" / "rank.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:2] == ["position", "bit"]
    assert sorted(int(r["bit"]) for r in rows) == list(range(len(rows))) and len(rows) == d.qnet.bitspace.size
    assert run("oracle", design, "--out", out).returncode == 0
    proc = run("evaluate", design, "--out", out, "--rankers", "random,msb,priorifi,bitwise,binfi")
    assert proc.returncode == 0, proc.stderr
    with open(out / "net" / "evaluation" / "evaluation.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0])[:5] == ["ranker", "auc_vs_oracle", "spearman", "false_positives", "false_negatives"]
    assert [r["ranker"] for r in table] == ["random", "msb", "priorifi", "bitwise", "binfi_serial"]
    assert all(0 < float(r["auc_vs_oracle"]) <= 1 for r in table)
    for png in ("cumulative_delta_cost.png", "monoscore.png"):
        assert (out / "net" / "evaluation" / png).stat().st_size > 1000

    with open(out / "net" / "oracle" / "oracle.csv") as f:
        oracle = {int(r["bit"]): float(r["delta_cost"]) for r in csv.DictReader(f)}
    proc = run("inject", design, "--level", "sim", "--bits", "0,5,77,200", "--out", tmp_path / "inj.csv")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "inj.csv") as f:
        got = {int(r["bit"]): float(r["delta_cost"]) for r in csv.DictReader(f)}
    assert got == {b: oracle[b] for b in (0, 5, 77, 200)}


@pytest.mark.parametrize("argv, fragments", [
    (["evaluate", "{y}", "--rankers", "random,nope"], ["unknown ranker", "nope"]),
    (["rank", "{y}", "--method", "nope"], ["unknown ranker"]),
    (["rank", "{y}", "--method", "priorifi", "--k", "0"], ["--k"]),
    (["rank", "{y}", "--method", "hessian", "--k-eigen", "-1"], ["--k-eigen"]),
    (["inject", "{y}", "--level", "gate", "--bits", "1", "--out", "{t}/x.csv"], ["unknown level"]),
    (["inject", "{y}", "--bits", "1,99999", "--out", "{t}/x.csv"], ["99999", "outside BitSpace"]),
    (["inject", "{y}", "--out", "{t}/x.csv"], ["--bits", "--sample"]),
    (["inject", "{y}", "--sample", "3", "--flips", "0", "--out", "{t}/x.csv"], ["--flips"]),
])
def test_rank_cli_errors(mlp_design, tmp_path, argv, fragments):
    _, design = mlp_design
    argv = [a.replace("{y}", str(design)).replace("{t}", str(tmp_path)) for a in argv]
    proc = cli(*argv, "--out" if "--out" not in argv else "--samples", tmp_path / "o" if "--out" not in argv else "50",
               cwd=tmp_path, cache=tmp_path / "cache")
    assert_user_error(proc, *fragments)
    assert not (tmp_path / "o").exists() and not (tmp_path / "x.csv").exists()
