"""Amaranth layouts built from the pure-Python payload descriptions of :mod:`rpaccel.layout`.

The description (bit order, widths, signedness) is written once, in the config's contract; this
module only translates it, so the RTL's ports and the testbenches' packing cannot disagree.
"""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from rpaccel.layout import Array, Shape, Signed, Struct, Unsigned

__all__ = ["amaranth_layout"]


def amaranth_layout(desc: Shape):
    """The Amaranth shape of a layout description (``StructLayout``, ``ArrayLayout`` or an
    integer shape)."""
    if isinstance(desc, Unsigned):
        return unsigned(desc.width)
    if isinstance(desc, Signed):
        return signed(desc.width)
    if isinstance(desc, Struct):
        return data.StructLayout({name: amaranth_layout(s) for name, s in desc.fields.items()})
    if isinstance(desc, Array):
        return data.ArrayLayout(amaranth_layout(desc.elem), desc.count)
    raise TypeError(f"not a layout description: {desc!r}")
