"""What several subcommands share: loading a design with the command line's overrides, its workspace, options."""

from __future__ import annotations

from codesign.errors import CodesignError


def prepared(args, overrides: dict | None = None):
    """The design file of ``args.design`` with ``--samples`` (and ``overrides``) applied, prepared."""
    from codesign import spec
    from codesign.prepare import Prepared

    samples = getattr(args, "samples", None)
    if samples is not None and samples <= 0:
        raise CodesignError("--samples must be a positive integer")
    return Prepared(spec.load(args.design, {"samples": samples, **(overrides or {})}), args.data_dir)


def model_or_design(args):
    """A design file, a Keras .h5 or a zoo name (``info``, ``verify --model``), with ``--input-precision``."""
    from codesign import spec
    from codesign.prepare import Prepared

    source = args.model if getattr(args, "model", None) else args.design
    overrides = {"model.input_precision": getattr(args, "input_precision", None)}
    return Prepared(spec.for_model(source, overrides), args.data_dir)


def workspace(args, p):
    from codesign.workspace import Workspace

    return Workspace(args.out, p.name)


def seed(value, default: int) -> int:
    if value is None:
        return default
    if value < 0:
        raise CodesignError(f"--seed must be a non-negative integer, got {value}")
    return value


def load_plan(path, qnet):
    if not path:
        return None
    from codesign.protect.plan import Plan

    return Plan.load(path, qnet)


def campaign_options(s) -> None:
    s.add_argument("design")
    s.add_argument("--out", default="out")
    s.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    s.add_argument("--scheduler", help="Dask distributed scheduler address, e.g. tcp://host:8786")
    s.add_argument("--samples", type=int, help="evaluate on the first N rows")
    s.add_argument("--weights-only", action="store_true", help="only kernel bits (FKeras' fault space)")


def check_campaign_options(args) -> None:
    from codesign.campaign.runner import check_options

    check_options(args.workers, args.scheduler)


def simulator_option(s, what: str) -> None:
    """``--simulator icarus|verilator`` (checked by argparse: a one-line error, exit 2)."""
    from codesign.rtl.simulators import DEFAULT, names

    s.add_argument("--simulator", choices=names(), metavar="|".join(names()),
                   help=f"RTL simulator of {what} (default: the design's rtl.simulator, else {DEFAULT}; same "
                        "outputs either way)")


def rtl_options(args, spec, needed: bool = True) -> dict:
    """The ``rtl`` level's options from ``--simulator`` and the design's ``rtl:``; the simulator is checked to be
    installed (a one-line error before any work) when ``needed``."""
    options = spec.rtl.options(getattr(args, "simulator", None))
    if needed:
        from codesign.rtl.simulators import get_simulator

        get_simulator(options.get("simulator"))
    return options
