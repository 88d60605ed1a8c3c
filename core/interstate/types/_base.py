"""Conventions shared by every wire type.

* Every model allows unknown fields and keeps them, so a payload round-trips unchanged:
  ``Model.model_validate(payload).to_wire() == payload``.
* Unions discriminated by ``type`` (content, steps, tools, deltas, annotations, ...) or by
  ``event_type`` (SSE events) are *open*: an unknown tag parses into the union's ``Unknown*``
  model, which keeps the raw fields, instead of failing.
* Enum-valued fields are plain strings (the API treats them as open enums).
* ``to_wire()`` emits only the fields that were set (plus the discriminator), so nothing the
  sender did not say is invented on the way back out. The one rewrite: an int64 field
  (:data:`Int64`) given as a JSON number goes out as a decimal string, as the SDK sends it.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, PlainSerializer, Tag, model_validator

_UNKNOWN_TAG = "__unknown__"

#: A protobuf int64: sent as a decimal string (proto3 JSON, as the SDK sends it); a JSON number
#: or a numeric string is accepted.
Int64 = Annotated[int, PlainSerializer(str, return_type=str, when_used="json")]


class WireModel(BaseModel):
    """Base of all wire types: extra fields kept, serialised as the JSON the API uses.

    Validators are built on first use (``defer_build``) so that importing the package is cheap.
    """

    model_config = ConfigDict(
        extra="allow", populate_by_name=True, protected_namespaces=(), defer_build=True
    )

    #: Names of fields that are always emitted even when defaulted (discriminators).
    __always_emit__: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _mark_discriminators_set(self) -> "WireModel":
        for name in self.__always_emit__:
            if getattr(self, name, None) is not None:
                self.model_fields_set.add(name)
        return self

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict for this object, exactly as it goes on the wire."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class TypedModel(WireModel):
    """A union member discriminated by its ``type`` field."""

    __always_emit__ = ("type",)


class UnknownVariant(WireModel):
    """Base of the ``Unknown*`` members of open unions discriminated by ``type``.

    Declares only the tag (optional, since a payload may lack it) and keeps every other field
    as an extra, so ``to_wire()`` returns the payload exactly as received.
    """

    type: str | None = None


def _tag_of(variant: type[BaseModel], key: str) -> str:
    field = variant.model_fields[key]
    if not isinstance(field.default, str):
        raise TypeError(f"{variant.__name__}.{key} needs a string default to act as a tag")
    return field.default


def variant_tags(*variants: type[BaseModel], key: str = "type") -> frozenset[str]:
    """The tags of ``variants``, e.g. to tell a step payload from a content payload."""
    return frozenset(_tag_of(v, key) for v in variants)


def open_union(*variants: type[BaseModel], unknown: type[BaseModel], key: str = "type") -> Any:
    """An ``Annotated`` union over ``variants`` discriminated by ``key``.

    Values whose tag matches no variant are parsed as ``unknown`` (which must accept any
    fields), so new API types survive a round trip through an older client.
    """
    tags = {_tag_of(v, key): v for v in variants}

    def discriminate(value: Any) -> str:
        tag = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
        if isinstance(value, BaseModel) and not isinstance(value, tuple(tags.values())):
            return _UNKNOWN_TAG
        return tag if isinstance(tag, str) and tag in tags else _UNKNOWN_TAG

    members = tuple(Annotated[v, Tag(t)] for t, v in tags.items())
    members += (Annotated[unknown, Tag(_UNKNOWN_TAG)],)
    return Annotated[Union[members], Discriminator(discriminate)]  # type: ignore[valid-type]
