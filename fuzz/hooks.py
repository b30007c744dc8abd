"""Schemathesis hooks for scripts/fuzz: signed payment notifications and the one 5xx answer
the API documents on purpose.

Loaded by fuzz/schemathesis.toml. Signing happens only when FUZZ_CALLBACK_SECRET is set (the
provider run of scripts/fuzz, with the same secret the server was started with); the other
runs send the generated Orders-Signature as it is, which must be answered 401.
"""

import hashlib
import hmac
import json
import os
import random
import time

import schemathesis
from schemathesis.core import NotSet

NOTIFY_PATH = "/v1/payments/notify"
SIGNATURE_HEADER = "Orders-Signature"
# Share of signed notifications that name the seeded order instead of the generated id, and
# of those that also carry its amount, so that the payment path past "no such order" (the
# amount check, recording, repeats, a second payment refunded) is reached.
SEEDED_ORDER_SHARE = 0.5

# Transaction ids of the valid payments: few, so that some repeat.
TXN_IDS = 3

_secret = os.environ.get("FUZZ_CALLBACK_SECRET", "").encode()
_seeded_order = os.environ.get("FUZZ_ORDER_ID")
_seeded_amount = os.environ.get("FUZZ_ORDER_AMOUNT_CENTS")
_random = random.Random(os.environ.get("FUZZ_SEED", "0"))


def _sign(body: bytes) -> str:
    """The header value the provider sends: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">
    (command-api/src/payments/signature.rs)."""
    timestamp = str(int(time.time()))
    digest = hmac.new(_secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _serialized(body, media_type: str) -> bytes:
    """The bytes schemathesis would send for `body`: none, raw bytes, text, or JSON."""
    if isinstance(body, NotSet):
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str) and "json" not in media_type:
        return body.encode()
    return json.dumps(body).encode()


@schemathesis.hook
def before_call(context, case, kwargs):
    if not _secret or case.operation.path != NOTIFY_PATH:
        return
    body = case.body
    if isinstance(body, dict) and _seeded_order and _random.random() < SEEDED_ORDER_SHARE:
        body = {**body, "order_id": _seeded_order}
        if _seeded_amount and _random.random() < SEEDED_ORDER_SHARE:
            # a valid payment: the first pays the order, a repeat records nothing, another
            # transaction is a second payment, recorded and refunded
            body["amount_cents"] = int(_seeded_amount)
            body["txn_id"] = f"fuzz-T-{_random.randrange(TXN_IDS)}"
    # the signature covers the exact bytes, so the hook serializes the body and sends those
    raw = _serialized(body, case.media_type or "")
    kwargs["data"] = raw
    case.headers = {**(case.headers or {}), SIGNATURE_HEADER: _sign(raw)}


@schemathesis.check
def only_view_behind_is_unavailable(ctx, response, case):
    """A 503 is allowed (fuzz/schemathesis.toml) only where a read waits for `min_version`,
    and there it must be the documented `view-behind` answer with Retry-After: any other
    5xx is a failure."""
    if response.status_code != 503:
        return None
    try:
        problem_type = json.loads(response.content).get("type")
    except (ValueError, AttributeError):
        problem_type = None
    if problem_type != "/problems/view-behind":
        raise AssertionError(f"503 that is not /problems/view-behind: {problem_type!r}")
    if "retry-after" not in {name.lower() for name in response.headers}:
        raise AssertionError("503 /problems/view-behind without Retry-After")
    return None
