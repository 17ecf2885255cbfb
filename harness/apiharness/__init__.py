"""apiharness: contract testing and API mocking for Python clients of third-party APIs.

The package is also the pytest plugin (``pytest -p apiharness``); its hooks and fixtures are
re-exported here from :mod:`apiharness._pytest_plugin`. Heavy integrations (mitmproxy,
schemathesis, vcrpy) are imported only by the subpackages that need them.
"""

import importlib.metadata as _metadata

from apiharness._pytest_plugin import *  # noqa: F403 - the plugin surface, see its __all__
from apiharness.clock import Clock, SystemClock, VirtualClock, get_clock, use_clock
from apiharness.errors import (
    ApiHarnessError,
    AuthorizationServerError,
    CallbackError,
    CassetteDriftError,
    CassetteError,
    CircuitOpen,
    ClientError,
    ConfigurationError,
    ConformanceError,
    ContractViolation,
    DeclarationError,
    ExpectationError,
    FuzzFailure,
    IdempotencyKeyReused,
    InvalidSpecError,
    InvalidWebhookSecret,
    MalformedWebhookHeader,
    MissingWebhookHeader,
    OAuthError,
    RateLimitExceeded,
    RecordingError,
    ResponseValidationError,
    RetryAfterTooLong,
    RetryError,
    RetryExhausted,
    SchemaViolationError,
    SecretLeakError,
    SecretNotFound,
    ServerThreadError,
    SpecError,
    TokenUnavailable,
    UnknownOperationError,
    UnmatchedRequestError,
    UpstreamError,
    WebhookDuplicate,
    WebhookError,
    WebhookPayloadTypeError,
    WebhookReplayed,
    WebhookSignatureMismatch,
    WebhookTimestampOutOfTolerance,
    WebhookVerificationError,
)

try:
    __version__ = _metadata.version("apiharness")
except _metadata.PackageNotFoundError:  # pragma: no cover - a source tree, not installed
    __version__ = "0.0.0+unknown"

# The library API. Plugin hooks and fixtures are importable too, but are pytest's, not users'.
__all__ = [
    "ApiHarnessError",
    "AuthorizationServerError",
    "CallbackError",
    "CassetteDriftError",
    "CassetteError",
    "CircuitOpen",
    "ClientError",
    "Clock",
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
    "SystemClock",
    "TokenUnavailable",
    "UnknownOperationError",
    "UnmatchedRequestError",
    "UpstreamError",
    "VirtualClock",
    "WebhookDuplicate",
    "WebhookError",
    "WebhookPayloadTypeError",
    "WebhookReplayed",  # the old name of WebhookDuplicate, kept as an alias
    "WebhookSignatureMismatch",
    "WebhookTimestampOutOfTolerance",
    "WebhookVerificationError",
    "__version__",
    "get_clock",
    "use_clock",
]
