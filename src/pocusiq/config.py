"""The one config toolkit: typed dataclasses <-> YAML/JSON, ``--set key=value`` overrides, checks.

Every settings file of pocusiq (training configs, gantry plans, benchmark protocols, transducer
profiles) is a tree of dataclasses read and checked here, so that they all fail the same way:
:class:`pocusiq.errors.ConfigError` naming the file and the dotted key.

* :func:`read_config_file` -- parse a YAML (or ``.json``) file; errors name the file.
* :func:`from_dict` -- build a dataclass (recursively) from plain data: unknown keys and wrong
  types raise naming the dotted key (``optim.lr: expected a number, got 'fast'``); values are
  coerced to the field's type (int -> float, integral float -> int, list -> tuple, numeric string
  -> float, nested mappings -> nested dataclasses).
* :func:`to_dict` -- the reverse (tuples become lists, so the result is YAML/JSON-able).
* :func:`apply_overrides` -- ``["optim.lr=1e-4", "name=007"]``: the value is parsed as a YAML
  scalar, except where the field is a string, where the text is kept as given (``name=007`` stays
  ``"007"``).
* :func:`check` -- field checks declared with :func:`setting` (``ge``/``gt``/``le``/``lt``,
  ``choices``, finite numbers; every float must be finite), then each dataclass's own
  ``check_consistency()`` for rules between fields.
* :func:`load` -- all of the above for one file: read, merge over a base, override, build, check.

Why our own and not pydantic/OmegaConf: neither is a dependency; the needs are small (about 250
lines here) and the messages must name the file and key in pocusiq's style.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pocusiq.errors import ConfigError

__all__ = [
    "read_config_file",
    "setting",
    "from_dict",
    "to_dict",
    "apply_overrides",
    "parse_override",
    "deep_merge",
    "check",
    "load",
    "key_error",
]

T = TypeVar("T")


# ---------------------------------------------------------------------------- files
def read_config_file(path: str | os.PathLike[str], what: str = "config file") -> Any:
    """Parse the UTF-8 YAML file ``path`` (JSON if its suffix is ``.json``).

    Args:
        path: the file.
        what: what the file is, for messages (``"plan file"``, ``"protocol file"``).

    Returns:
        The parsed data (a dict for a mapping; None for an empty file).

    Raises:
        ConfigError: naming ``path``, if it is missing, unreadable, not UTF-8, or not valid
            YAML/JSON.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc})") from exc
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc


# ---------------------------------------------------------------------------- errors
def key_error(key: str, detail: str, sep: str = ": ") -> ConfigError:
    """A ConfigError ``"<key><sep><detail>"`` that also carries ``.key`` (the dotted key) and
    ``.detail``, so a caller may present it in its own style (``field 'a.b': ...``)."""
    error = ConfigError(f"{key}{sep}{detail}")
    error.key, error.detail = key, detail
    return error


# ---------------------------------------------------------------------------- declaring checks
def setting(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Sequence[Any] | None = None,
    finite: bool = True,
    doc: str | None = None,
    in_file: bool = True,
) -> Any:
    """A dataclass field with checks run by :func:`check`.

    ``ge``/``gt``/``le``/``lt`` bound a number (or every number of a tuple/list value);
    ``choices`` lists the allowed values; ``finite`` (default) refuses NaN and infinities in
    float values. ``None`` passes every check (use ``X | None`` to allow it). ``in_file=False``
    marks a field set by the program, not by files (not listed among the valid keys).
    """
    metadata = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": tuple(choices) if choices is not None else None,
                "finite": finite, "doc": doc, "in_file": in_file}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# ---------------------------------------------------------------------------- dict -> dataclass
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check/convert ``value`` against the type hint ``hint``; raise ConfigError naming ``where``."""
    if hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors: list[ConfigError] = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(exc)
        if value is None:
            raise key_error(where, "a value is required (got null)")
        raise errors[0] if errors else key_error(where, f"invalid value {value!r}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise key_error(where, f"must be one of {', '.join(repr(a) for a in args)}, got {value!r}")
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise key_error(where, f"expected a mapping, got {type(value).__name__}")
        return from_dict(hint, value, prefix=f"{where}.")
    if origin in (tuple, list, Sequence) or hint in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise key_error(where, f"expected a list, got {value!r}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise key_error(where, f"expected {len(args)} values, got {len(value)}")
            items = [_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_hint = args[0] if args else Any
            items = [_coerce(v, item_hint, f"{where}[{i}]") for i, v in enumerate(value)]
        return list(items) if origin is list or hint is list else tuple(items)
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise key_error(where, f"expected a mapping, got {type(value).__name__}")
        key_hint, val_hint = args if args else (Any, Any)
        return {_coerce(k, key_hint, where): _coerce(v, val_hint, f"{where}.{k}") for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise key_error(where, f"expected true/false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise key_error(where, f"expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise key_error(where, f"expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise key_error(where, f"expected a string, got {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, (str, os.PathLike)):
            raise key_error(where, f"expected a path, got {value!r}")
        return Path(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise key_error(where, f"expected {_type_name(hint)}, got {value!r}")
    return value


def from_dict(cls: type[T], data: Mapping[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data`` (recursively); unknown keys / wrong types -> ConfigError.

    Fields missing from ``data`` keep their defaults; a field without a default must be given.
    Messages name the dotted key (``prefix`` is prepended: ``"model."``).
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in set(data) - set(fields))
    if unknown:
        valid = sorted(n for n, f in fields.items() if f.metadata.get("in_file", True))
        error = ConfigError(f"unknown config key(s) {', '.join(prefix + k for k in unknown)}; valid: {', '.join(valid)}")
        error.key, error.detail = prefix + unknown[0], f"unknown key (valid: {', '.join(valid)})"
        raise error
    missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        error = ConfigError(f"missing config key(s) {', '.join(prefix + k for k in missing)}")
        error.key, error.detail = prefix + missing[0], "missing"
        raise error
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{prefix.rstrip('.')}: {exc}" if prefix else str(exc)) from exc


def to_dict(obj: Any) -> Any:
    """Plain YAML/JSON-able data of a dataclass tree (tuples -> lists, Paths -> strings)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` merged in; nested mappings are merged key by key."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------------------- overrides
def _field_hint(cls: type | None, parts: list[str]) -> Any:
    """The type hint of the dotted field ``parts`` under dataclass ``cls`` (Any when unknown)."""
    hint: Any = cls
    for part in parts:
        target = hint
        if typing.get_origin(target) in (typing.Union, types.UnionType):
            target = next((a for a in typing.get_args(target) if dataclasses.is_dataclass(a)), None)
        if not (isinstance(target, type) and dataclasses.is_dataclass(target)):
            return Any
        hints = _hints(target)
        if part not in hints:
            return Any
        hint = hints[part]
    return hint


def _is_str_hint(hint: Any) -> bool:
    if hint is str:
        return True
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        return rest == [str]
    return False


def parse_override(item: str, cls: type | None = None) -> tuple[list[str], Any]:
    """Split ``"a.b=value"`` into ``(["a", "b"], value)``.

    The value is parsed as a YAML scalar/list/mapping, except for a string field of ``cls``
    (the text is kept as given, so ``name=007`` is ``"007"``, not 7); ``null``, ``~`` or an
    empty value give None.
    """
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key=value or section.key=value")
    key, raw = item.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"override {item!r}: empty key")
    stripped = raw.strip()
    if stripped in ("", "null", "~", "None"):
        return parts, None
    if _is_str_hint(_field_hint(cls, parts)):
        return parts, raw
    try:
        return parts, yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: cannot parse value: {exc}") from exc


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str], cls: type | None = None) -> dict[str, Any]:
    """``data`` (plain dicts) with ``"dotted.key=value"`` overrides applied.

    With ``cls`` (the dataclass ``data`` describes) keys are checked against its fields (an
    unknown key names the override) and string fields keep their text.
    """
    out = deep_merge({}, data)
    for item in overrides:
        parts, value = parse_override(item, cls)
        node: Any = out
        hint: Any = cls
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            known: set[str] | None = None
            target = hint
            if typing.get_origin(target) in (typing.Union, types.UnionType):
                target = next((a for a in typing.get_args(target) if dataclasses.is_dataclass(a)), None)
            if isinstance(target, type) and dataclasses.is_dataclass(target):
                known = {f.name for f in dataclasses.fields(target)}
                hint = _hints(target).get(part, Any)
            else:
                hint = Any
            if known is not None and part not in known:
                what = "key" if last else "section"
                raise ConfigError(
                    f"override {item!r}: unknown config {what} {'.'.join(parts[: depth + 1])!r}; "
                    f"valid: {', '.join(sorted(known))}"
                )
            if isinstance(node, list):  # a list in a schema-free file: "devices.1.profile=..."
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"override {item!r}: {'.'.join(parts[: depth + 1])}: no item {part} "
                                      f"in a list of {len(node)}")
                key: Any = int(part)
            else:
                key = part
            if last:
                node[key] = value
            else:
                child = node[key] if isinstance(node, list) else node.get(key)
                if child is None:
                    child = {}
                if isinstance(child, list):
                    child = list(child)
                elif isinstance(child, Mapping):
                    child = dict(child)
                else:
                    raise ConfigError(f"override {item!r}: {'.'.join(parts[: depth + 1])} is not a section")
                node[key] = child
                node = child
    return out


# ---------------------------------------------------------------------------- checks
def _check_value(value: Any, meta: Mapping[str, Any], where: str) -> None:
    if value is None:
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_value(v, meta, f"{where}[{i}]")
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise key_error(where, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}", " ")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and meta.get("finite", True) and not math.isfinite(value):
        raise key_error(where, f"must be a finite number, got {value}", " ")
    bounds = (("ge", ">=", lambda v, b: v >= b), ("gt", ">", lambda v, b: v > b),
              ("le", "<=", lambda v, b: v <= b), ("lt", "<", lambda v, b: v < b))
    for key, sign, ok in bounds:
        bound = meta.get(key)
        if bound is not None and not ok(value, bound):
            lo = meta.get("ge") if meta.get("ge") is not None else meta.get("gt")
            hi = meta.get("le") if meta.get("le") is not None else meta.get("lt")
            if lo is not None and hi is not None:
                left = "[" if meta.get("ge") is not None else "("
                right = "]" if meta.get("le") is not None else ")"
                raise key_error(where, f"must be in {left}{lo}, {hi}{right}, got {value}", " ")
            raise key_error(where, f"must be {sign} {bound}, got {value}", " ")


def check(obj: Any, prefix: str = "") -> None:
    """Run the :func:`setting` checks of every field of the dataclass tree ``obj``, then each
    dataclass's ``check_consistency()`` (innermost first). Raises ConfigError naming the dotted key."""
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        return
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        where = prefix + f.name
        if not (dataclasses.is_dataclass(value) and not isinstance(value, type)):
            _coerce(value, hints.get(f.name, Any), where)  # the right type (set in code, not read)
        if f.metadata:
            _check_value(value, f.metadata, where)
        elif isinstance(value, float) and not math.isfinite(value):
            raise key_error(where, f"must be a finite number, got {value}", " ")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check(value, where + ".")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                check(v, f"{where}[{i}].")
    consistency = getattr(obj, "check_consistency", None)
    if callable(consistency):
        consistency()


def load(
    cls: type[T],
    path: str | os.PathLike[str] | None = None,
    *,
    what: str = "config file",
    base: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    validate: bool = True,
) -> T:
    """Read ``path`` (or take ``data``), merge it over ``base``, apply ``overrides``, build ``cls``
    and :func:`check` it. Every error names the file (when there is one) and the key."""
    label = f"{path}: " if path is not None else ""
    if path is not None:
        data = read_config_file(path, what)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{label}top level must be a mapping, got {type(data).__name__}")
    merged = deep_merge(base or {}, data)
    try:
        obj = from_dict(cls, merged)
    except ConfigError as exc:
        raise ConfigError(f"{label}{exc}") from exc
    if overrides:
        obj = from_dict(cls, apply_overrides(to_dict(obj), overrides, cls))
    if validate:
        try:
            check(obj)
        except ConfigError as exc:
            raise ConfigError(f"{label}{exc}" if not overrides else str(exc)) from exc
    return obj
