"""The rankers' names (the registry ``codesign rank --method``, ``dse.rankers`` and ``evaluate`` accept)."""

from __future__ import annotations

from codesign.errors import CodesignError

STATIC = ("random", "msb", "gradient", "taylor", "hessian", "bitwise", "bitwise_sampled")
DYNAMIC = ("priorifi", "bitwise_dynamic", "binfi_actual", "binfi_implied", "binfi_serial", "statfi_data_aware",
           "statfi_data_unaware")
ALIASES = {"binfi": "binfi_serial", "statfi": "statfi_data_aware", "msb_to_lsb": "msb"}
RANKERS = STATIC + DYNAMIC


def canonical(name: str) -> str:
    name = ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if name not in RANKERS:
        raise CodesignError(f"unknown ranker {name!r}; choose from {', '.join(RANKERS)}")
    return name


def parse_rankers(text: str | None) -> list[str]:
    if not text:
        return list(RANKERS)
    names = [canonical(t) for t in text.split(",") if t.strip()]
    if not names:
        raise CodesignError("no ranker named")
    return list(dict.fromkeys(names))
