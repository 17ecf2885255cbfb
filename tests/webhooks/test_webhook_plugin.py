"""A user can use the webhook_sender fixture with `pytest -p apiharness`."""

from __future__ import annotations

import pytest

USER_TESTS = """
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from apiharness.webhooks import WebhookVerificationError, stripe

SECRET = "whsec_user_secret"


async def receive(request):
    try:
        stripe.verify(await request.body(), request.headers, SECRET)
    except WebhookVerificationError:
        return Response(status_code=400)
    return Response(status_code=204)


async def accept_anything(request):
    return Response(status_code=200)


app = Starlette(routes=[Route("/stripe", receive, methods=["POST"]),
                        Route("/lax", accept_anything, methods=["POST"])])


def test_my_receiver(webhook_sender, clock):
    sender = webhook_sender(app, scheme="stripe", secret=SECRET, path="/stripe")
    assert sender.deliver().status_code == 204
    sender.attack().assert_ok()


def test_lax_receiver(webhook_sender):
    webhook_sender(app, scheme="stripe", secret=SECRET, path="/lax").attack().assert_ok()
"""


def test_webhook_sender_fixture_through_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "apiharness", "--disable-plugin-autoload")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*the stripe receiver at http://testserver/lax handled deliveries wrongly:*",
            "*bad_signature: one character of the signature changed -> accepted (200), should be*",
            "*exactly-once: not checked (pass effects=*",
        ]
    )
    assert "whsec_user_secret" not in "\n".join(
        line for line in result.stdout.lines if "handled deliveries wrongly" in line or "->" in line
    )
