"""A generated RTL directory as an object: its summary file is written and read here and nowhere else.

:func:`codesign.rtl.generate.write_rtl` returns an :class:`RtlBuild`; Yosys area, equivalence, the fault-site map
and the simulators take one. The summary (``rtl.json``) holds the top module, the source files, the datapath's file
and sha256, the latency in cycles, the port widths, the weight words and the protected bits' digest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from codesign.errors import CodesignError

SUMMARY = "rtl.json"


@dataclass(frozen=True)
class RtlBuild:
    dir: Path
    summary: dict

    @classmethod
    def read(cls, directory) -> "RtlBuild":
        directory = Path(directory).resolve()
        try:
            summary = json.loads((directory / SUMMARY).read_text())
            summary["datapath"]["file"]
        except (OSError, ValueError, KeyError, TypeError):
            raise CodesignError(f"{directory} is not an RTL directory of this codesign version (no readable "
                                f"{SUMMARY} with a datapath); generate it again") from None
        return cls(directory, summary)

    @classmethod
    def of(cls, build) -> "RtlBuild":
        """``build`` itself, or the build read from a directory."""
        return build if isinstance(build, cls) else cls.read(build)

    @staticmethod
    def exists(directory) -> bool:
        return (Path(directory) / SUMMARY).is_file()

    def write(self) -> "RtlBuild":
        """Write the summary into ``dir`` (the generator's last step, inside its atomic directory)."""
        (self.dir / SUMMARY).write_text(json.dumps(self.summary, indent=1))
        return self

    def moved(self, directory) -> "RtlBuild":
        return RtlBuild(Path(directory).resolve(), self.summary)

    @property
    def top(self) -> str:
        return self.summary["top"]

    @property
    def sources(self) -> list[str]:
        return list(self.summary["sources"])

    def paths(self, names=None) -> list[Path]:
        return [self.dir / s for s in (self.sources if names is None else names)]

    @property
    def top_file(self) -> Path:
        return self.dir / self.sources[0]

    @property
    def datapath(self) -> dict:
        return self.summary["datapath"]

    @property
    def latency_cycles(self) -> int:
        return int(self.summary["latency_cycles"])

    @property
    def weight_words(self) -> int:
        return int(self.summary["weight_words"])

    @property
    def protected_bits(self) -> int:
        return int(self.summary["protected_bits"])

    @property
    def protected_sha256(self) -> str:
        return self.summary["protected_sha256"]

    @property
    def design_hash(self) -> str:
        return self.summary.get("design_hash", "")

    @property
    def word_modules(self) -> list[str]:
        return list(self.summary.get("word_modules", []))

    @property
    def output(self) -> dict:
        return self.summary["output"]

    @property
    def weights_image(self) -> Path:
        return self.dir / "weights.hex"
