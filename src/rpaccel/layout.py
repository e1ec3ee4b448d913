"""Payload layouts, described once in pure Python.

A layout says which bits of a stream payload hold which field. The RTL builds its Amaranth
``data.StructLayout`` / ``ArrayLayout`` from these descriptions (:func:`rpaccel.rtl.layouts.
amaranth_layout`), and the testbenches and models pack and unpack payloads through the same
description, so no bit position is written twice.

Fields are laid out in the order given, the first at bit 0 (Amaranth's ``StructLayout`` rule).
Array element ``i`` sits at ``i * element width``.

>>> cmd = Struct([("m", Unsigned(4)), ("k", Signed(3))])
>>> cmd.pack({"m": 5, "k": -1}) == 5 | (0b111 << 4)
True
>>> cmd.unpack(5 | (0b111 << 4))
{'m': 5, 'k': -1}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

__all__ = ["Unsigned", "Signed", "Struct", "Array", "Shape"]


@dataclass(frozen=True, slots=True)
class Unsigned:
    width: int

    def pack(self, v: int) -> int:
        v = int(v)
        if not 0 <= v < (1 << self.width):
            raise ValueError(f"value {v} does not fit an unsigned {self.width}-bit field")
        return v

    def unpack(self, v: int) -> int:
        return v & ((1 << self.width) - 1)


@dataclass(frozen=True, slots=True)
class Signed:
    width: int

    def pack(self, v: int) -> int:
        v = int(v)
        lo, hi = -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1
        if not lo <= v <= hi:
            raise ValueError(f"value {v} does not fit a signed {self.width}-bit field")
        return v & ((1 << self.width) - 1)

    def unpack(self, v: int) -> int:
        v &= (1 << self.width) - 1
        return v - (1 << self.width) if v >> (self.width - 1) else v


class Struct:
    """Named fields, the first at bit 0. ``pack`` takes a mapping (missing fields are 0)."""

    __slots__ = ("fields", "_offsets", "width")

    def __init__(self, fields: list[tuple[str, "Shape"]]) -> None:
        self.fields = dict(fields)
        if len(self.fields) != len(fields):
            raise ValueError("duplicate field names in a Struct layout")
        self._offsets = {}
        off = 0
        for name, shape in self.fields.items():
            self._offsets[name] = off
            off += shape.width
        self.width = off

    def offset(self, name: str) -> int:
        return self._offsets[name]

    def pack(self, values: dict[str, Any]) -> int:
        unknown = set(values) - set(self.fields)
        if unknown:
            raise ValueError(f"unknown payload field(s) {sorted(unknown)}")
        word = 0
        for name, v in values.items():
            word |= self.fields[name].pack(v) << self._offsets[name]
        return word

    def unpack(self, word: int) -> dict[str, Any]:
        return {name: shape.unpack(word >> self._offsets[name])
                for name, shape in self.fields.items()}

    def __repr__(self) -> str:
        return f"Struct({list(self.fields.items())!r})"


class Array:
    """``count`` elements of one shape, element 0 at bit 0."""

    __slots__ = ("elem", "count", "width")

    def __init__(self, elem: "Shape", count: int) -> None:
        self.elem, self.count = elem, count
        self.width = elem.width * count

    def pack(self, values: list[Any]) -> int:
        if len(values) > self.count:
            raise ValueError(f"{len(values)} elements for an array of {self.count}")
        word = 0
        for i, v in enumerate(values):
            word |= self.elem.pack(v) << (i * self.elem.width)
        return word

    def unpack(self, word: int) -> list[Any]:
        return [self.elem.unpack(word >> (i * self.elem.width)) for i in range(self.count)]

    def __repr__(self) -> str:
        return f"Array({self.elem!r}, {self.count})"


Shape = Union[Unsigned, Signed, Struct, Array]
