"""apiharness: contract testing and API mocking for Python clients of third-party APIs.

The package is also the pytest plugin (``pytest -p apiharness``); its hooks and fixtures live in
:mod:`apiharness._pytest_plugin` and are reached through this module *lazily* (PEP 562
``__getattr__``/``__dir__``): pytest lists the module's names, asks for each, and only then is
the plugin imported. So ``import apiharness.clients`` in a service loads neither pytest nor the
mocked upstream. Heavy integrations (mitmproxy, schemathesis, vcrpy) are imported only by the
subpackages that need them.
"""

from typing import Any as _Any

from apiharness.clock import Clock, SystemClock, VirtualClock, get_clock, use_clock
from apiharness.errors import (
    ApiHarnessError,
    AuthorizationServerError,
    CallbackError,
    CassetteDriftError,
    CassetteError,
    CircuitOpen,
    ClientError,
    ClientFactoryError,
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
    PactError,
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
    StoreUnavailable,
    StreamError,
    StreamErrorEvent,
    StreamInterrupted,
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

# The plugin surface (hooks and fixtures), equal to ``_pytest_plugin.__all__`` (a test checks).
_PLUGIN_SURFACE = frozenset(
    {
        "apiharness_cassette",
        "apiharness_clock",
        "apiharness_conformance",
        "apiharness_oauth_server",
        "apiharness_pact",
        "apiharness_secrets",
        "apiharness_seed",
        "apiharness_tls_certificates",
        "apiharness_tls_server",
        "apiharness_upstream",
        "apiharness_upstream_server",
        "apiharness_webhook_sender",
        "clock_fixture",
        "oauth_server",
        "pytest_addoption",
        "pytest_collection_modifyitems",
        "pytest_configure",
        "pytest_runtest_makereport",
        "pytest_runtest_setup",
        "pytest_sessionfinish",
        "schemathesis_check",
        "tls_certificates",
        "tls_server",
        "upstream_fixture",
        "upstream_server",
        "upstream_session_server",
        "webhook_sender",
    }
)


__version__: str  # bound on first use by __getattr__


def _load_plugin() -> None:
    """Import the plugin and bind its surface here as plain module attributes.

    Bound, not only returned: pluggy finds hook markers with ``inspect.getattr_static``, which
    never calls a module ``__getattr__``. pytest lists the module with ``dir()`` before it looks
    at any name, so ``__dir__`` binding them is what makes the hooks visible to it.
    """
    from apiharness import _pytest_plugin

    globals().update({name: getattr(_pytest_plugin, name) for name in _PLUGIN_SURFACE})


def __getattr__(name: str) -> _Any:
    if name == "__version__":  # importlib.metadata costs more than the rest of the root
        import importlib.metadata

        try:
            version = importlib.metadata.version("apiharness")
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
            version = "0.0.0+unknown"
        globals()["__version__"] = version
        return version
    if name in _PLUGIN_SURFACE:
        _load_plugin()
        return globals()[name]
    raise AttributeError(f"module 'apiharness' has no attribute {name!r}")


def __dir__() -> list[str]:
    _load_plugin()
    return sorted({*globals(), "__version__"})


# The library API. Plugin hooks and fixtures are importable too, but are pytest's, not users'.
__all__ = [
    "ApiHarnessError",
    "AuthorizationServerError",
    "CallbackError",
    "CassetteDriftError",
    "CassetteError",
    "CircuitOpen",
    "ClientError",
    "ClientFactoryError",
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
