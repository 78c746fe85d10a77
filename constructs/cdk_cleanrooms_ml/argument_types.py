"""Check the types of the arguments of public entry points, the way aws-cdk-lib's bindings do.

aws-cdk-lib checks each argument with typeguard 2 and says, at the user's own line,
``type of argument bucket_name must be one of (str, NoneType); got int instead``. This module says
the same for this library's public functions, from their annotations. It is not typeguard itself:
the typeguard that jsii pins (2.13) accepts anything where a jsii interface such as ``iam.IRole`` is
expected (a Protocol that is not runtime-checkable), so ``role=42`` would pass it; and typeguard 3
and 4, which other jsii releases allow, word their errors differently and drop the argument's
name. Everything here is plain Python: no call into jsii.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import functools
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from jsii._reference_map import InterfaceDynamicProxy

P = ParamSpec("P")
R = TypeVar("R")

_NUMBER_TOKEN_MAGNITUDE = 1e280
"""CDK encodes a number token as a float this large (see aws-cdk-lib's encoding.ts)."""


def check_argument_types(function: Callable[P, R]) -> Callable[P, R]:
    """Raise TypeError naming the argument when a call's arguments do not match the annotations."""
    signature = inspect.signature(function)
    hints: dict[str, Any] = {}

    @functools.wraps(function)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        if not hints:
            hints.update(typing.get_type_hints(function))
        for name, value in signature.bind(*args, **kwargs).arguments.items():
            expected = hints.get(name)
            if expected is None:
                continue
            kind = signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                for index, item in enumerate(value):
                    _raise_if_wrong(f"argument {name}[{index}]", item, expected)
            elif kind is inspect.Parameter.VAR_KEYWORD:
                for key, item in value.items():
                    _raise_if_wrong(f"argument {key}", item, expected)
            else:
                _raise_if_wrong(f"argument {name}", value, expected)
        return function(*args, **kwargs)

    return checked


def check_field_types(instance: Any) -> None:
    """The same check for the fields of a dataclass instance (call it from ``__post_init__``)."""
    hints = typing.get_type_hints(type(instance))
    for field in dataclasses.fields(instance):
        _raise_if_wrong(f"argument {field.name}", getattr(instance, field.name), hints[field.name])


def _raise_if_wrong(where: str, value: Any, expected: Any) -> None:
    problem = _problem(where, value, expected)
    if problem is not None:
        raise TypeError(problem)


def _problem(where: str, value: Any, expected: Any) -> str | None:
    """Why ``value`` is not of type ``expected`` (in typeguard 2's words), or None if it is."""
    origin = typing.get_origin(expected)
    if expected is Any:
        return None
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(expected)
        if any(_problem(where, value, member) is None for member in members):
            return None
        # A value of the right outer type is wrong inside (a tag value that is not a str):
        # say where inside, rather than that a dict is not a Mapping.
        for member in members:
            if member is not type(None) and _outer_matches(value, member):
                return _problem(where, value, member)
        names = ", ".join(_type_name(member) for member in members)
        return f"type of {where} must be one of ({names}); got {_actual_type(value)} instead"
    if not _outer_matches(value, expected):
        actual = _actual_type(value)
        return f"type of {where} must be {_type_name(expected)}; got {actual} instead"
    if origin in (collections.abc.Mapping, dict):
        key_type, value_type = typing.get_args(expected) or (Any, Any)
        for key, item in value.items():
            if _problem(where, key, key_type) is not None:
                return (
                    f"type of keys of {where} must be {_type_name(key_type)}; "
                    f"got {_actual_type(key)} instead"
                )
            problem = _problem(f"{where}[{key!r}]", item, value_type)
            if problem is not None:
                return problem
    if origin in (collections.abc.Sequence, list, tuple):
        (item_type, *_) = typing.get_args(expected) or (Any,)
        for index, item in enumerate(value):
            problem = _problem(f"{where}[{index}]", item, item_type)
            if problem is not None:
                return problem
    return None


def _outer_matches(value: Any, expected: Any) -> bool:
    """Whether ``value`` has the outer type of ``expected`` (Mapping for ``Mapping[str, str]``)."""
    if expected is type(None) or expected is None:
        return value is None
    origin = typing.get_origin(expected)
    if origin is not None:
        if origin in (collections.abc.Sequence, list, tuple) and isinstance(value, (str, bytes)):
            return False
        return isinstance(value, origin)
    if _is_jsii_interface(expected):
        return _implements(value, expected)
    if getattr(expected, "_is_protocol", False):
        # Any other Protocol: checked only where it is runtime-checkable, as typeguard does.
        return not getattr(expected, "_is_runtime_protocol", False) or isinstance(value, expected)
    if expected is int:
        # bool is an int to Python, not to anyone who writes `number=True`; a number token is
        # a float.
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and abs(value) >= _NUMBER_TOKEN_MAGNITUDE
        )
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(expected, type) and issubclass(expected, enum.Enum):
        return isinstance(value, expected)
    return isinstance(value, expected)


def _is_jsii_interface(expected: Any) -> bool:
    return bool(getattr(expected, "_is_protocol", False)) and "__jsii_type__" in vars(expected)


def _implements(value: Any, interface: type) -> bool:
    """Whether a jsii object, or a Python object declared with ``@jsii.implements``, is one."""
    if isinstance(value, InterfaceDynamicProxy):
        # What jsii returns for an object of a class Python does not know (an imported role).
        return any(_implements(delegate, interface) for delegate in value._delegates)
    proxy = vars(interface).get("__jsii_proxy_class__")
    if proxy is not None and isinstance(value, proxy()):
        return True
    return any(
        interface in declared.__mro__
        for cls in type(value).__mro__
        for declared in vars(cls).get("__jsii_ifaces__", ())
    )


def _actual_type(value: Any) -> str:
    """The name of ``value``'s type; for a jsii object, of the public class or interface."""
    if isinstance(value, InterfaceDynamicProxy):
        return " + ".join(_actual_type(delegate) for delegate in value._delegates)
    cls = type(value)
    # jsii makes objects of classes Python does not know with a private proxy class:
    # `_BucketBaseProxy` stands for `BucketBase`, `_IRoleProxy` for `IRole`.
    proxied = re.fullmatch(r"_(\w+)Proxy", cls.__qualname__)
    if proxied is not None:
        public = getattr(sys.modules.get(cls.__module__), proxied.group(1), None)
        if isinstance(public, type):
            cls = public
    return _type_name(cls)


def _type_name(expected: Any) -> str:
    """``str``, ``NoneType``, ``aws_cdk.Duration``, ``Mapping[str, str]``: typeguard 2's names."""
    origin = typing.get_origin(expected)
    if origin is not None:
        arguments = ", ".join(_type_name(argument) for argument in typing.get_args(expected))
        return f"{_type_name(origin)}[{arguments}]"
    if expected is None:
        return "NoneType"
    if not isinstance(expected, type):
        return repr(expected)
    module = expected.__module__
    if module in ("builtins", "collections.abc", "typing"):
        return expected.__qualname__
    if module.startswith("cdk_cleanrooms_ml."):
        module = "cdk_cleanrooms_ml"  # the name users import it by
    return f"{module}.{expected.__qualname__}"
