"""What the records (msgspec `Struct`s) need beyond msgspec's own: fields kept out of `repr`
or out of equality, and JSON without the fields at their defaults.

Every record is a `msgspec.Struct` rather than a dataclass: Python 3.11 writes and compiles a
dataclass's six methods at every start (~0.8 ms a record, ~24 ms before `infra plan`'s first
Terraform command, plus `inspect` for the dataclasses module), where msgspec builds a record's
class in C. msgspec has no per-field `repr=False` or `compare=False`; a record that needs one
defines `__repr__` (or `__eq__` and `__hash__`) with these.
"""

from __future__ import annotations

import functools
from typing import Any

from msgspec import NODEFAULT, Struct, structs, to_builtins


def shown(record: Struct, *hidden: str) -> str:
    """`record`'s repr without the `hidden` fields (secrets, or values that hold them)."""
    fields = ", ".join(
        f"{name}={getattr(record, name)!r}"
        for name in record.__struct_fields__
        if name not in hidden
    )
    return f"{type(record).__name__}({fields})"


def compared(record: Struct, *ignored: str) -> tuple[Any, ...]:
    """The values `record` is equal and hashed by: its fields but the `ignored` ones."""
    return tuple(getattr(record, name) for name in record.__struct_fields__ if name not in ignored)


@functools.cache
def _fields(kind: type[Struct]) -> tuple[structs.FieldInfo, ...]:
    return structs.fields(kind)  # evaluates the annotations: once per record class


def lean(value: Any) -> Any:
    """`value` in JSON's types, every record without the fields that hold their default: the
    dashboard's state is read back with those defaults, and every byte of it counts against
    GitHub's comment limit."""
    if isinstance(value, Struct):
        data = {}
        for field in _fields(type(value)):
            member = getattr(value, field.name)
            if field.default is not NODEFAULT and member == field.default:
                continue
            if field.default_factory is not NODEFAULT and member == field.default_factory():
                continue
            data[field.encode_name] = lean(member)
        return data
    if isinstance(value, list | tuple):
        return [lean(member) for member in value]
    if isinstance(value, dict):
        return {key: lean(member) for key, member in value.items()}
    return to_builtins(value)
