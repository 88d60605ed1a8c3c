"""Flavour-neutral parts of the ``interactions`` resource: parameters, request building,
response parsing and the wait() schedule. The sync and async resources only send."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Sequence, TypedDict, Union

import httpx
from pydantic import BaseModel, ValidationError

from interstate.errors import APIResponseError, WaitTimeoutError
from interstate.types import CreateInteractionRequest, Interaction, InteractionStatus

from ._config import IDEMPOTENCY_HEADER, NOT_GIVEN, NotGiven, TimeoutArg
from ._config import new_idempotency_key, path_id

__all__ = ["CreateParams", "Call", "create_call", "get_call", "cancel_call", "delete_call",
           "parse_json", "parse_interaction", "check_event_stream", "WaitSchedule"]

#: A value given either as one of our pydantic wire models or as plain JSON data.
Wire = Union[BaseModel, Mapping[str, Any]]


class CreateParams(TypedDict, total=False):
    """Keyword arguments of ``interactions.create`` (besides ``stream``).

    Names and meanings follow the official google-genai SDK; ``None`` means "not sent".
    """

    model: str
    agent: str
    agent_config: Wire
    input: str | Wire | Sequence[Wire]
    previous_interaction_id: str
    system_instruction: str
    tools: Sequence[Wire]
    generation_config: Wire
    response_format: Wire | Sequence[Wire]
    store: bool
    background: bool
    labels: Mapping[str, str]
    safety_settings: Sequence[Wire]
    service_tier: str
    webhook_config: Wire
    environment: str | Wire
    continuation_token: str
    #: Merged into the top level of the JSON body (fields this client does not know yet).
    extra_body: Mapping[str, Any]
    extra_headers: Mapping[str, str]
    extra_query: Mapping[str, Any]
    #: Per-call HTTP timeout: seconds, an ``httpx.Timeout``, or None for no timeout.
    timeout: TimeoutArg


_OPTIONS = frozenset({"extra_body", "extra_headers", "extra_query", "timeout"})


def _to_json(value: Any) -> Any:
    """Plain JSON data for ``value``: wire models become their wire dicts, containers recurse."""
    if isinstance(value, BaseModel):
        to_wire = getattr(value, "to_wire", None)
        return to_wire() if to_wire else value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, Mapping):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    return value


@dataclass
class Call:
    """One API call, ready for ``client._request`` and then ``finish``."""

    method: str
    path: str
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    timeout: TimeoutArg | NotGiven = NOT_GIVEN
    idempotent: bool = True
    stream: bool = False
    result: Literal["interaction", "none"] = "interaction"
    # For streams: what a reconnect needs.
    interaction_id: str | None = None
    last_event_id: str | None = None
    resumable: bool = True

    def request_kwargs(self) -> dict[str, Any]:
        return {
            "json": self.json,
            "params": self.params,
            "headers": self.headers,
            "timeout": self.timeout,
            "idempotent": self.idempotent,
            "stream": self.stream,
        }

    def finish(self, response: httpx.Response) -> Interaction | None:
        """The parsed result of a non-streaming call."""
        if self.result == "interaction":
            return parse_interaction(response)
        _check_success(response)
        return None

    def resume(self, interaction_id: str, last_event_id: str | None) -> Call:
        """The GET that continues this stream after ``last_event_id``."""
        headers = {k: v for k, v in self.headers.items() if k.lower() != IDEMPOTENCY_HEADER}
        call = get_call(interaction_id, stream=True, last_event_id=last_event_id,
                        extra_headers=headers, timeout=self.timeout)
        call.resumable = self.resumable
        return call


def create_call(params: Mapping[str, Any], *, stream: bool | None, idempotent: bool) -> Call:
    """Build (and validate) a create; raises ``TypeError``/``ValueError`` before any I/O."""
    unknown = sorted(set(params) - set(CreateParams.__annotations__))
    if unknown:
        raise TypeError(
            f"create() got unexpected keyword argument(s) {', '.join(unknown)}. "
            "Use extra_body={...} to send fields this client does not know."
        )
    body = {k: _to_json(v) for k, v in params.items() if k not in _OPTIONS and v is not None}
    if stream is not None:
        body["stream"] = stream
    body.update(_to_json(params.get("extra_body") or {}))
    _validate_create(body)
    headers = dict(params.get("extra_headers") or {})
    if not any(name.lower() == IDEMPOTENCY_HEADER for name in headers):
        headers[IDEMPOTENCY_HEADER] = new_idempotency_key()
    return Call(
        "POST",
        "interactions",
        json=body,
        params=dict(params.get("extra_query") or {}),
        headers=headers,
        timeout=params.get("timeout", NOT_GIVEN),
        idempotent=idempotent,
        stream=bool(stream),
        resumable=body.get("store") is not False,
    )


def _validate_create(body: dict[str, Any]) -> None:
    try:
        CreateInteractionRequest.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            ".".join(map(str, err["loc"])) + ": " * bool(err["loc"])
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        )
        raise ValueError(f"Invalid create() arguments: {problems}.") from None


def get_call(
    interaction_id: str,
    *,
    include_input: bool | None = None,
    stream: bool = False,
    last_event_id: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    extra_query: Mapping[str, Any] | None = None,
    timeout: TimeoutArg | NotGiven = NOT_GIVEN,
) -> Call:
    if last_event_id is not None and not stream:
        raise ValueError("last_event_id only applies to get(..., stream=True).")
    params = {"include_input": include_input, "last_event_id": last_event_id, "stream": stream}
    return Call(
        "GET",
        f"interactions/{path_id(interaction_id)}",
        params={**params, **(extra_query or {})},
        headers=dict(extra_headers or {}),
        timeout=timeout,
        stream=stream,
        interaction_id=interaction_id,
        last_event_id=last_event_id,
    )


def cancel_call(interaction_id: str, **options: Any) -> Call:
    return _simple_call("POST", f"interactions/{path_id(interaction_id)}/cancel", "interaction",
                        **options)


def delete_call(interaction_id: str, **options: Any) -> Call:
    return _simple_call("DELETE", f"interactions/{path_id(interaction_id)}", "none", **options)


def _simple_call(
    method: str,
    path: str,
    result: Literal["interaction", "none"],
    *,
    extra_headers: Mapping[str, str] | None = None,
    extra_query: Mapping[str, Any] | None = None,
    timeout: TimeoutArg | NotGiven = NOT_GIVEN,
) -> Call:
    return Call(method, path, params=dict(extra_query or {}), headers=dict(extra_headers or {}),
                timeout=timeout, result=result)


def _content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower()


def _unusable(response: httpx.Response, problem: str) -> APIResponseError:
    request = response.request
    return APIResponseError(
        f"Unusable response to {request.method} {request.url} (status "
        f"{response.status_code}): {problem}. Check that the URL points at an Interactions API "
        "server (Google's, or one started with `interstate serve`).",
        response.status_code,
        None,
        None,
        response,
    )


def parse_json(response: httpx.Response) -> Any:
    """The JSON body of a successful response, or ``APIResponseError``."""
    _check_success(response)
    content_type = _content_type(response)
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise _unusable(response, f"content type {content_type or 'none'!r}, expected JSON")
    try:
        return response.json()
    except ValueError:
        raise _unusable(response, "the body is not valid JSON") from None


def _check_success(response: httpx.Response) -> None:
    if not response.is_success:
        raise _unusable(response, "expected a 2xx status")


def parse_interaction(response: httpx.Response) -> Interaction:
    data = parse_json(response)
    if not isinstance(data, dict):
        raise _unusable(response, "the JSON body is not an Interaction object")
    try:
        return Interaction.model_validate(data)
    except ValidationError as exc:
        raise _unusable(response, f"the body is not an Interaction: {exc}") from exc


def check_event_stream(response: httpx.Response) -> None:
    """Raise ``APIResponseError`` unless ``response`` is a 2xx event stream."""
    _check_success(response)
    content_type = _content_type(response)
    if content_type != "text/event-stream":
        raise _unusable(
            response,
            f"content type {content_type or 'none'!r}, expected an event stream "
            "(text/event-stream); the server may not support streaming",
        )


class WaitSchedule:
    """When ``wait()`` polls next, and when it gives up.

    Polls back off exponentially from ``poll_interval`` up to ``max_poll_interval``; the last
    poll happens at the deadline.
    """

    def __init__(
        self,
        interaction_id: str,
        *,
        timeout: float | None,
        poll_interval: float,
        max_poll_interval: float,
        clock: Callable[[], float],
    ) -> None:
        if poll_interval <= 0 or max_poll_interval <= 0:
            raise ValueError("poll_interval and max_poll_interval must be positive.")
        self.interaction_id = interaction_id
        self.timeout = timeout
        self._interval = poll_interval
        self._max_interval = max_poll_interval
        self._clock = clock
        self._deadline = None if timeout is None else clock() + timeout

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        return None if self._deadline is None else max(0.0, self._deadline - self._clock())

    def next_delay(self, interaction: Interaction) -> float | None:
        """None when ``interaction`` has settled; else how long to sleep before the next poll.

        Raises ``WaitTimeoutError`` once the deadline has passed.
        """
        if interaction.status in InteractionStatus.SETTLED:
            return None
        remaining = self.remaining()
        if remaining == 0.0:
            assert self.timeout is not None
            raise WaitTimeoutError(self.interaction_id, self.timeout, interaction)
        delay = self._interval
        self._interval = min(self._interval * 2, self._max_interval)
        return delay if remaining is None else min(delay, remaining)

    def stream_timeout(self, timeout: httpx.Timeout) -> httpx.Timeout:
        """``timeout`` with its read timeout capped to the time left, for following a stream."""
        remaining = self.remaining()
        if remaining is None:
            return timeout
        read = remaining if timeout.read is None else min(timeout.read, remaining)
        return httpx.Timeout(connect=timeout.connect, read=read, write=timeout.write,
                             pool=timeout.pool)
