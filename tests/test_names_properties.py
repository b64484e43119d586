"""Property-based tests (Hypothesis) of the name mangling and the design-file loader (issue #20): any string gives an
identifier that compiles in C++ and Verilog, reads back to the user's name, never collides with another name and
keeps the output tree under --out; any design file is either a spec or one CodesignError."""

import re
import shutil
import subprocess

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from codesign import names
from codesign.errors import CodesignError
from codesign.spec import from_dict, load
from codesign.workspace import Workspace

# Names as users type them, and as adversaries do: anything Unicode, with the characters that broke things weighted in.
NASTY = st.sampled_from(list("-/\\. _x0") + ["_x", "..", "module", "myproject", "tmr_ff", "int", "wire", "\n", "é"])
TEXT = st.one_of(st.text(max_size=30), st.lists(NASTY, max_size=8).map("".join))
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@given(TEXT)
def test_identifiers_are_legal_and_read_back(name):
    for mangle, keywords in ((names.cpp_ident, names.CPP_KEYWORDS), (names.verilog_ident, names.VERILOG_KEYWORDS)):
        ident = mangle(name)
        assert IDENT.fullmatch(ident), ident
        assert ident not in keywords and ident not in names.PRIMITIVES
        assert names.unmangle(ident) == name
        if IDENT.fullmatch(name) and name not in keywords | names.PRIMITIVES and "_x" not in name:
            assert ident == name  # plain names stay as they are


@given(TEXT, TEXT)
def test_mangling_is_injective(a, b):
    for mangle in (names.cpp_ident, names.verilog_ident, names.path_component):
        if a != b:
            assert mangle(a) != mangle(b), (mangle.__name__, a, b)


@given(TEXT)
def test_a_path_component_stays_one_directory_under_out(name):
    comp = names.path_component(name)
    assert comp and comp not in (".", "..") and "/" not in comp and "\\" not in comp and "\0" not in comp
    assert not comp.startswith(".") and len(comp.encode()) <= names.MAX_PATH_COMPONENT


@given(TEXT)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_workspace_never_leaves_out(tmp_path, name):
    try:
        names.check_design_name(name)
    except CodesignError:
        return
    ws = Workspace(tmp_path / "out", name)
    assert ws.root.resolve().parent == (tmp_path / "out").resolve()


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="needs tclsh to read the Tcl words back")
@given(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0\r"), max_size=30))
@example("\x1a")  # Tcl's end-of-script character (found by this test)
@example("a\tb {c}\n$d")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_tcl_words_read_back_verbatim(tmp_path, text):
    """Tcl itself reads the word back as the very text (one word, nothing substituted)."""
    script = tmp_path / "w.tcl"
    script.write_text(f"fconfigure stdout -encoding utf-8\nputs -nonewline [set w {names.tcl_word(text)}]\n",
                      encoding="utf-8")
    proc = subprocess.run(["tclsh", str(script)], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode("utf-8") == text


@pytest.mark.skipif(shutil.which("g++") is None or shutil.which("iverilog") is None,
                    reason="needs g++ and iverilog to compile the generated identifiers")
@given(st.lists(TEXT, min_size=1, max_size=25, unique=True))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_mangled_names_compile(tmp_path, batch):
    """A batch of user names declared side by side compiles as C++ and as Verilog (no clash, no bad token)."""
    cpp = "".join(f"int {names.cpp_ident(n)} = {i};\n" for i, n in enumerate(batch))
    (tmp_path / "n.cpp").write_text(cpp + "int main() { return 0; }\n")
    proc = subprocess.run(["g++", "-std=c++17", "-fsyntax-only", str(tmp_path / "n.cpp")], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    wires = "".join(f"  wire {names.verilog_ident(n)};\n" for n in batch)
    (tmp_path / "n.v").write_text(f"module top;\n{wires}endmodule\n")
    proc = subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "n.vvp"), str(tmp_path / "n.v")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# --- the design-file loader ------------------------------------------------------------------------------------------

SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), TEXT)
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(TEXT, inner, max_size=4)), max_leaves=10)
KEYS = st.sampled_from(["name", "model", "data", "metric", "seed", "samples", "clip", "saf", "dse", "limits",
                        "smaples"])
RAW = st.one_of(VALUE, st.dictionaries(KEYS, VALUE, max_size=8),
                st.fixed_dictionaries({"name": TEXT, "model": st.one_of(VALUE, st.fixed_dictionaries(
                    {"zoo": st.sampled_from(["digits_s", "nope"])})), "metric": VALUE}))


@given(RAW)
@settings(max_examples=300, deadline=None)
def test_any_design_dict_is_a_spec_or_one_user_error(raw):
    try:
        spec = from_dict(raw)
    except CodesignError as exc:
        assert str(exc)
        return
    assert spec.name and spec.metric  # what every command relies on
    assert spec.seed >= 0 and (spec.samples is None or spec.samples >= 1)


@given(st.one_of(st.text(max_size=200), RAW.map(lambda r: yaml.safe_dump(r, allow_unicode=True))))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_design_file_is_a_spec_or_one_user_error(tmp_path, text):
    path = tmp_path / "d.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if "\ud800" not in text else None
    if not path.exists():
        return
    try:
        load(path)
    except CodesignError:
        pass
