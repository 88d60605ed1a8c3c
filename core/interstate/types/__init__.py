"""Pydantic models of the Gemini Interactions API wire format (the GA ``steps`` schema).

Every model keeps unknown fields, every tagged union is open (unknown tags parse into an
``Unknown*`` model), enum values are plain strings, and ``to_wire()`` returns exactly the JSON
that was parsed or set. See ``_base`` for the conventions.
"""

from . import agents, config, content, events, inputs, interaction, steps, tools
from ._base import TypedModel, UnknownVariant, WireModel, open_union, variant_tags
from .agents import *  # noqa: F403
from .config import *  # noqa: F403
from .content import *  # noqa: F403
from .events import *  # noqa: F403
from .inputs import *  # noqa: F403
from .interaction import *  # noqa: F403
from .steps import *  # noqa: F403
from .tools import *  # noqa: F403

__all__ = [
    "WireModel",
    "TypedModel",
    "UnknownVariant",
    "open_union",
    "variant_tags",
    *agents.__all__,
    *config.__all__,
    *content.__all__,
    *events.__all__,
    *inputs.__all__,
    *interaction.__all__,
    *steps.__all__,
    *tools.__all__,
]
