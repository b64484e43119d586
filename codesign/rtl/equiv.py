"""Formal equivalence of a protected design with the unprotected one (Yosys ``equiv_*``), with no faults.

``equivalence(gold_dir, gate_dir)``: gold = ``write_rtl(qnet, d)``, gate = ``write_rtl(qnet, d2, plan)``. The two
datapaths are normally the same text (the generator makes it independent of the plan; their sha256 are compared),
so the proof is compositional: in each design the datapath instance is cut out (``expose -evert``: its inputs
become outputs to compare, its outputs become shared inputs), and Yosys proves that every output of the remaining
top — the weight words fed to the datapath, ``out_valid``, ``out_data`` — is equal in gold and gate. Equal inputs
into the same datapath text give equal datapath outputs, hence equal top outputs. ``tmr_err`` is excluded (gold ties
it to 0).

Steps, per design: ``proc``, ``flatten`` (after ``setattr -mod -unset keep_hierarchy``, so the TMR replicas and
voters are inlined), ``opt`` (flops with an enable instead of a feedback mux: a much smaller SAT problem), ``expose
-evert`` on the datapath instance, internal names hidden (only ports are paired). Then ``equiv_make`` (``-blacklist``
``tmr_err``), ``equiv_simple``, and ``equiv_induct -seq 1`` on the input cone of each group of ~50 weight ports:
the weights are flops loaded through the port, so they are proven by induction: if gold's words equal the gate's
(voted) words in one cycle, they do in the next. One induction over the whole top is a single SAT problem that
takes minutes (7 min on digits-S); fifty words at a time take under a second each. The claim proven: from any
state in which the weight words agree (e.g. after a full load) the two designs never diverge. Every ``$equiv`` cell
must be proven (``equiv_status``). ``equiv_struct`` is not used: on these designs it pairs some load-decode cells
wrongly and leaves unprovable ``$equiv`` cells behind.

Different datapath texts are not compared (``equivalent`` False, ``datapath_identical`` False): a flat proof through
the multipliers did not finish in 8 minutes even on the small synthetic conv net.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
from pathlib import Path

from codesign.errors import CodesignError
from codesign.rtl.yosys import _blackbox_stub, _run, cache_root, yosys_version

BLACKLIST = ("tmr_err",)
GROUP_WORDS = 50  # weight words per induction (one SAT problem each: small ones are solved much faster) ...
MAX_GROUPS = 100  # ... unless that makes more groups than this (each group's cone selection scans the design)


def _design(rtl_dir) -> dict:
    rtl_dir = Path(rtl_dir).resolve()
    try:
        summary = json.loads((rtl_dir / "rtl.json").read_text())
        dp = summary["datapath"]
        dp_text = (rtl_dir / dp["file"]).read_text()
    except (OSError, ValueError, KeyError):
        raise CodesignError(f"{rtl_dir} is not an RTL directory of this codesign version (no readable rtl.json "
                            "with a datapath); generate it again") from None
    return {"dir": rtl_dir, "top": summary["top"], "dp": dp["module"], "dp_file": dp["file"], "dp_text": dp_text,
            "sha256": hashlib.sha256(dp_text.encode()).hexdigest(),
            "others": [s for s in summary["sources"] if s != dp["file"]], "words": int(summary["weight_words"])}


def _texts(d: dict) -> list[str]:
    return [(d["dir"] / s).read_text() for s in d["others"]]


def _prepare(d: dict, name: str) -> list[str]:
    """Yosys commands that read one design with the datapath as a black box, flatten its top, cut the datapath
    instance out and stash the result as ``name``."""
    files = " ".join(str(d["dir"] / s) for s in d["others"])
    return [f"read_verilog {name}_stub.v; read_verilog {files}", f"hierarchy -top {d['top']}", "proc", "opt_clean",
            "setattr -mod -unset keep_hierarchy", "flatten", "opt", f"expose -evert {d['top']}/u_datapath",
            # only ports are matched (equiv_make pairs public names): an internal alias of an output (a weight
            # register and its datapath port) would be a second $equiv outside the output's input cone
            "opt_clean", f"rename -hide {d['top']}/w:* {d['top']}/x:* %d", "opt_clean", f"design -stash {name}"]


_GOLD_LOCK = threading.Lock()


def _gold_rtlil(d: dict, timeout: float) -> Path:
    """The gold design prepared by :func:`_prepare`, written once as RTLIL and cached under ``$CODESIGN_CACHE/yosys/``
    (keyed by the Yosys version, the preparation script and the design's texts): every design point of a run is
    compared with the same unprotected design, whose preparation is otherwise repeated in each proof."""
    steps = _prepare(d, "gold")[:-1]  # without the stash: the prepared design is written out instead
    key = hashlib.sha256("\n".join([yosys_version(), *steps[1:], d["top"], d["dp"], d["sha256"], *_texts(d)])
                         .encode()).hexdigest()
    path = cache_root() / f"equiv-gold-{key[:32]}.il"
    with _GOLD_LOCK:  # design points proven side by side wait for one preparation instead of repeating it
        if not path.is_file():
            part = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            with tempfile.TemporaryDirectory(prefix="codesign-equiv-") as tmp:
                (Path(tmp) / "gold_stub.v").write_text(_blackbox_stub(d["dp_text"], d["dp"]))
                _run("; ".join(steps + [f"write_rtlil {part}"]), Path(tmp), timeout)
            os.replace(part, path)
    return path


def _status(text: str) -> tuple[int, int, list[str]]:
    found = re.findall(r"Of those cells (\d+) are proven and (\d+) are unproven", text)
    if not found:
        raise CodesignError(f"could not read Yosys' equiv_status output: {text[-300:]!r}")
    unproven = re.findall(r"Unproven \$equiv \S+ (.*)", text)
    return sum(int(a) for a, _ in found), sum(int(b) for _, b in found), unproven


def _groups(n_words: int) -> list[list[str]]:
    """Address groups of GROUP_WORDS (whole tens; more when that makes over MAX_GROUPS groups), as glob patterns on
    the port names ``u_datapath.wd<a>``."""
    tens = -(-n_words // 10)
    per = max(-(-GROUP_WORDS // 10), -(-tens // MAX_GROUPS))
    return [[f"u_datapath.wd{t}?" if t else "u_datapath.wd?" for t in range(g, min(g + per, tens))]
            for g in range(0, tens, per)]


def equivalence(gold_dir, gate_dir, timeout: float = 1800.0) -> dict:
    """Prove with Yosys that the design in ``gate_dir`` (e.g. a TMR plan) behaves like the one in ``gold_dir`` (the
    unprotected design) when nothing is upset. Returns ``{"equivalent", "method", "proven", "unproven", "seconds",
    "datapath_identical"}`` (``proven``/``unproven``: counts of ``$equiv`` cells; ``equivalent`` is True only when
    proven)."""
    gold, gate = _design(gold_dir), _design(gate_dir)
    identical = gold["sha256"] == gate["sha256"] and gold["dp"] == gate["dp"]
    t0 = time.time()
    out = {"equivalent": False, "proven": 0, "unproven": 0, "datapath_identical": identical}
    if identical and gold["top"] == gate["top"] and _texts(gold) == _texts(gate):
        return {**out, "equivalent": True, "seconds": 0.0,
                "method": "identical RTL text (the same design: nothing to prove)"}
    if not identical:
        return {**out, "method": "not attempted: the datapath texts differ (the proof needs the same datapath; a "
                                 "flat proof through the multipliers does not finish)", "seconds": 0.0}
    groups = _groups(gold["words"])
    method = (f"datapath cut out (identical text), top flattened; equiv_make, equiv_simple, equiv_induct -seq 1 on "
              f"the input cone of each group of datapath weight ports (groups: {len(groups)})")
    with tempfile.TemporaryDirectory(prefix="codesign-equiv-") as tmp:
        tmp = Path(tmp)
        (tmp / "blacklist.txt").write_text("\n".join(BLACKLIST) + "\n")
        (tmp / "gate_stub.v").write_text(_blackbox_stub(gate["dp_text"], gate["dp"]))
        steps = [f"read_rtlil {_gold_rtlil(gold, timeout)}", "design -stash gold"] + _prepare(gate, "gate")
        steps += [f"design -copy-from gold -as gold {gold['top']}", f"design -copy-from gate -as gate {gate['top']}",
                  "equiv_make -blacklist blacklist.txt gold gate equiv", "hierarchy -top equiv", "equiv_simple"]
        for pats in groups:  # one small induction per group of weight words
            sel = " ".join(f"equiv/o:{p}" + (" %u" if i else "") for i, p in enumerate(pats))
            steps.append(f"equiv_induct -seq 1 {sel} %ci*")
        steps += ["equiv_induct -seq 1 equiv/o:* equiv/o:u_datapath.wd* %d %ci*",  # the other outputs
                  "tee -q -o status.txt equiv_status"]
        try:
            _run("; ".join(steps), tmp, timeout)
        except CodesignError as exc:
            if "match" not in str(exc) or "port" not in str(exc):
                raise
            return {**out, "method": f"the interfaces differ ({exc})", "seconds": round(time.time() - t0, 1)}
        proven, unproven, cells = _status((tmp / "status.txt").read_text())
    out.update(equivalent=unproven == 0 and proven > 0, method=method, proven=proven, unproven=unproven,
               seconds=round(time.time() - t0, 1))
    if unproven:
        out["unproven_cells"] = cells[:10]
    return out
