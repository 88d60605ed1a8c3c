"""The interstate client: a typed httpx client for the Gemini Interactions API.

``Client`` (sync) and ``AsyncClient`` (async) talk to Google's endpoint, to an interstate server
(``interstate serve``), or to the embedded in-process server, with the same four operations as
the official SDK — ``client.interactions.create / get / cancel / delete`` — plus ``wait``::

    from interstate.client import Client

    with Client.from_url("sqlite:///chat.db") as client:
        first = client.interactions.create(model="gemini-3-flash-preview", input="Hi!")
        second = client.interactions.create(
            model="gemini-3-flash-preview", input="And again?", previous_interaction_id=first.id
        )

Transport and API surface are separate: every resource goes through ``client._request``, which
builds ``{base_url}/{api_version}/{path}``, adds headers, retries and maps errors; extension
resources reuse it.

Retries and idempotent creates
------------------------------
Requests are retried with exponential backoff and jitter (0.5 s·2ⁿ capped at 8 s, times a
random factor in [0.75, 1]; ``Retry-After`` / ``retry-after-ms`` are honoured) on 408, 409, 429
and 5xx answers **and** on connection errors and timeouts, up to ``max_retries`` (default 4).

``get``, ``cancel`` and ``delete`` are safe to repeat and retry on all of these. ``create`` is
not, in general: a request that timed out while waiting for the answer may have created an
interaction already, and sending it again would create a second one. So:

* every ``create`` sends a client-generated ``x-interstate-idempotency-key`` header, the same
  value on every retry of that call (pass your own in ``extra_headers`` to make retries across
  calls safe too). An interstate server answers a repeated key with the interaction it already
  created; Google ignores the header;
* ``create`` always retries failures where the server certainly did not process the request:
  connect errors and connect/pool timeouts (nothing was sent), and 408, 429 and 503 answers;
* after a failure where the server may have accepted the request (read timeouts, dropped
  connections, other 5xx), ``create`` retries only when ``idempotent_create`` is true. It
  defaults to true for interstate targets (embedded, or an ``http(s)`` server) and to false for
  Google's endpoint. Otherwise the error is raised with a message saying the interaction may
  have been created and how to check (``APIConnectionError.may_have_been_created`` is set).
"""

from interstate.errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    InteractionFailedError,
    APIStatusError,
    APITimeoutError,
    ExtensionNotSupportedError,
    InterstateError,
    WaitTimeoutError,
)

from ._async import AsyncClient, AsyncInteractions
from ._extensions import AsyncExtensions, Extensions
from ._config import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, NOT_GIVEN, NotGiven, default_database_url
from ._resources import CreateParams
from ._streaming import AsyncStream, Stream
from ._sync import Client, Interactions

__all__ = [
    "Client",
    "AsyncClient",
    "Interactions",
    "AsyncInteractions",
    "Extensions",
    "AsyncExtensions",
    "Stream",
    "AsyncStream",
    "CreateParams",
    "default_database_url",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_RETRIES",
    "NOT_GIVEN",
    "NotGiven",
    "InterstateError",
    "APIError",
    "APIStatusError",
    "APIConnectionError",
    "APITimeoutError",
    "APIResponseError",
    "InteractionFailedError",
    "WaitTimeoutError",
    "ExtensionNotSupportedError",
]
