"""Levels: the translations of a QNet that run inputs and take weight upsets, behind one protocol and one registry.

A level is a context manager made from a :class:`Target` (the network, the input codes it evaluates, optionally the
QKeras model, a protection plan, a work directory and level options such as ``simulator``):

- ``predict(codes)``: output codes (int64, ``(rows, *output_shape)``) of input codes, fault-free (``values`` gives
  them as real numbers);
- ``outputs(faults, replica=None)``: the faulty output codes on the target's inputs of each fault (an array of
  BitSpace indices). With a plan, an upset of a protected bit hits TMR replica ``replica`` (0, 1, 2; one for all
  faults or a list with one per fault), or all three replicas when ``replica`` is None.

Built-in levels register themselves (``@register("rtl")``) in the modules named by :data:`BUILTIN`, imported on first
use; a new level (a faster simulator, a gate-level netlist) registers the same way and every caller — ``verify``,
``inject``, the design-space exploration — can use it without a change (think cocotb's ``get_runner(name)``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from codesign.errors import CodesignError

BUILTIN = {"sim": "codesign.sim.level", "hls": "codesign.hls.injection", "hls4ml": "codesign.hls.hls4ml_csim",
           "rtl": "codesign.rtl.level"}
_REGISTRY: dict[str, type] = {}


@dataclass(frozen=True)
class Target:
    qnet: object
    inputs: np.ndarray  # input codes (rows, *input_shape) that ``outputs`` evaluates
    keras_model: object = None
    plan: object = None  # codesign.protect.plan.Plan
    workdir: Path | None = None
    options: dict = field(default_factory=dict, hash=False)


class Level:
    name: ClassVar[str] = ""
    injects: ClassVar[bool] = True  # False: a reference that cannot take upsets

    def __init__(self, target: Target):
        self.target = target
        self.qnet = target.qnet

    def __enter__(self) -> "Level":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass

    def predict(self, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def values(self, codes: np.ndarray) -> np.ndarray:
        """The outputs as real values, ``(rows, outputs)``: what ``verify`` compares exactly with QKeras."""
        return self.qnet.output_type.to_float(self.predict(codes)).reshape(len(codes), -1)

    def outputs(self, faults, replica=None) -> list[np.ndarray]:
        raise CodesignError(f"level {self.name} cannot inject faults")

    # shared by the implementations
    def replicas(self, faults, replica) -> list:
        """One replica (or None) per fault, validated."""
        reps = list(replica) if isinstance(replica, (list, tuple, np.ndarray)) else [replica] * len(faults)
        if len(reps) != len(faults):
            raise CodesignError(f"{len(reps)} replicas for {len(faults)} faults")
        bad = [r for r in reps if r not in (None, 0, 1, 2)]
        if bad:
            raise CodesignError(f"replica must be 0, 1 or 2, not {bad[0]!r}")
        return reps


def register(name: str):
    """Class decorator: make a :class:`Level` available as ``name``."""
    def deco(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return deco


def names() -> list[str]:
    return list(dict.fromkeys([*BUILTIN, *_REGISTRY]))


def get(name: str) -> type:
    if name not in _REGISTRY and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    if name not in _REGISTRY:
        raise CodesignError(f"unknown level {name!r}; choose from {', '.join(names())}")
    return _REGISTRY[name]


def parse(text, allowed=None) -> list[str]:
    """A comma list (or list) of level names, each known."""
    allowed = list(allowed or names())
    levels = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    bad = [lv for lv in levels if lv not in allowed]
    if bad or not levels:
        raise CodesignError(f"unknown level(s) {', '.join(bad) or '(none)'}; choose from {', '.join(allowed)}")
    return levels


def open_level(name: str, target: Target) -> Level:
    return get(name)(target)
