"""Hooks for schemathesis (tests/tests/schemathesis.rs runs it).

Authentication: a token of an ADMIN the runner created, a different one on
each call (round robin), so that the per-actor rate limit (10 mutations, 60
listings in any minute) does not answer the run's requests with 429, and an
Idempotency-Key schemathesis repeats is never one the same actor used on
another request. The tokens come one per line from the file
ERASURE_SCHEMATHESIS_TOKENS names; each operation gets tokens of its own."""

import datetime
import itertools
import os

import schemathesis

with open(os.environ["ERASURE_SCHEMATHESIS_TOKENS"]) as lines:
    _TOKENS = itertools.cycle([line.strip() for line in lines if line.strip()])


@schemathesis.auth(refresh_interval=None)
class RotatingAdmins:
    def get(self, case, ctx):
        return next(_TOKENS)

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _not_utf8_on_the_wire(value):
    """Whether `value` goes out as bytes that are not UTF-8: schemathesis
    sends a header value as latin-1, a body as it is."""
    try:
        raw = value if isinstance(value, bytes) else str(value).encode("latin-1")
        raw.decode("utf-8")
        return False
    except (UnicodeEncodeError, UnicodeDecodeError):
        return True


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    """Excluded: the local emulator's own 500 to header or body bytes that are
    not UTF-8. cargo lambda watch cannot put them into a Lambda event (JSON)
    and answers itself (its `httpstatuses.com/500` body): the function never
    saw the request. In production API Gateway hands such a body over in
    base64 (the functions answer it 400 INVALID_BODY, tested in
    functions/tests/suite/http/inputs.rs) and a header that is not valid HTTP
    is refused at its door. Only that answer to only such a request is
    dropped; every check stays on."""
    emulators_answer = response.status_code == 500 and "httpstatuses.com/500" in response.text
    sent = list((case.headers or {}).values()) + [case.body]
    return not (emulators_answer and any(_not_utf8_on_the_wire(v) for v in sent if v is not None))



@schemathesis.hook
def before_call(ctx, case, kwargs):
    """A hold's expiresAt must be at least a minute ahead (400 INVALID_EXPIRY
    otherwise, tested in functions/tests/suite/http/legal_hold.rs), which no
    JSON Schema can say: a generated time before next year (every phase's,
    the coverage phase's fixed ones included) is sent as a year from now, so
    that every body schemathesis sends as valid is one the service takes.
    The year is read from the text, which covers RFC 3339 times Python cannot
    parse (year 0000, a leap second)."""
    body = case.body
    expires = body.get("expiresAt") if isinstance(body, dict) else None
    if not isinstance(expires, str) or not expires[:4].isdigit():
        return
    now = datetime.datetime.now(datetime.timezone.utc)
    if int(expires[:4]) <= now.year:
        a_year_on = now + datetime.timedelta(days=366)
        body["expiresAt"] = a_year_on.isoformat(timespec="seconds").replace("+00:00", "Z")
