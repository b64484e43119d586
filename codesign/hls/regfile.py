"""hls4ml projects whose on-chip weights live in an injectable register file (``codesign hls``).

What changes from hls4ml's default project: every weight and bias of the BitSpace (QNet's Dense/Conv2D tensors) is a
static array with complete partitioning and no initialiser (``rf_<var>`` in ``firmware/myproject.cpp``), written
one word per call through three extra top-level ports (``load_addr``, ``load_data``, ``load_we``; address map in
:mod:`codesign.hls.layout` and in the generated ``firmware/regfile.h``) and copied — through a 2-of-3 voter for
words with protected bits — into the arrays hls4ml's layer functions read. The weight image is in
``regfile_image.h`` next to the testbench, which the testbench and the C-sim bridge (hls4ml's ``predict``) load
through the same ports before the first inference; nothing under ``firmware/`` holds the weight values.

How it hooks into hls4ml, and why this way: a **writer subclass** (``RegfileVivadoWriter`` / ``RegfileVitisWriter``,
registered with ``hls4ml.writer.register_writer``) run by a **writer flow** (``codesign_regfile_write`` =
``make_stamp`` + our write pass, registered with ``register_flow`` / ``register_pass``), plus ``register_source``
for ``hls_templates/nnet_regfile.h``. Only the written files differ — the graph, the layer templates and the
optimizer passes stay hls4ml's own, so the layer C++ is untouched and the MultiThreshold layer
(:mod:`codesign.hls.multithreshold`) keeps working. A custom backend would have to re-register all of Vivado's
flows, passes and templates under a new name for a change that is purely in the writer; editing installed hls4ml
files is not an option. The writer subclass lets hls4ml write each file, then edits it at marker lines it
generated itself (the top-level signature, the IO pragmas, ``insert layers``, the top-level calls), failing loudly
if hls4ml's output ever stops matching.

Not weights: MultiThreshold thresholds and fixed-point BatchNorm constants stay hls4ml constant arrays under
``firmware/weights/``; like the simulator, BitSpace covers only the quantized layers' weights and biases.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError
from codesign.names import unmangle
from codesign.hls.layout import RegfileLayout
from codesign.hls.extension import TEMPLATES
from codesign.ir.from_keras import check_keras, onchip_part, quiet_stdout, strip_fkeras, to_hls4ml

PROJECT = "myproject"
MARKER = ".codesign-hls.json"
BACKENDS = {"vivado": "Vivado", "vitis": "Vitis"}
FLOW = "codesign_regfile_write"
TB_ROWS = 100  # testbench rows written to tb_data/ (a smoke test for the HLS tool's C simulation)
LOAD_PORTS = ("load_addr", "load_data", "load_we")
_registered = False


@dataclass
class RegfileSpec:
    """What the writer needs besides the hls4ml graph (attached to the graph as ``codesign_regfile``)."""

    layout: RegfileLayout
    arrays: list  # (Block, hls4ml weight variable) in address order
    zero_biases: list = field(default_factory=list)  # bias variables of layers built without a bias
    tb_inputs: np.ndarray | None = None  # float rows for tb_data/, exact input-port values
    tb_outputs: np.ndarray | None = None

    @property
    def register_vars(self) -> set[str]:
        return {v.name for _, v in self.arrays} | {v.name for v in self.zero_biases}


def backend_name(backend: str) -> str:
    name = BACKENDS.get(str(backend).lower())
    if name is None:
        raise CodesignError(f"unknown HLS backend {backend!r}; choose Vivado or Vitis")
    return name


# --- the hls4ml hook ---------------------------------------------------------------------------------------------


def _register():
    global _registered
    if _registered:
        return
    from hls4ml.backends import get_backend
    from hls4ml.model.flow import register_flow
    from hls4ml.model.optimizer import ModelOptimizerPass, register_pass
    from hls4ml.writer import VitisWriter, VivadoWriter, get_writer, register_writer

    header = TEMPLATES / "nnet_regfile.h"
    if not header.is_file():
        raise CodesignError(f"{header} is missing: codesign's HLS templates live in the repository; install it "
                            "from a checkout with `pip install -e .`")

    class RegfileVivadoWriter(_RegfileWriterMixin, VivadoWriter):
        pass

    class RegfileVitisWriter(_RegfileWriterMixin, VitisWriter):
        pass

    class WriteRegfileProject(ModelOptimizerPass):
        def __init__(self):
            self.name = "codesign_regfile_write_hls"

        def transform(self, model):
            get_writer(f"CodesignRegfile{model.config.backend.name}").write_hls(model)
            return False

    for name in BACKENDS.values():
        get_backend(name).register_source(header)
    register_writer("CodesignRegfileVivado", RegfileVivadoWriter)
    register_writer("CodesignRegfileVitis", RegfileVitisWriter)
    register_pass("codesign_regfile_write_hls", WriteRegfileProject)
    register_flow(FLOW, ["make_stamp", "codesign_regfile_write_hls"])
    _registered = True


def _once(text: str, old: str, new: str, what: str, count: int = 1) -> str:
    """Edit hls4ml's output at a place it generated; refuse if hls4ml's output no longer looks as expected."""
    found = text.count(old)
    if found != count:
        raise RuntimeError(f"hls4ml output changed: expected {count} x {what!r} ({old!r}), found {found}")
    return text.replace(old, new)


class _RegfileWriterMixin:
    """Overrides of hls4ml's VivadoWriter steps; ``model.codesign_regfile`` is the :class:`RegfileSpec`."""

    def _files(self, model):
        out = model.config.get_output_dir()
        name = model.config.get_project_name()
        return out, name

    def _io(self, model):
        ins, outs = model.get_input_variables(), model.get_output_variables()
        if len(ins) != 1 or len(outs) != 1:
            raise CodesignError("register-file HLS projects support one input and one output tensor")
        return ins[0], outs[0]

    def _call_args(self, model, suffix=""):
        inp, out = self._io(model)
        return f"{inp.name}{suffix},{out.name}{suffix}"

    # -- firmware ---------------------------------------------------------------------------------------------

    def write_weights(self, model):
        spec = model.codesign_regfile
        out, _ = self._files(model)
        namespace = model.config.get_writer_config().get("Namespace", None)
        write_txt = model.config.get_writer_config().get("WriteWeightsTxt", True)
        for layer in model.get_layers():
            for w in layer.get_weights():
                if w.name not in spec.register_vars:  # datapath constants (thresholds): hls4ml's own headers
                    self.print_array_to_cpp(w, out, namespace=namespace, write_txt_file=write_txt)

    def write_parameters(self, model):
        super().write_parameters(model)
        spec = model.codesign_regfile
        out, _ = self._files(model)
        path = Path(out, "firmware", "parameters.h")
        text = path.read_text()
        for name in sorted(spec.register_vars):
            text = _once(text, f'#include "weights/{name}.h"\n', "", f"weights include of {name}")
        path.write_text(text)

    def write_project_header(self, model):
        super().write_project_header(model)
        out, name = self._files(model)
        path = Path(out, "firmware", f"{name}.h")
        text = path.read_text()
        _, o = self._io(model)
        text = _once(text, '#include "defines.h"\n', '#include "defines.h"\n#include "regfile.h"\n', "defines include")
        sig = f"    {o.definition_cpp(as_reference=True)}\n"
        text = _once(text, sig, sig.rstrip("\n") + ",\n    rf_addr_t load_addr, rf_data_t load_data, bool load_we\n",
                     "top-level signature")
        path.write_text(text)
        Path(out, "firmware", "regfile.h").write_text(_regfile_header(model))

    def write_project_cpp(self, model):
        super().write_project_cpp(model)
        spec = model.codesign_regfile
        out, name = self._files(model)
        path = Path(out, "firmware", f"{name}.cpp")
        text = path.read_text()
        _, o = self._io(model)
        sig = f"    {o.definition_cpp(as_reference=True)}\n"
        text = _once(text, sig, sig.rstrip("\n") + ",\n    rf_addr_t load_addr, rf_data_t load_data, bool load_we\n",
                     "top-level signature")
        text, n = re.subn(r"(\n( *)#pragma HLS INTERFACE ap_vld port=[^\n]*\n)",
                          lambda m: m.group(1) + f"{m.group(2)}#pragma HLS INTERFACE ap_none port="
                                                 f"{','.join(LOAD_PORTS)}\n", text)
        if n != 1:
            raise RuntimeError("hls4ml output changed: no io_parallel interface pragma in the top function")
        if model.config.get_writer_config().get("WriteWeightsTxt", True):
            for _, v in spec.arrays:  # hls4ml's C-sim loader would overwrite the layer operands from text files
                text = _once(text, f"        nnet::load_weights_from_txt<{v.type.name}, {v.data_length}>({v.name}, \"{v.name}.txt\");\n",
                             "", f"txt loader of {v.name}")
            for v in spec.zero_biases:
                text = _once(text, f"        nnet::load_weights_from_txt<{v.type.name}, {v.data_length}>({v.name}, \"{v.name}.txt\");\n",
                             "", f"txt loader of {v.name}")
        text = _once(text, '#include "parameters.h"\n',
                     '#include "parameters.h"\n#include "nnet_utils/nnet_regfile.h"\n', "parameters include")
        text = _once(text, f"void {name}(\n", _storage_cpp(spec) + f"\nvoid {name}(\n", "top-level definition")
        marker = "    // hls-fpga-machine-learning insert layers\n"
        text = _once(text, marker, marker + _operands_cpp(spec), "insert layers marker")
        path.write_text(text)

    # -- testbench and C-sim bridge ----------------------------------------------------------------------------

    def write_test_bench(self, model):
        super().write_test_bench(model)
        spec = model.codesign_regfile
        out, name = self._files(model)
        tb = Path(out, "tb_data")
        if spec.tb_inputs is not None:
            for fname, rows in (("tb_input_features.dat", spec.tb_inputs), ("tb_output_predictions.dat",
                                                                           spec.tb_outputs)):
                (tb / fname).write_text("".join(" ".join(repr(float(v)) for v in r) + "\n" for r in rows))
        path = Path(out, f"{name}_test.cpp")
        text = path.read_text()
        inc = '#include "firmware/nnet_utils/nnet_helpers.h"\n'
        text = _once(text, inc, inc + '#include "regfile_image.h"\n', "testbench helpers include")
        main = "int main(int argc, char **argv) {\n"
        text = _once(text, main, main + "    // the weights reach the registers over the load port, as on chip\n"
                                        "    codesign_load_image();\n", "testbench main")
        call = f"{name}({self._call_args(model)});"
        text = _once(text, call, f"{name}({self._call_args(model)}, 0, 0, false);", "testbench top call", count=2)
        path.write_text(text)
        Path(out, "regfile_image.h").write_text(_image_header(model))

    def write_bridge(self, model):
        super().write_bridge(model)
        spec = model.codesign_regfile
        out, name = self._files(model)
        path = Path(out, f"{name}_bridge.cpp")
        text = path.read_text()
        marker = "// hls-fpga-machine-learning insert bram\n"
        text = _once(text, marker, marker + _bridge_prelude(), "bridge bram marker")
        call = f"    {name}({self._call_args(model, '_ap')});\n"
        text = _once(text, call, f"    codesign_ensure_loaded();\n    {name}({self._call_args(model, '_ap')}, 0, 0, false);\n",
                     "bridge top call", count=2)
        text = text.rstrip()
        if not text.endswith("#endif"):
            raise RuntimeError("hls4ml output changed: the bridge does not end with #endif")
        text = text[: -len("#endif")] + _bridge_api(model, spec) + "\n#endif\n"
        path.write_text(text)


# --- C++ text ------------------------------------------------------------------------------------------------


def _storage_names(block, var, protected: bool) -> list[str]:
    return [f"rf_{var.name}_r{r}" for r in range(3)] if protected else [f"rf_{var.name}"]


def _storage_cpp(spec: RegfileSpec) -> str:
    lay = spec.layout
    lines = ["// ---- codesign weight register file (address map: regfile.h) ----",
             "// Registers, not constants: no initialiser; written only through the load port.",
             "// Some of these arrays are also named by the C-simulation bridge (fault injection).", ""]
    for block, var in spec.arrays:
        prot = lay.block_protected(block)
        for arr in _storage_names(block, var, prot):
            lines.append(f"{var.type.name} {arr}[{block.words}];")
        if prot:
            masks = lay.masks[block.base: block.base + block.words]
            body = ", ".join(f"0x{int(m):x}" for m in masks)
            lines.append("// TMR: bits voted 2-of-3 in each word (the rest read from r0)")
            lines.append(f"static const nnet::rf_word<{var.type.name}>::bits_t tmr_mask_{var.name}[{block.words}] = "
                         f"{{{body}}};")
        lut = _saf_table(lay.qnet, block)
        if lut is not None:
            mask = (1 << block.width) - 1
            lines.append(f"// SAF ({block.segment.type}): stored word pattern -> operand code")
            lines.append(f"static const nnet::rf_word<{var.type.name}>::bits_t saf_{var.name}[{len(lut)}] = "
                         f"{{{', '.join(f'0x{int(v) & mask:x}' for v in lut)}}};")
    params = ", ".join(f"{v.type.name} {v.name}[{v.data_length}]" for v in _operand_vars(spec))
    lines += ["", "// One load-port write (if load_we), then the register contents as the layers' weight operands.",
              f"void codesign_regfile(rf_addr_t load_addr, rf_data_t load_data, bool load_we, {params}) {{",
              "    #pragma HLS INLINE off"]
    for block, var in spec.arrays:
        for arr in _storage_names(block, var, lay.block_protected(block)):
            lines.append(f"    #pragma HLS ARRAY_PARTITION variable={arr} complete")
    for v in _operand_vars(spec):
        lines.append(f"    #pragma HLS ARRAY_PARTITION variable={v.name} complete")
    lines += ["    if (load_we) {", "        const unsigned addr = load_addr;"]
    for k, (block, var) in enumerate(spec.arrays):
        cond = f"addr < {block.base + block.words}"
        lines.append(f"        {'if' if k == 0 else '} else if'} ({cond}) {{")
        for arr in _storage_names(block, var, lay.block_protected(block)):
            lines.append(f"            nnet::rf_word<{var.type.name}>::set({arr}[addr - {block.base}], load_data);")
    if spec.arrays:
        lines.append("        }")
    lines.append("    }")
    for block, var in spec.arrays:
        arrs = _storage_names(block, var, lay.block_protected(block))
        if len(arrs) == 3:
            lines.append(f"    nnet::rf_read_tmr<{var.type.name}, {block.words}>({', '.join(arrs)}, "
                         f"tmr_mask_{var.name}, {var.name});")
        else:
            lines.append(f"    nnet::rf_read<{var.type.name}, {block.words}>({arrs[0]}, {var.name});")
    for block, var in spec.arrays:
        lut = _saf_table(lay.qnet, block)
        if lut is not None:
            lines.append(f"    nnet::rf_saf<{var.type.name}, {block.words}, {len(lut)}>({var.name}, saf_{var.name});")
    for v in spec.zero_biases:
        lines.append(f"    nnet::rf_zero<{v.type.name}, {v.data_length}>({v.name});")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _saf_table(qnet, block):
    """The SAF lookup table of a kernel block, or None."""
    if block.segment.tensor != "kernel":
        return None
    return getattr(qnet.layers[block.segment.layer_index], "kernel_lut", None)


def _operand_vars(spec: RegfileSpec) -> list:
    return [v for _, v in spec.arrays] + list(spec.zero_biases)


def _operands_cpp(spec: RegfileSpec) -> str:
    lines = ["    // weight operands of the layers: the register file's contents (voted where protected)"]
    for v in _operand_vars(spec):
        lines.append(f"    {v.type.name} {v.name}[{v.data_length}];")
        lines.append(f"    #pragma HLS ARRAY_PARTITION variable={v.name} complete")
    args = ", ".join(v.name for v in _operand_vars(spec))
    lines.append(f"    codesign_regfile(load_addr, load_data, load_we{', ' + args if args else ''});")
    return "\n".join(lines) + "\n\n"


def _layout_comment(model) -> str:
    spec = model.codesign_regfile
    lay = spec.layout
    rows = [f"//   {'base':>6} {'words':>6} {'width':>5}  {'type':<28} {'tensor':<32} array(s)"]
    for block, var in spec.arrays:
        t = f"{block.segment.layer}/{block.segment.tensor} {tuple(block.segment.shape)}"
        arrs = ",".join(_storage_names(block, var, lay.block_protected(block)))
        rows.append(f"//   {block.base:>6} {block.words:>6} {block.width:>5}  {str(block.segment.type):<28} {t:<32} {arrs}")
    return "\n".join(rows)


def _regfile_header(model) -> str:
    spec = model.codesign_regfile
    lay = spec.layout
    n_prot = int(lay.protected_bits.size)
    externs = []
    for block, var in spec.arrays:
        for arr in _storage_names(block, var, lay.block_protected(block)):
            externs.append(f"extern {var.type.name} {arr}[{block.words}];")
    return f"""// Weight register file of {lay.qnet.name} (generated by codesign; do not edit).
//
// Load port (extra arguments of the top-level function, ap_none):
//   load_addr  ap_uint<{lay.addr_width}>   word address (0 .. {lay.n_words - 1})
//   load_data  ap_uint<{lay.data_width}>   the word: the element's raw code in its low `width` bits
//                          (two's complement for signed types; higher bits ignored)
//   load_we    bool         1: write load_data at load_addr (all three replicas of a TMR word) before this
//                          call's inference; 0: no write
// Every call runs one inference with the registers as they are after the write; outputs of calls made while
// the image is incomplete are meaningless. Load all {lay.n_words} words once after reset (and again to scrub).
//
// Address map = BitSpace order: tensors in network order (each layer's kernel, then its bias), and inside a
// tensor the flat Keras C-order element index. BitSpace index  offset + e*width + p  (p = 0 is the MSB) is
// word  base + e, bit  width-1-p  (bit 0 = LSB). Storage arrays: rf_<var> (one copy), or rf_<var>_r0/_r1/_r2
// for a tensor with protected bits ({n_prot} in this project): the bits set in tmr_mask_<var>[e] are voted
// 2-of-3, the rest read from r0.
//
{_layout_comment(model)}
#ifndef CODESIGN_REGFILE_H_
#define CODESIGN_REGFILE_H_

#include "ap_int.h"
#include "defines.h"

static const unsigned RF_N_WORDS = {lay.n_words};
static const unsigned RF_ADDR_WIDTH = {lay.addr_width};
static const unsigned RF_DATA_WIDTH = {lay.data_width};
typedef ap_uint<RF_ADDR_WIDTH> rf_addr_t;
typedef ap_uint<RF_DATA_WIDTH> rf_data_t;

// The registers (defined in {model.config.get_project_name()}.cpp); named here for the C-simulation bridge.
{chr(10).join(externs)}

#endif
"""


def _image_header(model) -> str:
    spec = model.codesign_regfile
    lay = spec.layout
    name = model.config.get_project_name()
    image = lay.image()
    ops = _operand_vars(spec)
    params = ", ".join(f"{v.type.name} {v.name}[{v.data_length}]" for v in ops)
    statics = "\n".join(f"    static {v.type.name} {v.name}[{v.data_length}];" for v in ops)
    names = ", ".join(v.name for v in ops)
    body = ",\n".join("    " + ", ".join(f"0x{int(w):x}" for w in image[i: i + 16]) for i in range(0, len(image), 16))
    return f"""// The weight image of {lay.qnet.name}: word a is written at register-file address a (map: firmware/regfile.h).
// Testbench and C-simulation only (included by {name}_test.cpp and {name}_bridge.cpp, never by firmware/):
// the chip receives these words over the load port.
#ifndef CODESIGN_REGFILE_IMAGE_H_
#define CODESIGN_REGFILE_IMAGE_H_

#include "firmware/{name}.h"

static const unsigned long long codesign_rf_image[RF_N_WORDS] = {{
{body}
}};

// One load-port write: the register-file block the top-level function forwards its load port to (codesign_regfile,
// load_we set), without the inference the top would also run — 50 k words must not cost 50 k inferences.
void codesign_regfile(rf_addr_t load_addr, rf_data_t load_data, bool load_we, {params});

inline void codesign_rf_write(unsigned long long addr, unsigned long long word) {{
{statics}
    codesign_regfile(rf_addr_t(addr), rf_data_t(word), true, {names});
}}

inline void codesign_load_image() {{
    for (unsigned a = 0; a < RF_N_WORDS; a++)
        codesign_rf_write(a, codesign_rf_image[a]);
}}

#endif
"""


def _bridge_prelude() -> str:
    return """#include "firmware/nnet_utils/nnet_regfile.h"
#include "regfile_image.h"

// hls4ml's predict() loads the image through the load port before its first inference.
static bool codesign_rf_loaded = false;

inline void codesign_ensure_loaded() {
    if (!codesign_rf_loaded) {
        codesign_load_image();
        codesign_rf_loaded = true;
    }
}
"""


def _bridge_dispatch(spec: RegfileSpec) -> tuple[list[str], list[str]]:
    """The bodies of ``codesign_flip_one`` and ``codesign_peek_one``: an address range per register block."""
    lay = spec.layout
    flips, peeks = [], []
    for k, (block, var) in enumerate(spec.arrays):
        arrs = _storage_names(block, var, lay.block_protected(block))
        head = f"    {'if' if k == 0 else '} else if'} (addr < {block.base + block.words}) {{"
        idx = f"addr - {block.base}"
        flips.append(head)
        peeks.append(head)
        if len(arrs) == 1:
            flips.append(f"        nnet::rf_flip<{var.type.name}>({arrs[0]}[{idx}], bit);")
            peeks.append(f"        return nnet::rf_word<{var.type.name}>::bits({arrs[0]}[{idx}]).to_uint64();")
        else:
            for r, arr in enumerate(arrs):
                flips.append(f"        if (replica < 0 || replica == {r}) nnet::rf_flip<{var.type.name}>({arr}[{idx}], bit);")
            peeks.append(f"        {var.type.name} *r[3] = {{&{arrs[0]}[{idx}], &{arrs[1]}[{idx}], &{arrs[2]}[{idx}]}};")
            peeks.append(f"        return nnet::rf_word<{var.type.name}>::bits(*r[replica < 0 ? 0 : replica]).to_uint64();")
    if spec.arrays:
        flips.append("    }")
        peeks.append("    }")
    return flips, peeks


def _bridge_api(model, spec: RegfileSpec) -> str:
    name = model.config.get_project_name()
    inp, out = model.get_input_variables()[0], model.get_output_variables()[0]
    flips, peeks = _bridge_dispatch(spec)
    return f"""
// ---- codesign C-simulation API (ctypes): fault injection without recompiling ----
// Upsets flip register bits in place (they are not writes); restoring rewrites words through the load port.

namespace nnet {{
template <class T> void rf_flip(T &reg, int bit) {{
    typename rf_word<T>::bits_t b = rf_word<T>::bits(reg);
    b[bit] = !b[bit];
    rf_word<T>::set(reg, b);
}}
}} // namespace nnet

static void codesign_flip_one(long long addr, int bit, int replica) {{
{chr(10).join(flips)}
}}

static unsigned long long codesign_peek_one(long long addr, int replica) {{
{chr(10).join(peeks)}
    return 0;
}}

extern "C" {{

int codesign_rf_words() {{ return RF_N_WORDS; }}

void codesign_rf_load_image() {{
    codesign_load_image();
    codesign_rf_loaded = true;
}}

// Load-port writes of n words (addr[i], data[i]).
void codesign_rf_write_words(const long long *addr, const unsigned long long *data, long long n) {{
    for (long long i = 0; i < n; i++)
        codesign_rf_write(addr[i], data[i]);
    codesign_rf_loaded = true;
}}

// Flip bit[i] (0 = LSB) of word addr[i]; replica[i] = 0, 1, 2 (one copy of a TMR word) or -1 (every copy).
void codesign_rf_flip(const long long *addr, const long long *bit, const long long *replica, long long n) {{
    for (long long i = 0; i < n; i++)
        codesign_flip_one(addr[i], (int)bit[i], (int)replica[i]);
}}

// The raw bits of word addr as stored (replica 0..2 of a TMR word; ignored for a single-copy word).
unsigned long long codesign_rf_peek(long long addr, int replica) {{ return codesign_peek_one(addr, replica); }}

// n inferences on raw input codes x (n x {inp.size_cpp()}); y receives the raw output codes (n x {out.size_cpp()}).
void codesign_predict_codes(const long long *x, unsigned long long *y, long long n) {{
    codesign_ensure_loaded();
    for (long long r = 0; r < n; r++) {{
        {inp.type.name} x_ap[{inp.size_cpp()}];
        for (unsigned i = 0; i < {inp.size_cpp()}; i++)
            nnet::rf_word<{inp.type.name}>::set(x_ap[i], ap_uint<64>((unsigned long long)x[r * ({inp.size_cpp()}) + i]));
        {out.type.name} y_ap[{out.size_cpp()}];
        {name}(x_ap, y_ap, 0, 0, false);
        for (unsigned j = 0; j < {out.size_cpp()}; j++)
            y[r * ({out.size_cpp()}) + j] = nnet::rf_word<{out.type.name}>::bits(y_ap[j]).to_uint64();
    }}
}}
}}
"""


# --- conversion -------------------------------------------------------------------------------------------------


def convert(keras_model, qnet, output_dir: str, backend: str = "Vivado", protected_bits=None,
            tb_inputs: np.ndarray | None = None):
    """hls4ml ModelGraph of ``keras_model`` carrying the :class:`RegfileSpec` its register-file writer needs."""
    from codesign.hls import clip, multithreshold
    from codesign.ir.from_keras import _codes

    backend = backend_name(backend)
    layout = RegfileLayout(qnet, protected_bits)
    keras_model = onchip_part(keras_model)
    check_keras(keras_model)
    _register()
    graph = to_hls4ml(strip_fkeras(keras_model), qnet.input_type, output_dir=output_dir, backend=backend)
    multithreshold.install(graph, qnet)
    clip.install(graph, qnet)
    wc = graph.config.writer_config
    # WriteWeightsTxt stays on (hls4ml's default) for the datapath constants only: C-sim then reads them from
    # firmware/weights/*.txt instead of running ~15k ap_fixed(double) constructors at start-up, which takes g++
    # minutes to compile for a 255-level MultiThreshold; register tensors are dropped from that mechanism.
    wc["WriteTar"] = False  # the tarball would land next to the (temporary) project directory
    arrays, zero_biases = [], []
    for block in layout.blocks:
        seg = block.segment
        var = graph.graph[seg.layer].weights["weight" if seg.tensor == "kernel" else "bias"]
        layer = qnet.layers[seg.layer_index]
        codes = np.asarray(layer.params()[seg.tensor][0]).reshape(-1)
        if seg.tensor == "kernel" and getattr(layer, "kernel_lut", None) is not None:
            codes = None  # a SAF layer stores transformed codes: the Keras weights are not what the registers hold
        # QNet's codes are read from this very graph, element for element; anything else is a conversion bug.
        if var.data_length != block.words or (codes is not None and
                                              not np.array_equal(_codes(var, seg.type).reshape(-1), codes)):
            raise RuntimeError(f"{seg.layer}/{seg.tensor}: hls4ml weight {var.name} differs from QNet")
        arrays.append((block, var))
    for layer in qnet.layers:
        if "kernel" in layer.params() and "bias" not in layer.params():
            zero_biases.append(graph.graph[layer.name].weights["bias"])
    spec = RegfileSpec(layout, arrays, zero_biases)
    if tb_inputs is not None and len(tb_inputs):
        from codesign.sim.forward import forward, quantize_input

        codes = quantize_input(qnet, np.asarray(tb_inputs))
        spec.tb_inputs = qnet.input_type.to_float(codes).reshape(len(codes), -1)
        spec.tb_outputs = qnet.output_type.to_float(forward(qnet, codes)).reshape(len(codes), -1)
    graph.codesign_regfile = spec
    return graph


def write_graph(graph) -> None:
    with quiet_stdout():
        graph.apply_flow(FLOW)


# --- public entry point -----------------------------------------------------------------------------------------


def check_out_dir(out_dir) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CodesignError(f"output path {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise CodesignError(f"output directory {out} exists and is not a codesign HLS project (no {MARKER}); "
                            "choose another --out or remove it")
    return out


def write_project(keras_model, out_dir, backend: str = "Vivado", plan=None, *, qnet=None,
                  tb_inputs: np.ndarray | None = None) -> dict:
    """Write a complete hls4ml project whose weights live in a register file; return its summary.

    ``keras_model``: the QKeras on-chip model; ``qnet`` its QNet (default ``from_keras(keras_model)``; a mitigated
    network when the design has one). ``plan``: a :class:`codesign.protect.plan.Plan` or None; its bits are stored in
    three replicas. ``tb_inputs``: float input rows for ``tb_data/``. An existing ``out_dir`` is replaced only if it
    is empty or a project written by this function.
    """
    from codesign.workspace import atomic_dir

    backend = backend_name(backend)
    out = check_out_dir(out_dir)
    if qnet is None:
        from codesign.ir.from_keras import from_keras

        qnet = from_keras(keras_model)
    bits = None if plan is None else plan.bits_for(qnet)
    with atomic_dir(out) as tmp:
        graph = convert(keras_model, qnet, str(tmp), backend, bits, tb_inputs)
        write_graph(graph)
        summary = _summary(graph, out, backend)
        (tmp / MARKER).write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary


def _summary(graph, out: Path, backend: str) -> dict:
    import hls4ml

    spec = graph.codesign_regfile
    lay = spec.layout
    name = graph.config.get_project_name()
    return {
        "project_dir": str(out), "project_name": name, "backend": backend, "model": lay.qnet.name,
        # C++ layer names that differ from the user's Keras names (codesign.names.cpp_ident), and the user's
        "layer_names": {l.name: unmangle(l.name) for l in lay.qnet.layers if unmangle(l.name) != l.name},
        "design_hash": lay.qnet.fingerprint(), "hls4ml_version": hls4ml.__version__,
        "load_interface": {
            "ports": {"load_addr": f"ap_uint<{lay.addr_width}>", "load_data": f"ap_uint<{lay.data_width}>",
                      "load_we": "bool"},
            "n_words": lay.n_words, "addr_width": lay.addr_width, "data_width": lay.data_width,
            "word": "address = element position in BitSpace segment order (layer order, kernel then bias, flat "
                    "Keras C-order index); data = raw code in the low `width` bits; BitSpace bit position p "
                    "(0 = MSB) is word bit width-1-p (0 = LSB); one word per call with load_we=1",
            "blocks": [{**row, "arrays": _storage_names(b, v, lay.block_protected(b))}
                       for row, (b, v) in zip(lay.table(), spec.arrays)],
        },
        "protection": {"scheme": "tmr" if lay.protected_bits.size else None,
                       "protected_bits": int(lay.protected_bits.size),
                       "protected_words": int(np.count_nonzero(lay.masks))},
        "files": {"top": f"firmware/{name}.cpp", "regfile_header": "firmware/regfile.h",
                  "weight_image": "regfile_image.h", "testbench": f"{name}_test.cpp",
                  "bridge": f"{name}_bridge.cpp", "build": "build_prj.tcl"},
        "testbench_rows": 0 if spec.tb_inputs is None else int(len(spec.tb_inputs)),
        "synthesis": "not run: needs Vivado HLS / Vitis HLS (C-simulation with g++ is what codesign verifies)",
    }
