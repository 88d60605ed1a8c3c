"""Per-request configuration: ``generation_config`` and its nested configs, ``response_format``,
``safety_settings`` and ``webhook_config``.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import Field

from ._base import TypedModel, UnknownVariant, WireModel, open_union
from .tools import AllowedTools

__all__ = [
    "ToolChoiceConfig",
    "ToolChoice",
    "SpeechConfig",
    "SpeakerConfig",
    "ImageConfig",
    "VideoConfig",
    "VerbatimTranscriptionMode",
    "SmartTranscriptionMode",
    "UnknownTranscriptionMode",
    "TranscriptionMode",
    "TranscriptionConfig",
    "GenerationConfig",
    "TextResponseFormat",
    "ImageResponseFormat",
    "AudioResponseFormat",
    "VideoResponseFormat",
    "UnknownResponseFormat",
    "ResponseFormat",
    "SafetySetting",
    "WebhookConfig",
]


class ToolChoiceConfig(WireModel):
    allowed_tools: AllowedTools | None = None


#: ``"auto"``, ``"any"``, ``"none"``, ``"validated"``, or ``{"allowed_tools": {...}}``.
ToolChoice = Union[str, ToolChoiceConfig]


class SpeechConfig(WireModel):
    voice: str | None = None
    language: str | None = None
    speaker: str | None = None


class SpeakerConfig(WireModel):
    """Multi-speaker speech: one :class:`SpeechConfig` per speaker."""

    speakers: list[SpeechConfig] | None = None


class ImageConfig(WireModel):
    """Deprecated in favour of an ``image`` response format."""

    aspect_ratio: str | None = None
    #: ``512``, ``1K``, ``2K`` or ``4K``.
    image_size: str | None = None


class VideoConfig(WireModel):
    #: ``text_to_video``, ``image_to_video``, ``reference_to_video``, ``edit``, ``extend``,
    #: ``upscale``.
    task: str | None = None


class VerbatimTranscriptionMode(TypedModel):
    type: Literal["verbatim"] = "verbatim"
    diarization_mode: str | None = None
    timestamp_granularities: list[str] | None = None


class SmartTranscriptionMode(TypedModel):
    type: Literal["smart"] = "smart"
    source_text: str | None = None


class UnknownTranscriptionMode(UnknownVariant):
    """A transcription mode object of a type this client does not know, kept as received."""


TranscriptionMode = open_union(
    VerbatimTranscriptionMode, SmartTranscriptionMode, unknown=UnknownTranscriptionMode
)


class TranscriptionConfig(WireModel):
    language_codes: list[str] | None = None
    custom_vocabulary: list[str] | None = None
    #: ``"verbatim"``, ``"smart"``, or a mode object.
    mode: str | TranscriptionMode | None = None
    #: Deprecated.
    adaptation_phrases: list[str] | None = None
    #: Deprecated; set it on the verbatim mode object.
    diarization_mode: str | None = None
    #: Deprecated; use ``language_codes``.
    language_hints: list[str] | None = None
    #: Deprecated; set it on the verbatim mode object.
    timestamp_granularities: list[str] | None = None


class GenerationConfig(WireModel):
    """Model sampling and output options. Only valid with ``model``, never with ``agent``."""

    max_output_tokens: int | None = None
    seed: int | None = None
    stop_sequences: list[str] | None = None
    #: Deprecated in the SDK.
    temperature: float | None = None
    #: Deprecated in the SDK.
    top_p: float | None = None
    #: ``minimal``, ``low``, ``medium``, ``high``, ``xhigh``.
    thinking_level: str | None = None
    #: ``auto`` or ``none``.
    thinking_summaries: str | None = None
    tool_choice: ToolChoice | None = None
    speech_config: SpeakerConfig | list[SpeechConfig] | None = None
    image_config: ImageConfig | None = None
    video_config: VideoConfig | None = None
    transcription_config: TranscriptionConfig | None = None


# --- response_format ---------------------------------------------------------------------------


class TextResponseFormat(TypedModel):
    """Text output, optionally constrained to JSON matching ``schema`` (wire key ``schema``)."""

    type: Literal["text"] = "text"
    #: ``application/json`` or ``text/plain``.
    mime_type: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


class ImageResponseFormat(TypedModel):
    type: Literal["image"] = "image"
    mime_type: str | None = None
    aspect_ratio: str | None = None
    image_size: str | None = None
    #: ``inline`` or ``uri``.
    delivery: str | None = None


class AudioResponseFormat(TypedModel):
    type: Literal["audio"] = "audio"
    mime_type: str | None = None
    sample_rate: int | None = None
    bit_rate: int | None = None
    delivery: str | None = None


class VideoResponseFormat(TypedModel):
    type: Literal["video"] = "video"
    #: ``16:9`` or ``9:16``.
    aspect_ratio: str | None = None
    #: ``360p``, ``720p``, ``1080p`` or ``4k``.
    resolution: str | None = None
    duration: str | None = None
    delivery: str | None = None
    gcs_uri: str | None = None


class UnknownResponseFormat(UnknownVariant):
    """Any other response format object (the schema allows an arbitrary dict), kept as sent."""


ResponseFormat = open_union(
    TextResponseFormat,
    ImageResponseFormat,
    AudioResponseFormat,
    VideoResponseFormat,
    unknown=UnknownResponseFormat,
)


# --- other request options ---------------------------------------------------------------------


class SafetySetting(WireModel):
    """A harm category (``type``, not a union tag) and the ``threshold`` at which to block it."""

    type: str
    threshold: str
    #: ``severity`` or ``probability``.
    method: str | None = None


class WebhookConfig(WireModel):
    uris: list[str] | None = None
    user_metadata: dict[str, Any] | None = None
