"""The HTTP face of a simulator: one provider's API plus the ``/_sim/`` controls."""

from __future__ import annotations

import importlib
import pathlib

from starlette.applications import Starlette

from simulator.common import control_routes
from simulator.state import SimState

# A provider's simulator is a module beside its written contract: simulator/<name>.py and <name>.yaml.
PROVIDERS = tuple(sorted(p.stem for p in pathlib.Path(__file__).parent.glob("*.yaml") if p.with_suffix(".py").exists()))


def provider_module(name: str):
    if name not in PROVIDERS:
        raise ValueError(f"unknown provider {name!r}; expected one of {', '.join(PROVIDERS)}")
    return importlib.import_module(f"simulator.{name}")


def create_app(state: SimState) -> Starlette:
    return Starlette(routes=[*provider_module(state.cfg.provider).routes(state), *control_routes(state)])
