"""Enhancement methods for the benchmark, and the method spec strings that name them.

A method is any callable ``image -> image``: it takes a greyscale ``(H, W)`` numpy image (uint8
in [0, 255] under the default protocol) and must return an image of the same shape and dtype.

Method spec strings (``pocusiq benchmark --method SPEC``)::

    median                       built-in baseline with its default parameters
    median:size=5                built-in with parameters (comma separated key=value; values are
    nlm:h_factor=1.5,patch_size=7   read as YAML scalars: 5 -> int, 0.5 -> float, true, null)
    model:runs/demo/best.safetensors   a trained pocusiq model (``pocusiq.Enhancer.from_checkpoint``)
    mypkg.filters:despeckle      any importable ``module:function`` (dotted attribute allowed)
    mypkg.filters:despeckle:strength=2   ... with keyword parameters
    smooth=median:size=7         any of the above with an explicit label ``smooth`` (the name used
                                 in the CSV and the report; by default the spec itself)

Built-in names: see :data:`pocusiq.benchmark.baselines.BASELINES`. Each resolved method carries a
*fingerprint* that identifies the computation (the spec and parameters; the pocusiq version for
built-ins; the checkpoint's sha256 for models; the bytecode of Python functions), so a resumed
benchmark redoes work whose method changed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pocusiq import __version__
from pocusiq.errors import CheckpointError, ConfigError

__all__ = [
    "Method",
    "RESERVED_NAMES",
    "available_methods",
    "parse_method_spec",
    "parse_params",
    "resolve_methods",
]

ImageFn = Callable[[np.ndarray], np.ndarray]

RESERVED_NAMES: frozenset[str] = frozenset({"target"})
"""Labels a method may not use: ``target`` is the report's high-end reference column."""

_LABEL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Method:
    """A resolved benchmark method.

    Attributes:
        name: label used in the per-image CSV, the summary and the report.
        function: the callable ``image -> image``.
        spec: how it was specified (spec string, or ``python:module.qualname`` for a callable).
        fingerprint: short hex digest identifying the computation (for resuming).
    """

    name: str
    function: ImageFn
    spec: str
    fingerprint: str

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.function(image)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def _code_digest(obj: Any) -> str:
    """Digest of a Python callable's bytecode and constants ("" where there is none).

    Part of the fingerprint of user methods, so that editing a function makes a resumed
    benchmark recompute its results.
    """
    target = obj.func if isinstance(obj, functools.partial) else obj
    code = getattr(target, "__code__", None)
    if code is None:
        call = getattr(type(target), "__call__", None)
        code = getattr(call, "__code__", None)
    if code is None:
        return ""
    return _digest(code.co_code.hex(), repr(code.co_consts), repr(code.co_names))


def available_methods() -> list[str]:
    """Names of the built-in baselines, in the order they are run by default."""
    from pocusiq.benchmark.baselines import BASELINES

    return list(BASELINES)


def parse_params(text: str, spec: str) -> dict[str, Any]:
    """Parse ``"k=v,k2=v2"`` into a dict; values are YAML scalars (int, float, bool, null, str).

    Raises:
        ConfigError: naming ``spec`` if an item is not ``key=value`` or a key repeats.
    """
    params: dict[str, Any] = {}
    if not text.strip():
        return params
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(f"method {spec!r}: parameter {item.strip()!r} is not of the form key=value")
        if key in params:
            raise ConfigError(f"method {spec!r}: parameter {key!r} given twice")
        try:
            parsed = yaml.safe_load(value.strip()) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value.strip()
        if isinstance(parsed, (list, dict)):
            parsed = value.strip()
        params[key] = parsed
    return params


def _bind_params(function: Callable[..., Any], params: dict[str, Any], spec: str, what: str) -> ImageFn:
    """``functools.partial(function, **params)`` after checking the names against its signature."""
    if not params:
        return function
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return functools.partial(function, **params)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    known = [
        name
        for name, p in list(signature.parameters.items())[1:]
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    unknown = [key for key in params if key not in known]
    if unknown and not accepts_any:
        raise ConfigError(
            f"method {spec!r}: unknown parameter(s) {', '.join(map(repr, unknown))} for {what} "
            f"(known: {', '.join(known) or 'none'})"
        )
    return functools.partial(function, **params)


def _split_label(spec: str) -> tuple[str | None, str]:
    """``"label=body"`` -> ``(label, body)`` when ``=`` comes before any ``:``; else ``(None, spec)``."""
    eq = spec.find("=")
    colon = spec.find(":")
    if eq > 0 and (colon < 0 or eq < colon):
        label, body = spec[:eq].strip(), spec[eq + 1 :].strip()
        if _LABEL.match(label) and body:
            return label, body
        raise ConfigError(
            f"method {spec!r}: bad label {label!r} (use letters, digits, '_', '.', '+', '-') or missing method"
        )
    return None, spec


def _model_method(path_text: str, spec: str) -> tuple[ImageFn, str]:
    path = Path(path_text).expanduser()
    if not path_text.strip():
        raise ConfigError(f"method {spec!r}: model: needs a checkpoint path, e.g. model:runs/demo/best.safetensors")
    if not path.is_file():
        raise CheckpointError(f"method {spec!r}: checkpoint {path} not found")
    from pocusiq.atomic import sha256_file

    digest = sha256_file(path)
    try:
        from pocusiq import Enhancer
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"method {spec!r}: pocusiq.Enhancer is not available ({exc})") from exc
    enhancer = Enhancer.from_checkpoint(path)
    return enhancer, _digest("model", digest)


def _import_method(module_name: str, attr_path: str, spec: str) -> Callable[..., Any]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"method {spec!r}: cannot import module {module_name!r} ({exc})") from exc
    obj: Any = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ConfigError(f"method {spec!r}: module {module_name!r} has no attribute {attr_path!r}") from exc
    if not callable(obj):
        raise ConfigError(f"method {spec!r}: {module_name}:{attr_path} is not callable")
    return obj


def parse_method_spec(spec: str, name: str | None = None) -> Method:
    """Resolve a method spec string (see the module docstring) into a :class:`Method`.

    Args:
        spec: e.g. ``"median"``, ``"median:size=5"``, ``"model:runs/demo/best.safetensors"``,
            ``"mypkg.filters:despeckle"``, ``"smooth=median:size=7"``.
        name: label to use; overrides a label written in ``spec``; default: the label in
            ``spec``, else the spec itself.

    Returns:
        The resolved method (a model checkpoint is loaded here).

    Raises:
        ConfigError: unknown built-in name, malformed parameters, unknown parameter names,
            a module or function that cannot be imported, a reserved label.
        CheckpointError: ``model:PATH`` whose file does not exist (or cannot be loaded).
    """
    from pocusiq.benchmark.baselines import BASELINES

    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"method spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    label, body = _split_label(spec)
    head, sep, rest = body.partition(":")
    head = head.strip()
    if head in BASELINES:
        params = parse_params(rest, spec) if sep else {}
        function = _bind_params(BASELINES[head], params, spec, f"built-in method {head!r}")
        canonical = head + (":" + ",".join(f"{k}={params[k]!r}" for k in sorted(params)) if params else "")
        fingerprint = _digest("builtin", __version__, canonical)
    elif head == "model" and sep:
        function, fingerprint = _model_method(rest.strip(), spec)
    elif sep and head:
        attr, sep2, param_text = rest.partition(":")
        if not attr.strip():
            raise ConfigError(f"method {spec!r}: expected module:function after {head!r}")
        target = _import_method(head, attr.strip(), spec)
        params = parse_params(param_text, spec) if sep2 else {}
        function = _bind_params(target, params, spec, f"{head}:{attr.strip()}")
        fingerprint = _digest("import", head, attr.strip(), repr(sorted(params.items())), _code_digest(target))
    else:
        raise ConfigError(
            f"unknown method {body!r}: built-in methods are {', '.join(BASELINES)}; "
            "or give model:PATH (a trained checkpoint) or module:function (an importable callable)"
        )
    final = name or label or spec
    if final in RESERVED_NAMES:
        raise ConfigError(f"method {spec!r}: the name {final!r} is reserved; give another label (LABEL={body})")
    return Method(name=final, function=function, spec=body, fingerprint=fingerprint)


def _callable_method(name: str, function: Callable[..., Any]) -> Method:
    if isinstance(function, Method):
        return Method(name=name, function=function.function, spec=function.spec, fingerprint=function.fingerprint)
    if not callable(function):
        raise TypeError(f"method {name!r}: expected a callable image -> image or a spec string, got {type(function).__name__}")
    target = function.func if isinstance(function, functools.partial) else function
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    spec = f"python:{module}.{qualname}"
    extra = ""
    if isinstance(function, functools.partial):
        extra = repr(sorted(function.keywords.items()))
    return Method(name=name, function=function, spec=spec, fingerprint=_digest("python", spec, extra, _code_digest(function)))


def resolve_methods(methods: Sequence[str | Method] | Mapping[str, str | Callable[..., Any]]) -> list[Method]:
    """Resolve method specs / callables into :class:`Method` objects with unique names.

    Args:
        methods: a sequence of spec strings (or :class:`Method`), or a mapping
            ``name -> spec string | callable``.

    Returns:
        The methods in the given order.

    Raises:
        ConfigError: see :func:`parse_method_spec`; two methods with the same name; no methods.
        TypeError: a mapping value that is neither a string nor callable.
    """
    resolved: list[Method] = []
    if isinstance(methods, Mapping):
        for key, value in methods.items():
            if not isinstance(key, str) or not _LABEL.match(key):
                raise ConfigError(f"method name {key!r}: use letters, digits, '_', '.', '+', '-'")
            if key in RESERVED_NAMES:
                raise ConfigError(f"method name {key!r} is reserved; choose another name")
            if isinstance(value, str):
                resolved.append(parse_method_spec(value, name=key))
            else:
                resolved.append(_callable_method(key, value))
    else:
        if isinstance(methods, str):
            methods = [methods]
        for item in methods:
            resolved.append(item if isinstance(item, Method) else parse_method_spec(item))
    if not resolved:
        raise ConfigError("no methods to benchmark")
    seen: set[str] = set()
    for method in resolved:
        if method.name in seen:
            raise ConfigError(f"method name {method.name!r} given twice; label one of them (LABEL=SPEC)")
        seen.add(method.name)
    return resolved
