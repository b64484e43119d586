"""``codesign`` command line: a thin layer over the use cases (:mod:`codesign.flow`, :mod:`codesign.dse`), one module
per subcommand, each adding its parser (``add``) and running it (``run``).

User errors print one line ``error: ...`` and exit 2; internal bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from codesign.errors import CodesignError

COMMANDS = ("info", "verify", "run", "check", "oracle", "campaign", "rank", "evaluate", "hls", "rtl", "plan", "inject")


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors follow the one-line contract too
        self.exit(2, f"error: {self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    p = _Parser(prog="codesign", description="Fault-tolerant quantized neural networks on chip: QKeras -> bit-exact "
                                             "IR -> simulator / hls4ml / Verilog, with selective TMR")
    p.add_argument("--data-dir", help="directory holding data/ and models/ (default: $CODESIGN_DATA)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"codesign.cli.{name}").add(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    _quiet_tensorflow()
    try:
        return args.func(args)
    except CodesignError as exc:
        # one line, whatever a library put into the message (YAML and OS errors carry newlines)
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
