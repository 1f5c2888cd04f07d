"""The engine interface is composed of small capabilities, and both the RocksDB engine
and the test model implement every method of it with the same parameters."""

from __future__ import annotations

import inspect

import pytest
from model import ModelEngine

from manhattan.storage import Engine, RocksEngine
from manhattan.storage.engine import CAPABILITIES


def members(protocol: type) -> dict[str, inspect.Signature]:
    """The methods a Protocol declares (its own and inherited), with signatures."""
    found = {}
    for klass in reversed(protocol.__mro__):
        if klass is object or klass.__name__ in ("Protocol", "Generic"):
            continue
        for name, value in vars(klass).items():
            if inspect.isfunction(value) and not name.startswith("_"):
                found[name] = inspect.signature(value)
    return found


def test_the_engine_is_the_union_of_its_capabilities_and_close() -> None:
    union = {name for capability in CAPABILITIES for name in members(capability)}
    assert set(members(Engine)) == union | {"close"}
    assert all(members(capability) for capability in CAPABILITIES)
    # No method is claimed by two capabilities: each says one thing.
    claimed = [name for capability in CAPABILITIES for name in members(capability)]
    assert len(claimed) == len(set(claimed))


@pytest.mark.parametrize("implementation", [RocksEngine, ModelEngine])
def test_every_engine_method_is_implemented_with_the_same_parameters(implementation) -> None:
    for name, declared in members(Engine).items():
        method = getattr(implementation, name, None)
        assert callable(method), f"{implementation.__name__} lacks {name}"
        got = inspect.signature(method).parameters
        for parameter in declared.parameters.values():
            assert parameter.name in got, f"{implementation.__name__}.{name}: {parameter.name}"
            assert got[parameter.name].kind == parameter.kind, \
                f"{implementation.__name__}.{name}({parameter.name}) is {got[parameter.name].kind}"
            assert (got[parameter.name].default is inspect.Parameter.empty) == \
                (parameter.default is inspect.Parameter.empty), \
                f"{implementation.__name__}.{name}({parameter.name}): default differs"
