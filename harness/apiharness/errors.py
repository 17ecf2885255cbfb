"""The exceptions apiharness raises.

Every error the harness raises on purpose derives from :class:`ApiHarnessError`, so
``except ApiHarnessError`` catches all of them and nothing else. Errors caused by bad input
(a spec, a cassette, an option, a marker argument) say what was wrong and how to fix it.
Messages never contain secret values.

The tree::

    ApiHarnessError
    ├── ConfigurationError            bad option, marker or constructor argument
    │   ├── DeclarationError          a route or behaviour declared wrongly
    │   └── SecretNotFound            a declared secret has no value in any secrets backend
    ├── UpstreamError                 the mocked upstream saw something the test did not expect
    │   ├── UnmatchedRequestError     a request matched no route, or was refused as malformed
    │   ├── ExpectationError          a route's expected call count was not met
    │   └── ServerThreadError         an exception escaped a loopback server thread
    ├── ClientError                   raised by the reference clients
    │   ├── RetryError
    │   │   ├── RetryExhausted        every attempt failed; carries the attempts
    │   │   └── RetryAfterTooLong     the server asked for a wait beyond the deadline or maximum
    │   ├── CircuitOpen               the breaker is open; the call never reached the upstream
    │   ├── RateLimitExceeded         the client-side limiter refused to wait that long
    │   ├── ResponseValidationError   a response did not match its schema or model
    │   │   └── SchemaViolationError  … an OpenAPI schema, with the JSON path of the violation
    │   ├── IdempotencyKeyReused      one idempotency key was used for two different requests
    │   └── StreamError               a Server-Sent Events stream could not be consumed
    │       ├── StreamInterrupted     it kept breaking; reconnecting gave up
    │       └── StreamErrorEvent      the upstream sent an error event inside a 200 stream
    ├── OAuthError                    OAuth 2 / PKCE flow errors
    │   ├── CallbackError             the redirect back failed validation (state, code, URI)
    │   ├── AuthorizationServerError  the server answered with an RFC 6749 error; carries .error
    │   └── TokenUnavailable          no usable token: none stored, or refreshing it impossible
    ├── WebhookError
    │   ├── WebhookVerificationError  a webhook failed verification (subclassed per reason)
    │   │   ├── MissingWebhookHeader      a header the scheme needs is absent
    │   │   ├── MalformedWebhookHeader    a header is present but cannot be parsed
    │   │   ├── WebhookSignatureMismatch  no signature matches any of the secrets
    │   │   ├── WebhookTimestampOutOfTolerance  the signed timestamp is too old or too new
    │   │   └── InvalidWebhookSecret      the secret is unusable (also a ConfigurationError)
    │   ├── WebhookDuplicate          verified, but its id was received before: answer 2xx, skip it
    │   └── WebhookPayloadTypeError   the payload is not the raw bytes (also a TypeError)
    ├── SpecError                     an OpenAPI description is invalid or cannot be loaded
    │   ├── InvalidSpecError          … with the JSON path of the problem
    │   └── UnknownOperationError     an operation or status code the description lacks
    ├── ContractViolation             a server or mock answered against its OpenAPI description
    ├── FuzzFailure                   the client fuzzer found a response the client mishandles
    ├── CassetteError                 a cassette is corrupt, unknown or leaks a secret
    │   ├── CassetteDriftError        recorded traffic the OpenAPI description does not document
    │   └── SecretLeakError           a secret value occurs in a cassette (names, never values)
    ├── PactError                     a pact file is invalid, unsupported, or cannot be written
    ├── RecordingError                the recording proxy could not start or stopped badly
    ├── StoreUnavailable              a shared store (Redis) is unreachable or lost an operation
    └── ConformanceError              the conformance suite was misconfigured
        └── ClientFactoryError        the client factory raised: no scenario can run

Subpackages may refine these leaves further; they never add a second root.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: errors.py must stay importable on its own
    import httpx

__all__ = [
    "ApiHarnessError",
    "AuthorizationServerError",
    "CallbackError",
    "CassetteDriftError",
    "CassetteError",
    "CircuitOpen",
    "ClientError",
    "ClientFactoryError",
    "ConfigurationError",
    "ConformanceError",
    "ContractViolation",
    "DeclarationError",
    "ExpectationError",
    "FuzzFailure",
    "IdempotencyKeyReused",
    "InvalidSpecError",
    "InvalidWebhookSecret",
    "MalformedWebhookHeader",
    "MissingWebhookHeader",
    "OAuthError",
    "PactError",
    "RateLimitExceeded",
    "RecordingError",
    "ResponseValidationError",
    "RetryAfterTooLong",
    "RetryError",
    "RetryExhausted",
    "SchemaViolationError",
    "SecretLeakError",
    "SecretNotFound",
    "ServerThreadError",
    "SpecError",
    "StoreUnavailable",
    "StreamError",
    "StreamErrorEvent",
    "StreamInterrupted",
    "TokenUnavailable",
    "UnknownOperationError",
    "UnmatchedRequestError",
    "UpstreamError",
    "WebhookDuplicate",
    "WebhookError",
    "WebhookPayloadTypeError",
    "WebhookSignatureMismatch",
    "WebhookTimestampOutOfTolerance",
    "WebhookVerificationError",
]


class ApiHarnessError(Exception):
    """Root of every error apiharness raises on purpose."""


class ConfigurationError(ApiHarnessError, ValueError):
    """An option, marker argument or constructor argument is invalid.

    Also a :class:`ValueError`, so code that validates input generically still catches it.
    """


class DeclarationError(ConfigurationError):
    """A route, script or behaviour was declared with invalid arguments."""


class SecretNotFound(ConfigurationError):
    """A declared secret has no value in any backend of the secrets provider.

    The message names the secret and the backends asked, never a value.
    """


class UpstreamError(ApiHarnessError):
    """The mocked upstream observed something the test did not declare."""


class UnmatchedRequestError(UpstreamError):
    """A request reached the mocked upstream but matched none of its routes.

    Also raised for requests the loopback server refused to read (client protocol errors).
    """


class ExpectationError(UpstreamError, AssertionError):
    """A route declared with an expected call count was not called that often."""


class ServerThreadError(UpstreamError):
    """An exception was raised inside a loopback server thread."""


@dataclass(frozen=True)
class Attempt:
    """One attempt of a retried request: its number (from 1), the delay slept before it, and
    how it ended. Public as :class:`apiharness.clients.Attempt`; defined here because the
    retry errors carry it, and errors.py depends on no subpackage.
    """

    number: int
    delay: float
    status: int | None = None
    error: BaseException | None = None

    def __repr__(self) -> str:
        outcome = f"status={self.status}" if self.error is None else f"error={self.error!r}"
        return f"Attempt(number={self.number}, delay={self.delay:g}, {outcome})"


class ClientError(ApiHarnessError):
    """Raised by the reference clients in :mod:`apiharness.clients`."""


class RetryError(ClientError):
    """Base for errors of the retry policy."""

    def __init__(self, message: str, *, attempts: Sequence[Attempt] = ()) -> None:
        super().__init__(message)
        #: Every attempt made, in order: its status or exception, and the delay before it.
        self.attempts: tuple[Attempt, ...] = tuple(attempts)


class RetryExhausted(RetryError):
    """All permitted attempts failed (attempts, deadline, or a non-retryable failure after some).

    ``reason`` is ``"attempts"`` or ``"deadline"``; ``last_response`` is the final retryable
    response (already read, so its body is available) or None if the last attempt raised.
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: Sequence[Attempt] = (),
        reason: str = "attempts",
        last_response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.reason = reason
        self.last_response = last_response


class RetryAfterTooLong(RetryError):
    """The server asked the client to wait longer than the deadline or the configured maximum.

    ``retry_after`` is the requested wait in seconds, ``limit`` the most the client would wait.
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: Sequence[Attempt] = (),
        retry_after: float = 0.0,
        limit: float = 0.0,
        last_response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.retry_after = retry_after
        self.limit = limit
        self.last_response = last_response


class CircuitOpen(ClientError):
    """The circuit breaker is open: the call failed fast without reaching the upstream.

    ``name`` names the breaker; ``retry_in`` is how many seconds remain until it admits a probe
    (0 when it is half-open and all probe slots are taken). ``attempts`` are the attempts this
    request had already made when the breaker refused a retry (empty if it refused the first).
    """

    def __init__(
        self,
        message: str,
        *,
        name: str = "",
        retry_in: float = 0.0,
        attempts: Sequence[Attempt] = (),
    ) -> None:
        super().__init__(message)
        self.name = name
        self.retry_in = retry_in
        self.attempts: tuple[Attempt, ...] = tuple(attempts)


class RateLimitExceeded(ClientError):
    """The client-side rate limiter would have had to wait longer than permitted.

    ``wait`` is the wait the limiter would have needed, ``max_wait`` the most it may wait.
    """

    def __init__(self, message: str, *, wait: float = 0.0, max_wait: float = 0.0) -> None:
        super().__init__(message)
        self.wait = wait
        self.max_wait = max_wait


class ResponseValidationError(ClientError):
    """A response body did not validate against its schema or model."""


class SchemaViolationError(ResponseValidationError):
    """A response body violates its OpenAPI schema.

    ``path`` is the JSON path of the offending value in the body (``$.data[0].amount``),
    ``violation`` what it broke (``"'amount' is a required property"``), ``operation`` and
    ``status`` say which response it was.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str = "$",
        violation: str = "",
        operation: str = "",
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.violation = violation
        self.operation = operation
        self.status = status


class IdempotencyKeyReused(ClientError):
    """One idempotency key was used for two requests with different methods, URLs or bodies.

    The IETF draft (draft-ietf-httpapi-idempotency-key-header, "Uniqueness of Idempotency Key")
    requires a fresh key per operation; reusing one for another payload is a bug in the caller.
    """


class StreamError(ClientError):
    """A Server-Sent Events stream could not be consumed (for example, it was not one)."""


class StreamInterrupted(StreamError):
    """The stream kept breaking and the consumer stopped reconnecting.

    ``reconnects`` is how many reconnections were made, ``last_event_id`` the id the stream
    had reached (resume from it with a new consumer).
    """

    def __init__(self, message: str, *, reconnects: int = 0, last_event_id: str = "") -> None:
        super().__init__(message)
        self.reconnects = reconnects
        self.last_event_id = last_event_id


class StreamErrorEvent(StreamError):
    """The upstream sent an error event inside a successful (200) stream.

    ``event``, ``data`` and ``id`` are the event's fields; ``data`` is the upstream's text and
    is kept off the message.
    """

    def __init__(self, message: str, *, event: str = "", data: str = "", id: str = "") -> None:
        super().__init__(message)
        self.event = event
        self.data = data
        self.id = id


class OAuthError(ApiHarnessError):
    """An OAuth 2 or PKCE flow failed."""


class CallbackError(OAuthError):
    """The authorization redirect failed validation: unknown or replayed ``state``, missing
    ``code``, or a redirect URI other than the registered one."""


class AuthorizationServerError(OAuthError):
    """The authorization server refused: an RFC 6749 error response (section 4.1.2.1 on the
    redirect, section 5.2 from the token endpoint) or a failure status without one.

    ``error`` is the RFC 6749 error code (``"invalid_grant"`` ...) or None when the server sent
    none; ``status_code`` the HTTP status (None on the redirect). Never carries a token.
    """

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        description: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.description = description
        self.status_code = status_code


class TokenUnavailable(OAuthError):
    """No usable access token: none was stored, there is no refresh token, or the token
    endpoint could not be reached to refresh it."""


class WebhookError(ApiHarnessError):
    """Base for webhook signing and verification errors."""


class WebhookVerificationError(WebhookError):
    """A webhook delivery failed verification."""


class MissingWebhookHeader(WebhookVerificationError):
    """A header the webhook scheme needs is absent from the delivery."""


class MalformedWebhookHeader(WebhookVerificationError):
    """A webhook header is present but not in the form its scheme defines."""


class WebhookSignatureMismatch(WebhookVerificationError):
    """No signature in the delivery matches the payload under any of the secrets."""


class WebhookTimestampOutOfTolerance(WebhookVerificationError):
    """The signed timestamp is further from now than the tolerance allows (stale or future)."""


class WebhookDuplicate(WebhookError):
    """A delivery that verified, but whose id the dedup store already holds: a duplicate.

    Not a :class:`WebhookVerificationError`: the delivery is genuine. Providers deliver at least
    once and re-send whatever was not acknowledged with 2xx, so a duplicate is expected traffic
    (or a captured delivery replayed). Acknowledge it with 2xx and do not process it again; a
    4xx or 5xx makes the provider send it again and again. ``delivery_id`` is the id it carried.
    """

    def __init__(self, message: str, *, delivery_id: str = "") -> None:
        super().__init__(message)
        self.delivery_id = delivery_id


#: The name :class:`WebhookDuplicate` had while it was a verification error; kept as an alias.
WebhookReplayed = WebhookDuplicate


class InvalidWebhookSecret(WebhookVerificationError, ConfigurationError):
    """The webhook secret is unusable (empty, wrong type, or not in the scheme's encoding).

    A verification failure too, so a receiver with a broken secret rejects every delivery
    instead of crashing; also a :class:`ConfigurationError`, because the fix is in the setup.
    """


class WebhookPayloadTypeError(WebhookError, TypeError):
    """The payload was not given as the raw request bytes (e.g. a ``str`` or parsed JSON)."""


class SpecError(ApiHarnessError):
    """An OpenAPI description is invalid or could not be loaded."""


class InvalidSpecError(SpecError):
    """An OpenAPI description is invalid; ``json_path`` says where (``$.paths['/x'].get``)."""

    def __init__(self, message: str, *, json_path: str = "$", source: str = "") -> None:
        where = f"{source} at {json_path}" if source else f"at {json_path}"
        super().__init__(f"{where}: {message}")
        self.json_path = json_path
        self.source = source


class UnknownOperationError(SpecError, LookupError):
    """An operation, status code or media type was asked for that the description lacks."""


class ContractViolation(ApiHarnessError, AssertionError):
    """A server or mock answered against its OpenAPI description (Schemathesis checks failed).

    Also an :class:`AssertionError`, so a failing check reads as a test failure.
    """


class FuzzFailure(ApiHarnessError, AssertionError):
    """The client fuzzer found a response the client mishandles; the message shows it.

    Raised with the smallest such response, the operation and what the response violates.
    """


class CassetteError(ApiHarnessError):
    """A cassette is corrupt, of an unknown version, or would leak a secret."""


class CassetteDriftError(CassetteError, AssertionError):
    """Recorded interactions disagree with the OpenAPI description; the message lists them."""


class SecretLeakError(CassetteError):
    """A secret value occurs in a cassette; ``leaks`` says where, never what the value is."""

    def __init__(self, message: str, leaks: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.leaks = list(leaks)


class PactError(ApiHarnessError):
    """A pact file is not valid Pact JSON, uses an unsupported feature, or cannot be written."""


class RecordingError(ApiHarnessError):
    """The recording proxy could not be started or did not stop cleanly."""


class StoreUnavailable(ApiHarnessError):
    """A shared store (Redis) could not be reached, or the connection broke mid-operation.

    The operation's outcome is unknown to the caller: idempotency keys and webhook claims fail
    closed (nothing is replayed or claimed on a guess), and so does the rate limiter unless it
    was built with ``on_unavailable="allow"``.
    """


class ConformanceError(ApiHarnessError):
    """The conformance suite was given an unusable client adapter or configuration."""


class ClientFactoryError(ConformanceError):
    """The client factory raised while building an adapter; the message has its traceback."""
