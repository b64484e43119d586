"""Formal equivalence of a protected design with the unprotected one (Yosys ``equiv_*``), with no faults.

``equivalence(gold, gate)``: gold = ``write_rtl(qnet, d)``, gate = ``write_rtl(qnet, d2, plan)`` (both
:class:`codesign.rtl.build.RtlBuild`). The proof
has two compositional steps, both by Yosys:

1. **Word kinds.** A protected word is an instance of a split-word module (one module per width and protected bits,
   listed in the RTL summary as ``word_modules``). Each such module is proven equivalent, on its output ``q`` (``err``
   excluded), to a plain ``W``-bit register loaded on ``en`` (``equiv_induct``: from any state in which the two
   ``q`` agree they agree forever). A module text is proven once and the verdict cached under
   ``$CODESIGN_CACHE/yosys/`` (ECON-T-M bitwise 40 %: 1 710 split words, 6 kinds).
2. **The top.** The gate's top file is split into its split-word module texts (exactly those proven in step 1) and
   the rest; the rest is read with every split-word module replaced by that plain register. Their inputs (clock,
   the word's load enable, ``load_data``) do not depend on their outputs, so substituting an equivalent module
   keeps every top output except ``tmr_err`` (excluded: gold ties it to 0). The substituted gate is then compared
   with gold. The two datapaths are the same text (the generator makes it independent of the plan; their sha256
   are compared), so in each design the datapath instance is cut out (``expose -evert``: its inputs become outputs
   to compare, its outputs become shared inputs), and Yosys proves that every output of the remaining top — the
   weight words fed to the datapath, ``out_valid``, ``out_data`` — is equal in gold and gate.

Why two steps: with the replicas and voters inlined the top proof of ECON-T-M bitwise 40 % took 82 s; with plain
registers in their place it takes 38 s, and the word kinds take well under a second each.

Top-proof steps, per design: ``proc``, ``flatten`` (after ``setattr -mod -unset keep_hierarchy``), ``opt`` (flops
with an enable instead of a feedback mux: a much smaller SAT problem), ``expose -evert`` on the datapath instance,
internal names hidden (only ports are paired). Then ``equiv_make`` (``-blacklist`` ``tmr_err``), ``equiv_simple``,
and ``equiv_induct -seq 1`` on the input cone of each group of ~50 weight ports: the weights are flops loaded through
the port, so they are proven by induction: if gold's words equal the gate's words in one cycle, they do in the next.
One induction over the whole top is a single SAT problem that takes minutes (7 min on digits-S, over 10 min on
ECON-T-M); fifty words at a time take under a second each. The claim proven: from any state in which the weight
words agree (e.g. after a full load) the two designs never diverge. Every ``$equiv`` cell must be proven
(``equiv_status``). ``equiv_struct`` is not used: on these designs it pairs some load-decode cells wrongly and leaves
unprovable ``$equiv`` cells behind.

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
from codesign.rtl.build import RtlBuild
from codesign.rtl.generate import PRIMITIVES as PRIMITIVE_FILES
from codesign.rtl.yosys import _blackbox_stub, _run, cache_root, yosys_version

BLACKLIST = ("tmr_err",)
GROUP_WORDS = 50  # weight words per induction (one SAT problem each: small ones are solved much faster) ...
MAX_GROUPS = 100  # ... unless that makes more groups than this (each group's cone selection scans the design)


def _design(build) -> dict:
    build = RtlBuild.of(build)
    dp = build.datapath
    try:
        dp_text = (build.dir / dp["file"]).read_text()
    except OSError as exc:
        raise CodesignError(f"cannot read the datapath of {build.dir}: {exc.strerror or exc}") from None
    return {"dir": build.dir, "top": build.top, "dp": dp["module"], "dp_file": dp["file"], "dp_text": dp_text,
            "sha256": hashlib.sha256(dp_text.encode()).hexdigest(),
            "others": [s for s in build.sources if s != dp["file"]], "words": build.weight_words,
            "word_modules": build.word_modules}


def _texts(d: dict) -> list[str]:
    return [(d["dir"] / s).read_text() for s in d["others"]]


def _plain_word(name: str, width: int) -> str:
    """What a split-word module must behave like: a ``width``-bit register loaded on ``en`` (no error flag)."""
    return (f"module {name} (\n  input wire clk,\n  input wire en,\n  input wire [{width - 1}:0] d,\n"
            f"  output reg [{width - 1}:0] q,\n  output wire err\n);\n  assign err = 1'b0;\n"
            "  always @(posedge clk) if (en) q <= d;\nendmodule\n")


def _split(d: dict) -> tuple[dict[str, tuple[str, int]], list[tuple[str, str]]]:
    """The design's split-word modules ({name: (text, width of d)}) and its sources with those module texts cut out
    and replaced by :func:`_plain_word` ([(file name, text)]). Cut texts plus the rest are the files exactly."""
    kinds: dict[str, tuple[str, int]] = {}
    sources = []
    for name, text in zip(d["others"], _texts(d)):
        for mod in d["word_modules"]:
            m = re.search(rf"^module {re.escape(mod)} \(.*?^endmodule\n", text, flags=re.S | re.M)
            if m is None:
                continue
            width = re.search(r"^\s*input wire \[(\d+):0\] d,$", m.group(0), flags=re.M)
            if width is None or mod in kinds:
                raise CodesignError(f"{d['dir'] / name}: split-word module {mod} is not in the generator's form; "
                                    "generate the RTL again")
            kinds[mod] = (m.group(0), int(width.group(1)) + 1)
            text = text[:m.start()] + _plain_word(mod, kinds[mod][1]) + text[m.end():]
        sources.append((name, text))
    missing = sorted(set(d["word_modules"]) - set(kinds))
    if missing:
        raise CodesignError(f"{d['dir']}: split-word module {missing[0]} of the RTL summary is not in the sources")
    return kinds, sources


def _word_kinds(kinds: dict[str, tuple[str, int]], primitives: dict[str, str], timeout: float) -> dict[str, dict]:
    """Prove every split-word module equivalent to a plain register of its width (output ``q``; ``err`` excluded),
    by induction. The verdict of a module text is cached; the uncached ones are proven in one Yosys run.
    Returns {module: {"equivalent", "proven", "unproven", "unproven_cells"}}."""
    out, todo = {}, {}
    for mod, (text, width) in kinds.items():
        key = hashlib.sha256("\n".join([yosys_version(), _KIND_SCRIPT, text, _plain_word("word", width),
                                        *(primitives[k] for k in sorted(primitives))]).encode()).hexdigest()
        path = cache_root() / f"equiv-word-{key[:32]}.json"
        if path.is_file():
            out[mod] = json.loads(path.read_text())
        else:
            todo[mod] = (text, width, path)
    if not todo:
        return out
    with tempfile.TemporaryDirectory(prefix="codesign-equiv-") as tmp:
        tmp = Path(tmp)
        (tmp / "blacklist.txt").write_text("err\n")
        for name, text in primitives.items():
            (tmp / name).write_text(text)
        steps = []
        for i, (mod, (text, width, _)) in enumerate(todo.items()):
            (tmp / f"kind{i}.v").write_text(text)
            (tmp / f"plain{i}.v").write_text(_plain_word("word", width))
            steps.append(_KIND_SCRIPT.format(i=i, mod=mod, prims=" ".join(sorted(primitives))))
        _run("; ".join(steps), tmp, timeout)
        for i, (mod, (_, _, path)) in enumerate(todo.items()):
            proven, unproven, cells = _status((tmp / f"status{i}.txt").read_text())
            out[mod] = {"equivalent": unproven == 0 and proven > 0, "proven": proven, "unproven": unproven,
                        "unproven_cells": [f"{mod}: {c}" for c in cells[:10]]}
            part = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            part.write_text(json.dumps(out[mod]))
            os.replace(part, path)
    return out


# one split-word module (kind{i}.v) against a plain register (plain{i}.v, module "word"), with replicas and voter
# inlined; both renamed "word" so that equiv_make pairs their ports
_KIND_SCRIPT = ("design -reset; read_verilog kind{i}.v {prims}; hierarchy -top {mod}; proc; "
                "setattr -mod -unset keep_hierarchy; flatten; opt; rename {mod} word; design -stash gate; "
                "read_verilog plain{i}.v; proc; opt; design -stash gold; "
                "design -copy-from gold -as gold word; design -copy-from gate -as gate word; "
                "equiv_make -blacklist blacklist.txt gold gate equiv; hierarchy -top equiv; equiv_simple; "
                "equiv_induct -seq 1; tee -q -o status{i}.txt equiv_status")


def _prepare(d: dict, name: str, files: list[str]) -> list[str]:
    """Yosys commands that read one design (``files``: its sources but the datapath) with the datapath as a black
    box, flatten its top, cut the datapath instance out and stash the result as ``name``."""
    return [f"read_verilog {name}_stub.v; read_verilog {' '.join(files)}", f"hierarchy -top {d['top']}", "proc",
            "opt_clean", "setattr -mod -unset keep_hierarchy", "flatten", "opt", f"expose -evert {d['top']}/u_datapath",
            # only ports are matched (equiv_make pairs public names): an internal alias of an output (a weight
            # register and its datapath port) would be a second $equiv outside the output's input cone
            "opt_clean", f"rename -hide {d['top']}/w:* {d['top']}/x:* %d", "opt_clean", f"design -stash {name}"]


def _write_sources(sources: list[tuple[str, str]], tmp: Path, name: str) -> list[str]:
    paths = []
    for file, text in sources:
        path = tmp / f"{name}_{file}"
        path.write_text(text)
        paths.append(path.name)
    return paths


_GOLD_LOCK = threading.Lock()


def _gold_rtlil(d: dict, sources: list[tuple[str, str]], timeout: float) -> Path:
    """The gold design prepared by :func:`_prepare` (from ``sources``: split words already substituted), written once
    as RTLIL and cached under ``$CODESIGN_CACHE/yosys/`` (keyed by the Yosys version, the preparation script and the
    design's texts): every design point of a run is compared with the same unprotected design, whose preparation is
    otherwise repeated in each proof."""
    files = [f"gold_{f}" for f, _ in sources]
    steps = _prepare(d, "gold", files)[:-1]  # without the stash: the prepared design is written out instead
    key = hashlib.sha256("\n".join([yosys_version(), *steps[1:], d["top"], d["dp"], d["sha256"],
                                    *(t for _, t in sources)]).encode()).hexdigest()
    path = cache_root() / f"equiv-gold-{key[:32]}.il"
    with _GOLD_LOCK:  # design points proven side by side wait for one preparation instead of repeating it
        if not path.is_file():
            part = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            with tempfile.TemporaryDirectory(prefix="codesign-equiv-") as tmp:
                (Path(tmp) / "gold_stub.v").write_text(_blackbox_stub(d["dp_text"], d["dp"]))
                _write_sources(sources, Path(tmp), "gold")
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


def equivalence(gold, gate, timeout: float = 1800.0) -> dict:
    """Prove with Yosys that the design ``gate`` (e.g. a TMR plan) behaves like ``gold`` (the unprotected design;
    each an :class:`RtlBuild` or its directory) when nothing is upset. Returns ``{"equivalent", "method", "proven",
    "unproven", "seconds", "datapath_identical"}`` (``proven``/``unproven``: counts of ``$equiv`` cells of the top proof, or of the word
    kinds when one of those fails; ``equivalent`` is True only when proven), plus ``word_kinds`` and
    ``word_kind_cells_proven`` when split words were compared."""
    gold, gate = _design(gold), _design(gate)
    identical = gold["sha256"] == gate["sha256"] and gold["dp"] == gate["dp"]
    t0 = time.time()
    out = {"equivalent": False, "proven": 0, "unproven": 0, "datapath_identical": identical}
    if identical and gold["top"] == gate["top"] and _texts(gold) == _texts(gate):
        return {**out, "equivalent": True, "seconds": 0.0,
                "method": "identical RTL text (the same design: nothing to prove)"}
    if not identical:
        return {**out, "method": "not attempted: the datapath texts differ (the proof needs the same datapath; a "
                                 "flat proof through the multipliers does not finish)", "seconds": 0.0}
    kinds_gold, sources_gold = _split(gold)
    kinds_gate, sources_gate = _split(gate)
    primitives = {f: (gate["dir"] / f).read_text() for f in gate["others"] if f in PRIMITIVE_FILES}
    kinds = {**kinds_gold, **kinds_gate}
    verdicts = _word_kinds(kinds, primitives, timeout) if kinds else {}
    out["word_kinds"] = len(kinds)
    out["word_kind_cells_proven"] = sum(v["proven"] for v in verdicts.values())
    failed = [m for m, v in verdicts.items() if not v["equivalent"]]
    if failed:
        out.update(method=f"split-word modules not equivalent to a plain register: {', '.join(failed[:5])}",
                   proven=sum(v["proven"] for v in verdicts.values()),
                   unproven=sum(v["unproven"] for v in verdicts.values()),
                   unproven_cells=[c for m in failed for c in verdicts[m]["unproven_cells"]][:10],
                   seconds=round(time.time() - t0, 1))
        return out
    groups = _groups(gold["words"])
    method = (f"{len(kinds)} split-word module kinds proven equal to plain registers (equiv_induct) and substituted; "
              "datapath cut out (identical text), top flattened; equiv_make, equiv_simple, equiv_induct -seq 1 on "
              f"the input cone of each group of datapath weight ports (groups: {len(groups)})")
    with tempfile.TemporaryDirectory(prefix="codesign-equiv-") as tmp:
        tmp = Path(tmp)
        (tmp / "blacklist.txt").write_text("\n".join(BLACKLIST) + "\n")
        (tmp / "gate_stub.v").write_text(_blackbox_stub(gate["dp_text"], gate["dp"]))
        files = _write_sources(sources_gate, tmp, "gate")
        steps = [f"read_rtlil {_gold_rtlil(gold, sources_gold, timeout)}", "design -stash gold"]
        steps += _prepare(gate, "gate", files)
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
