"""Codecs: how workflow state becomes bytes (caches, checkpoints) and back.

One ``Codec`` protocol and five implementations, chosen live by ``EngineSettings.codec``:

========== ===== ==================================================================
name       safe  notes
========== ===== ==================================================================
json       yes   stdlib; the slow, portable baseline
orjson     yes   Rust JSON; datetimes, dataclasses and str/int subclasses refused
msgpack    yes   C msgpack; ``strict_types`` off so tuples pack as arrays
ormsgpack  yes   Rust msgpack; datetimes, dataclasses, enums, UUIDs refused
pickle     NO    any Python object; never used to read from a shared cache
========== ===== ==================================================================

They encode the workflow's plain data (dicts with str keys, lists, str, int, float, bool, None);
tuples come back as lists. A value a codec cannot represent raises ``CodecError`` naming its type.

``LangGraphSerde(codec)`` adapts a codec to LangGraph's ``SerializerProtocol`` so checkpointers and
caches use the selected codec; values the codec cannot represent (LangGraph's own objects such as
``Send`` in a node's writes, datetimes) fall back to LangGraph's ``JsonPlusSerializer`` under its own
type tag, so a round trip is always exact for them.

Reading is where the danger is: JsonPlus's msgpack ext hook imports and calls whatever module and
name the bytes spell, so a value planted in a shared store (Redis L2, PostgreSQL checkpoints) could
run code. ``LangGraphSerde`` therefore reads JsonPlus's tags with its own ext hook
(``safe_ext_hook``): it builds only the types on ``SAFE_EXT_TYPES`` (``Send`` and a few stdlib
values, each rebuilt by code written here, never by a name from the data) and refuses every other
extension with ``CodecError``; the legacy ``json`` tag is read as plain JSON (no reviver).
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol, runtime_checkable

import msgpack
import orjson
import ormsgpack
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from core.errors import CodecError

__all__ = [
    "CODEC_NAMES",
    "SAFE_EXT_TYPES",
    "Codec",
    "CodecError",
    "LangGraphSerde",
    "get_codec",
    "safe_ext_hook",
]


@runtime_checkable
class Codec(Protocol):
    """Turns plain data into bytes and back. ``safe`` is False only when decoding can run code."""

    name: str
    safe: bool

    def encode(self, obj: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


def _type_in(exc: BaseException, obj: Any) -> str:
    """Best name of the type that could not be encoded: from the library's message, else the root."""
    msg = str(exc)
    # orjson/ormsgpack: "Type is not JSON serializable: set"; json: "Object of type set is not ..."
    for marker in ("serializable: ", "Object of type ", "can not serialize '", "cannot pickle '"):
        if marker in msg:
            tail = msg.split(marker, 1)[1]
            return tail.split(" ", 1)[0].strip("'\"")
    return type(obj).__name__


def _encode_error(codec: str, exc: BaseException, obj: Any) -> CodecError:
    return CodecError(f"{codec} cannot encode a value of type {_type_in(exc, obj)!r}: {exc}")


def _decode_error(codec: str, exc: BaseException) -> CodecError:
    return CodecError(f"{codec} cannot decode these bytes ({type(exc).__name__}): {exc}")


class JsonCodec:
    """Standard-library JSON (UTF-8, compact separators)."""

    name: str = "json"
    safe: bool = True

    def encode(self, obj: Any) -> bytes:
        try:
            return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        except (TypeError, ValueError, RecursionError) as e:
            raise _encode_error(self.name, e, obj) from e

    def decode(self, data: bytes) -> Any:
        try:
            return json.loads(data)
        except (ValueError, TypeError, RecursionError) as e:
            raise _decode_error(self.name, e) from e


class OrjsonCodec:
    """orjson; types it would silently flatten (datetime, dataclass, subclasses) are refused."""

    name: str = "orjson"
    safe: bool = True
    _OPTS: Final = (
        orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
    )

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, option=self._OPTS)
        except (TypeError, orjson.JSONEncodeError) as e:
            raise _encode_error(self.name, e, obj) from e

    def decode(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise _decode_error(self.name, e) from e


class MsgpackCodec:
    """msgpack (C extension); bytes stay bytes, strings are UTF-8."""

    name: str = "msgpack"
    safe: bool = True

    def encode(self, obj: Any) -> bytes:
        try:
            return msgpack.packb(obj, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as e:
            raise _encode_error(self.name, e, obj) from e

    def decode(self, data: bytes) -> Any:
        try:
            # strict_map_key=False: checkpoint dicts may have int keys, which msgpack keeps exact.
            return msgpack.unpackb(data, raw=False, strict_map_key=False)
        except (ValueError, TypeError, msgpack.UnpackException) as e:
            raise _decode_error(self.name, e) from e


class OrmsgpackCodec:
    """ormsgpack; the non-plain types it knows natively are refused so round trips stay exact."""

    name: str = "ormsgpack"
    safe: bool = True
    _OPTS: Final = (
        ormsgpack.OPT_PASSTHROUGH_DATETIME
        | ormsgpack.OPT_PASSTHROUGH_DATACLASS
        | ormsgpack.OPT_PASSTHROUGH_SUBCLASS
        | ormsgpack.OPT_PASSTHROUGH_ENUM
        | ormsgpack.OPT_PASSTHROUGH_UUID
    )

    def encode(self, obj: Any) -> bytes:
        try:
            return ormsgpack.packb(obj, option=self._OPTS)
        except (TypeError, ormsgpack.MsgpackEncodeError) as e:
            raise _encode_error(self.name, e, obj) from e

    def decode(self, data: bytes) -> Any:
        try:
            return ormsgpack.unpackb(data)
        except (ormsgpack.MsgpackDecodeError, TypeError, ValueError) as e:
            raise _decode_error(self.name, e) from e


class PickleCodec:
    """pickle (highest protocol). Unsafe: decoding can run code, so shared caches refuse it."""

    name: str = "pickle"
    safe: bool = False

    def encode(self, obj: Any) -> bytes:
        try:
            return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as e:
            raise _encode_error(self.name, e, obj) from e

    def decode(self, data: bytes) -> Any:
        try:
            return pickle.loads(data)
        except Exception as e:  # pickle raises nearly anything on bad input
            raise _decode_error(self.name, e) from e


_CODECS: dict[str, Codec] = {
    c.name: c for c in (JsonCodec(), OrjsonCodec(), MsgpackCodec(), OrmsgpackCodec(), PickleCodec())
}
CODEC_NAMES: tuple[str, ...] = tuple(_CODECS)


def get_codec(name: str) -> Codec:
    """The shared codec instance called ``name``.

    >>> get_codec("orjson").decode(get_codec("orjson").encode({"a": [1, 2.5]}))
    {'a': [1, 2.5]}
    """
    try:
        return _CODECS[name]
    except KeyError:
        raise CodecError(f"unknown codec {name!r}; one of {list(CODEC_NAMES)}") from None


# ---- reading JsonPlus's msgpack extensions without importing anything the data names -------------
# JsonPlus ext codes (langgraph.checkpoint.serde.jsonplus): 0 = ctor(arg), 1 = ctor(*args),
# 2 = ctor(**kwargs), 3 = cls.method(arg). The payload is (module, name, args[, method]).
_EXT_ONE, _EXT_POS, _EXT_KW, _EXT_METHOD = 0, 1, 2, 3


def _send(args: Any) -> Any:
    from langgraph.types import Send

    node, arg, *rest = args
    if not isinstance(node, str):
        raise TypeError("Send node must be a str")
    return Send(node, arg) if not rest or rest[0] is None else Send(node, arg, timeout=rest[0])


def _timedelta(args: Any) -> dt.timedelta:
    days, seconds, micros = args
    return dt.timedelta(days=int(days), seconds=int(seconds), microseconds=int(micros))


def _timezone(args: Any) -> dt.timezone:
    offset, *name = args
    td = offset if isinstance(offset, dt.timedelta) else dt.timedelta(seconds=float(offset))
    return dt.timezone(td, *[str(n) for n in name])


def _fromiso(cls: type[Any]) -> Callable[[Any], Any]:
    def build(arg: Any) -> Any:
        if not isinstance(arg, str):
            raise TypeError(f"{cls.__name__}.fromisoformat needs a str")
        return cls.fromisoformat(arg)

    return build


def _container(cls: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def build(arg: Any) -> Any:
        if not isinstance(arg, list | tuple):
            raise TypeError("a container needs a list")
        return cls(arg)

    return build


SAFE_EXT_TYPES: Final[dict[tuple[int, str, str], Callable[[Any], Any]]] = {
    # exactly what our state and LangGraph's node cache/checkpoints carry: Send packets (the
    # fan-out edge), and the stdlib values LangGraph puts in checkpoint metadata
    (_EXT_POS, "langgraph.types", "Send"): _send,
    (_EXT_ONE, "builtins", "set"): _container(set),
    (_EXT_ONE, "builtins", "frozenset"): _container(frozenset),
    (_EXT_ONE, "collections", "deque"): _container(deque),
    (_EXT_METHOD, "datetime", "datetime"): _fromiso(dt.datetime),
    (_EXT_POS, "datetime", "date"): lambda a: dt.date(*(int(x) for x in a)),
    (_EXT_POS, "datetime", "timedelta"): _timedelta,
    (_EXT_POS, "datetime", "timezone"): _timezone,
}
"""(ext code, module, name) -> a builder written here. Anything else in the data is refused."""


def safe_ext_hook(code: int, data: bytes) -> Any:
    """ormsgpack ``ext_hook`` for JsonPlus data that builds only ``SAFE_EXT_TYPES``.

    >>> import ormsgpack
    >>> bad = ormsgpack.Ext(0, ormsgpack.packb(["os", "system", "true"]))
    >>> ormsgpack.unpackb(ormsgpack.packb(bad), ext_hook=safe_ext_hook)
    Traceback (most recent call last):
    ...
    core.errors.CodecError: refusing to build 'os.system' (msgpack extension 0): not an allowed type
    """
    try:
        tup = ormsgpack.unpackb(data, ext_hook=safe_ext_hook, option=ormsgpack.OPT_NON_STR_KEYS)
    except ormsgpack.MsgpackDecodeError as e:
        raise CodecError(f"bad msgpack extension payload: {e}") from e
    if not isinstance(tup, list | tuple) or len(tup) < 3:
        raise CodecError(f"msgpack extension {code} has no (module, name, args) payload")
    module, name, args = tup[0], tup[1], tup[2]
    if code == _EXT_METHOD and not (len(tup) == 4 and tup[3] == "fromisoformat"):
        raise CodecError(f"refusing to call a method of {module}.{name} (msgpack extension {code})")
    build = SAFE_EXT_TYPES.get((code, str(module), str(name)))
    if build is None:
        raise CodecError(
            f"refusing to build '{module}.{name}' (msgpack extension {code}): not an allowed type"
        )
    try:
        return build(args)
    except (TypeError, ValueError, OverflowError) as e:
        raise CodecError(f"bad {module}.{name} value in msgpack extension: {e}") from e


def _safe_jsonplus() -> JsonPlusSerializer:
    # The writer is JsonPlus's own (exact for Send etc.); the reader is our hook.
    return JsonPlusSerializer(pickle_fallback=False, __unpack_ext_hook__=safe_ext_hook)


_TAG_PREFIX: Final = "ro."
# Tags JsonPlusSerializer writes itself; kept as they are so old checkpoints still load.
_JSONPLUS_TAGS: Final = frozenset({"null", "bytes", "bytearray", "json", "msgpack", "pickle"})


class LangGraphSerde:
    """LangGraph ``SerializerProtocol`` over a ``Codec``, with an exact fallback for other values.

    Plain data is written as ``("ro.<codec>", bytes)``; None, bytes and anything the codec refuses
    go to ``JsonPlusSerializer(pickle_fallback=False)`` under its own tags. On read, the tag picks
    the decoder, so data written under another codec still loads. ``allow_pickle`` (default: only
    when the codec itself is pickle) guards ``ro.pickle`` reads; shared caches pass False.

    >>> serde = LangGraphSerde(get_codec("ormsgpack"))
    >>> serde.loads_typed(serde.dumps_typed({"q": "x"}))
    {'q': 'x'}
    """

    def __init__(
        self, codec: Codec, *, allow_pickle: bool | None = None, fallback: JsonPlusSerializer | None = None
    ) -> None:
        self.codec = codec
        self.tag = _TAG_PREFIX + codec.name
        self.allow_pickle = (not codec.safe) if allow_pickle is None else allow_pickle
        self.fallback = fallback or _safe_jsonplus()

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if obj is not None and not isinstance(obj, bytes | bytearray):
            try:
                return self.tag, self.codec.encode(obj)
            except CodecError:
                pass  # not plain data (e.g. a Send in a node's writes): JsonPlus keeps it exact
        try:
            return self.fallback.dumps_typed(obj)
        except Exception as e:
            raise CodecError(f"cannot serialize a value of type {type(obj).__name__!r}: {e}") from e

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        type_, payload = data
        if type_.startswith(_TAG_PREFIX):
            codec = get_codec(type_[len(_TAG_PREFIX) :])
            if not codec.safe and not self.allow_pickle:
                raise CodecError(f"refusing to decode {type_!r} data: {codec.name} is not a safe codec")
            return codec.decode(payload)
        if type_ == "json":  # legacy JsonPlus JSON: plain data only, no reviver
            return get_codec("json").decode(payload)
        if type_ == "pickle" and not self.allow_pickle:
            raise CodecError("refusing to decode 'pickle' data from this store")
        if type_ in _JSONPLUS_TAGS:
            try:
                return self.fallback.loads_typed((type_, payload))
            except CodecError:
                raise
            except Exception as e:
                raise CodecError(f"cannot decode {type_!r} data: {e}") from e
        raise CodecError(f"unknown serialized type tag {type_!r}")

    # Untyped form, for callers that store one blob (the tiered cache's L2): b"<tag>:<bytes>".
    def dumps(self, obj: Any) -> bytes:
        type_, payload = self.dumps_typed(obj)
        return type_.encode() + b":" + payload

    def loads(self, data: bytes) -> Any:
        type_, sep, payload = data.partition(b":")
        if not sep:
            raise CodecError("serialized value has no type tag")
        return self.loads_typed((type_.decode("ascii", "replace"), payload))
