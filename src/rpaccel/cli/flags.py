"""CLI flags built from a config class's field metadata (help, unit, range, default).

A default or a range is written once, on the config field (:func:`rpaccel.config._param`);
``--help`` shows it, and the config's own validation gives the one-line error. Field ``foo_bar``
becomes ``--foo-bar``; booleans use the field's ``flag`` (``--signed`` sets True,
``--no-dynamic`` sets False); tuples of ints take a comma-separated list; ``float`` and ``str``
fields (study settings) take one value, ``None`` defaults say what they stand for
(``default_text``).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from rpaccel.config import _flag, _is_bool, _is_tuple, config_argv, field_kind, range_text

__all__ = ["add_config_flags", "config_from_args", "config_argv", "parse_int_list"]

#: argparse converters by field kind (:func:`rpaccel.config.field_kind`); a bad value is a
#: one-line error naming the flag.
_TYPES = {"int": int, "float": float, "str": str}


def parse_int_list(name: str, text: str, sep: str = ",") -> tuple[int, ...]:
    what = "comma-separated integers" if sep == "," else f"integers joined by {sep!r}"
    try:
        vals = tuple(int(x) for x in text.lower().split(sep) if x.strip())
    except ValueError:
        raise ValueError(f"{name} must be {what}, got {text!r}") from None
    if not vals:
        raise ValueError(f"{name} must be {what}, got {text!r}")
    return vals


def add_config_flags(p: argparse.ArgumentParser, cls: type, title: str) -> None:
    """One flag per field of ``cls``; required when the field has no default."""
    g = p.add_argument_group(title)
    for f in dataclasses.fields(cls):
        md = f.metadata
        unit = f" [{md['unit']}]" if md.get("unit") else ""
        rng = range_text(f)
        has_default = f.default is not dataclasses.MISSING
        if _is_bool(f):
            negate = _flag(f).startswith("--no-")
            g.add_argument(_flag(f), dest=f.name, action="store_false" if negate else "store_true",
                           default=f.default, help=f"{md.get('help', f.name)} (default {f.default})")
            continue
        dflt = f" (default {f.default})" if has_default else ""
        if _is_tuple(f):
            sep = md.get("sep", ",")
            form = "comma-separated" if sep == "," else f"as A{sep}B"
            g.add_argument(_flag(f), dest=f.name, default=None,
                           help=f"{md.get('help', f.name)}{unit}, {form}"
                                f"{f' (default {sep.join(map(str, f.default))})' if f.default else ''}")
            continue
        kind, optional = field_kind(f)
        if optional and f.default is None:
            dflt = f" (default: {md['default_text']})" if md.get("default_text") else ""
        g.add_argument(_flag(f), dest=f.name, type=_TYPES.get(kind, int),
                       required=not has_default, metavar=md.get("metavar"),
                       default=f.default if has_default else None,
                       help=f"{md.get('help', f.name)}{unit}{', ' + rng if rng else ''}{dflt}")


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    """Build (and so validate) a config from the flags :func:`add_config_flags` added."""
    kw = {}
    for f in dataclasses.fields(cls):
        v = getattr(args, f.name)
        if _is_tuple(f):
            if v is None:
                continue
            v = parse_int_list(_flag(f).lstrip("-"), v, f.metadata.get("sep", ","))
        kw[f.name] = v
    return cls(**kw)


