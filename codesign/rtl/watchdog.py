"""Run a simulator command and kill it when its progress files stop changing (a hung Icarus run).

``python -m codesign.rtl.watchdog --stall SECONDS --watch FILE [--watch FILE ...] -- CMD ...``: exits with the
command's status, or 124 after killing a command whose watched files were not modified for SECONDS (or whose
caller died).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

STALLED = 124


def _last_change(paths: list[str], since: float) -> float:
    t = since
    for p in paths:
        try:
            t = max(t, os.stat(p).st_mtime)
        except OSError:
            pass
    return t


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print("usage: watchdog --stall S --watch FILE ... -- CMD", file=sys.stderr)
        return 2
    sep = argv.index("--")
    ap = argparse.ArgumentParser(prog="codesign.rtl.watchdog")
    ap.add_argument("--stall", type=float, required=True)
    ap.add_argument("--watch", action="append", default=[])
    args = ap.parse_args(argv[:sep])
    cmd = argv[sep + 1:]
    start = time.time()
    parent = os.getppid()
    proc = subprocess.Popen(cmd)
    # The parent (the campaign) may be interrupted: take the simulator down with us.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: (proc.kill(), sys.exit(STALLED)))
    while True:
        try:
            return proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != parent:  # the campaign process died (SIGKILL): do not leave a simulator running
            proc.kill()
            proc.wait()
            return STALLED
        if time.time() - _last_change(args.watch, start) > args.stall:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            print(f"watchdog: no progress for {args.stall:g} s, simulator killed", file=sys.stderr)
            return STALLED


if __name__ == "__main__":
    sys.exit(main())
