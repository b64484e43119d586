"""``codesign hls``: an hls4ml project whose weights live in an injectable register file."""

from __future__ import annotations

from codesign.cli.common import load_plan, prepared


def add(sub) -> None:
    s = sub.add_parser("hls", help="hls4ml project whose weights live in an injectable register file")
    s.add_argument("design")
    s.add_argument("--out", required=True, help="project directory to write")
    s.add_argument("--backend", default="Vivado", help="Vivado (default) or Vitis")
    s.add_argument("--protect", help="protection plan: protected bits stored as three voted replicas")
    s.add_argument("--samples", type=int, help="testbench rows (default: the first 100)")
    s.set_defaults(func=run)


def run(args) -> int:
    from codesign.hls.regfile import TB_ROWS, backend_name, check_out_dir, write_project

    backend = backend_name(args.backend)
    check_out_dir(args.out)
    p = prepared(args)
    plan = load_plan(args.protect, p.qnet)
    s = write_project(p.model.onchip, args.out, backend=backend, plan=plan, qnet=p.qnet,
                      tb_inputs=p.data.x[:TB_ROWS])
    li = s["load_interface"]
    print(f"{p.name}: hls4ml {s['hls4ml_version']} {s['backend']} project with a weight register file "
          f"({li['n_words']} words, load port {li['addr_width']}-bit address, {li['data_width']}-bit data)")
    prot = s.get("protection") or {}
    if prot.get("protected_bits"):
        print(f"  TMR on {prot['protected_bits']} bits in {prot['protected_words']} words")
    print(f"  written to {s['project_dir']} (synthesis needs Vivado/Vitis HLS; C-sim builds with g++)")
    return 0
