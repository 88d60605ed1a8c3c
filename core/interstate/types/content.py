"""Content blocks (``text``, ``image``, ``audio``, ``document``, ``video``) and text annotations.

Binary ``data`` stays the base64 string that travels on the wire; nothing here decodes it.
MIME types, resolutions and similar enums are plain strings (open enums).
"""

from __future__ import annotations

from typing import Any, Literal

from ._base import TypedModel, UnknownVariant, WireModel, open_union, variant_tags

__all__ = [
    "ReviewSnippet",
    "Place",
    "AnnotationBase",
    "URLCitation",
    "FileCitation",
    "PlaceCitation",
    "SpeechAnnotation",
    "WordInfo",
    "UnknownAnnotation",
    "Annotation",
    "TextContent",
    "MediaContent",
    "ImageContent",
    "AudioContent",
    "DocumentContent",
    "StaticMediaProcessing",
    "UnknownMediaProcessing",
    "MediaProcessing",
    "VideoContent",
    "UnknownContent",
    "Content",
    "CONTENT_TYPES",
    "EXTENSION_CONTENT_TYPES",
]


# --- annotations -------------------------------------------------------------------------------


class ReviewSnippet(WireModel):
    """A review quoted for a place (Google Maps grounding)."""

    review_id: str | None = None
    title: str | None = None
    url: str | None = None


class Place(WireModel):
    """A place returned by Google Maps grounding; also the body of a ``place_citation``."""

    place_id: str | None = None
    name: str | None = None
    url: str | None = None
    review_snippets: list[ReviewSnippet] | None = None


class AnnotationBase(TypedModel):
    """Fields shared by every annotation: the span of the text it applies to."""

    start_index: int | None = None
    end_index: int | None = None


class URLCitation(AnnotationBase):
    type: Literal["url_citation"] = "url_citation"
    url: str | None = None
    title: str | None = None


class FileCitation(AnnotationBase):
    type: Literal["file_citation"] = "file_citation"
    document_uri: str | None = None
    file_name: str | None = None
    source: str | None = None
    media_id: str | None = None
    page_number: int | None = None
    custom_metadata: dict[str, Any] | None = None


class PlaceCitation(AnnotationBase, Place):
    type: Literal["place_citation"] = "place_citation"


class SpeechAnnotation(AnnotationBase):
    """Speaker and style of a span of generated speech (``speech_metadata``)."""

    type: Literal["speech_metadata"] = "speech_metadata"
    speaker: str | None = None
    style: str | None = None


class WordInfo(AnnotationBase):
    """Timing of one transcribed word."""

    type: Literal["word_info"] = "word_info"
    text: str | None = None
    speaker: str | None = None
    start_offset: str | None = None
    end_offset: str | None = None


class UnknownAnnotation(UnknownVariant):
    """An annotation type this client does not know, kept as received."""


Annotation = open_union(
    URLCitation, FileCitation, PlaceCitation, SpeechAnnotation, WordInfo, unknown=UnknownAnnotation
)


# --- content -----------------------------------------------------------------------------------


class TextContent(TypedModel):
    type: Literal["text"] = "text"
    text: str
    annotations: list[Annotation] | None = None


class MediaContent(TypedModel):
    """Fields shared by binary content blocks and their streaming deltas: inline base64
    ``data`` (a chunk of it, in a delta) or a ``uri``, and a MIME type."""

    data: str | None = None
    uri: str | None = None
    mime_type: str | None = None


class ImageContent(MediaContent):
    type: Literal["image"] = "image"
    resolution: str | None = None


class AudioContent(MediaContent):
    type: Literal["audio"] = "audio"
    sample_rate: int | None = None
    channels: int | None = None


class DocumentContent(MediaContent):
    type: Literal["document"] = "document"


class StaticMediaProcessing(TypedModel):
    """Sample a video at ``fps`` between two offsets (the object form of ``processing``)."""

    type: Literal["static"] = "static"
    fps: float | None = None
    start_offset: str | None = None
    end_offset: str | None = None


class UnknownMediaProcessing(UnknownVariant):
    """A video processing object of a type this client does not know, kept as received."""


MediaProcessing = open_union(StaticMediaProcessing, unknown=UnknownMediaProcessing)


class VideoContent(MediaContent):
    type: Literal["video"] = "video"
    resolution: str | None = None
    name: str | None = None
    #: ``"static"``, ``"agentic"``, or a processing object.
    processing: str | MediaProcessing | None = None


class UnknownContent(UnknownVariant):
    """A content type this client does not know, kept as received."""


_CONTENT_VARIANTS = (TextContent, ImageContent, AudioContent, DocumentContent, VideoContent)

Content = open_union(*_CONTENT_VARIANTS, unknown=UnknownContent)

#: The ``type`` tags of the known content variants.
CONTENT_TYPES: frozenset[str] = variant_tags(*_CONTENT_VARIANTS)

#: Content blocks of interstate's extensions, valid only in the ``input`` of a create sent to an
#: interstate server, which replaces them before anything is stored (``interstate_quote``: see
#: ``interstate.types.extensions.quote``). Listed so that input shape detection places them.
EXTENSION_CONTENT_TYPES: frozenset[str] = frozenset({"interstate_quote"})
