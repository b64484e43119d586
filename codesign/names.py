"""User-given names (design, layer, tensor) made safe for every place codesign writes them.

One mangling function per target, each **injective** (two names never give the same result) and the identity on
names that are already plain, so ``digits_s`` stays ``digits_s`` everywhere:

- :func:`path_component` — one file or directory name (``out/<design>/``);
- :func:`cpp_ident` — a C++ identifier (hls4ml types and variables are named after layers);
- :func:`verilog_ident` — a Verilog-2001 / SystemVerilog identifier (modules, registers);
- :func:`tcl_word` — one Tcl word (build scripts).

Escaping: a character that is not allowed becomes ``_x<hex code point>_``; an ``_`` followed by ``x`` in the name is
itself escaped (``_x5f_``), so every ``_x`` in a result starts an escape and :func:`unmangle` reads the name back.
A result that would start with a character not allowed first (a digit, a dot) or that is a reserved word (language
keywords, codesign's own primitives ``tmr_ff``/``tmr_vote``, hls4ml's ``myproject``) has its first character
escaped; the empty name is ``_x_``. Every output that holds mangled names also records the user's names
(the RTL summary's ``layers``, the HLS project's ``.codesign-hls.json``).
"""

from __future__ import annotations

import hashlib
import re

from codesign.errors import CodesignError

# Verilog-2005 and SystemVerilog reserved words (the cocotb runner compiles with iverilog -g2012).
VERILOG_KEYWORDS = frozenset("""
always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config deassign default defparam design
disable edge else end endcase endconfig endfunction endgenerate endmodule endprimitive endspecify endtable endtask event
for force forever fork function generate genvar highz0 highz1 if ifnone incdir include initial inout input instance
integer join large liblist library localparam macromodule medium module nand negedge nmos nor noshowcancelled not
notif0 notif1 or output parameter pmos posedge primitive pull0 pull1 pulldown pullup pulsestyle_onevent
pulsestyle_ondetect rcmos real realtime reg release repeat rnmos rpmos rtran rtranif0 rtranif1 scalared
showcancelled signed small specify specparam strong0 strong1 supply0 supply1 table task time tran tranif0 tranif1 tri
tri0 tri1 triand trior trireg unsigned use uwire vectored wait wand weak0 weak1 while wire wor xnor xor
alias always_comb always_ff always_latch assert assume before bind bins binsof bit break byte chandle class clocking
const constraint context continue cover covergroup coverpoint cross dist do endclass endclocking endgroup endinterface
endpackage endprogram endproperty endsequence enum expect export extends extern final first_match foreach forkjoin
iff ignore_bins illegal_bins import inside int interface intersect join_any join_none local logic longint matches
modport new null package packed priority program property protected pure rand randc randcase randsequence ref return
sequence shortint shortreal solve static string struct super tagged this throughout timeprecision timeunit type
typedef union unique var virtual void wait_order wildcard with within
""".split())

CPP_KEYWORDS = frozenset("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class compl
concept const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype default delete do
double dynamic_cast else enum explicit export extern false float for friend goto if inline int long mutable namespace
new noexcept not not_eq nullptr operator or or_eq private protected public register reinterpret_cast requires return
short signed sizeof static static_assert static_cast struct switch template this thread_local throw true try typedef
typeid typename union unsigned using virtual void volatile wchar_t while xor xor_eq final override import module
main std nnet hls ap_fixed ap_ufixed ap_int ap_uint
""".split())

# codesign's own names in generated code: a user's name must never become one of them
PRIMITIVES = frozenset({"tmr_ff", "tmr_vote", "myproject", "myproject_test", "myproject_bridge", "defines",
                        "parameters", "regfile", "codesign_regfile"})

_IDENT_CHAR = re.compile(r"[A-Za-z0-9_]")
_IDENT_FIRST = re.compile(r"[A-Za-z_]")
_PATH_CHAR = re.compile(r"[A-Za-z0-9_.\-]")
_PATH_FIRST = re.compile(r"[A-Za-z0-9_]")
_ESCAPE = re.compile(r"_x([0-9a-f]*)_")
MAX_PATH_COMPONENT = 120  # bytes; longer names keep a readable head and a hash of the whole name


def _mangle(name: str, char_ok, first_ok, reserved: frozenset, fold: bool = False) -> str:
    name = str(name)
    if name == "":
        return "_x_"
    out = []
    for i, ch in enumerate(name):
        literal_escape = ch == "_" and name[i + 1: i + 2] == "x"
        if literal_escape or not char_ok.fullmatch(ch) or (i == 0 and not first_ok.fullmatch(ch)):
            out.append(f"_x{ord(ch):x}_")
        else:
            out.append(ch)
    text = "".join(out)
    if (text.casefold() if fold else text) in reserved:
        text = f"_x{ord(name[0]):x}_" + text[1:]
    return text


def unmangle(text: str) -> str:
    """The user's name back from any of the mangled forms (the long-path hash form excepted)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1) else "", text)


def verilog_ident(name: str) -> str:
    return _mangle(name, _IDENT_CHAR, _IDENT_FIRST, VERILOG_KEYWORDS | PRIMITIVES)


def cpp_ident(name: str) -> str:
    return _mangle(name, _IDENT_CHAR, _IDENT_FIRST, CPP_KEYWORDS | PRIMITIVES)


def path_component(name: str) -> str:
    """A single, harmless directory or file name: never empty, ``.``/``..``, hidden, absolute or with a separator."""
    text = _mangle(name, _PATH_CHAR, _PATH_FIRST, frozenset({"con", "nul", "prn", "aux"}), fold=True)
    if len(text.encode()) > MAX_PATH_COMPONENT:
        digest = hashlib.sha256(str(name).encode()).hexdigest()[:16]
        text = text[: MAX_PATH_COMPONENT - 20] + f"_xh{digest}"
    return text


def tcl_word(text: str) -> str:
    """One Tcl word with the text verbatim: braces, unless the text cannot be braced safely."""
    text = str(text)
    if text and re.fullmatch(r"[A-Za-z0-9_./:\-]+", text):
        return text
    # A control character stays out of the script text: Tcl reads \x1a as the end of a script file.
    if "\\" not in text and _balanced(text) and not text.endswith("\\") and not _CONTROL.search(text):
        return "{" + text + "}"
    quoted = re.sub(r'([\\$\[\]"{}])', r"\\\1", text)
    return '"' + _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted) + '"'


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return False
    return depth == 0


def check_design_name(name) -> str:
    """A design name as given in a design file: a non-empty string (it is mangled wherever it is used)."""
    if isinstance(name, bool) or not isinstance(name, (str, int)):
        raise CodesignError("name must be a string")
    name = str(name)
    if not name.strip():
        raise CodesignError("name must not be empty")
    if "\0" in name:
        raise CodesignError("name must not contain a NUL character")
    if "/" in name or "\\" in name or name.strip() in (".", ".."):
        # a name that reads as a path would surprise (it is mangled to one directory under --out all the same)
        raise CodesignError(f"name {name!r} must not be a path: no '/', '\\', '.' or '..' (it names a directory "
                            "under --out)")
    return name
