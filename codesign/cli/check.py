"""``codesign check``: the CI gate over design points."""

from __future__ import annotations


def add(sub) -> None:
    s = sub.add_parser("check", help="CI gate: exit 1 if a design point fails equivalence, masking or a limit")
    s.add_argument("run_dir", help="`codesign run --out` directory, one design's directory, or its dse/ directory")
    s.set_defaults(func=run)


def run(args) -> int:
    from codesign.check import main_check

    return main_check(args)
