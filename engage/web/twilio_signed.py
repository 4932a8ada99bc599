"""A Twilio webhook's parameters, released only once its signature checks out.

Pure (bytes and headers in, parameters or ``Refused`` out), so the plain-ASGI inbound SMS
handler and the FastAPI status callback route share one implementation. The signed URL is
``ENGAGE_PUBLIC_URL`` + path (+ query), never the request's own host (a proxy's view).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, parse_qsl

from engage.channels.sms import SignedForm, public_url_for, signature_valid
from engage.config import Settings

MAX_FIELDS = 100  # Twilio sends about 20; a form with thousands is not Twilio


class Refused(Exception):
    """The request is answered ``status`` and counted under ``reason``; nothing is stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def decode_form(body: bytes) -> SignedForm:
    """An ``application/x-www-form-urlencoded`` body (UTF-8, ``+`` for spaces, as Twilio
    sends it). Malformed escapes decode to U+FFFD rather than failing: the signature check
    that follows then refuses whatever does not match."""
    try:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                          encoding="utf-8", errors="replace", max_num_fields=MAX_FIELDS)
    except ValueError as exc:  # over MAX_FIELDS
        raise Refused(400, "malformed") from exc
    return SignedForm(pairs)


def signs_body(query: str) -> bool:
    """True when the query string carries ``bodySHA256``, parsed exactly as twilio's
    ``RequestValidator`` parses it (a name, not a substring: ``?xbodySHA256=1`` is a form)."""
    try:
        return "bodySHA256" in parse_qs(query, max_num_fields=MAX_FIELDS)
    except ValueError as exc:  # over MAX_FIELDS
        raise Refused(400, "malformed") from exc


def verified_params(settings: Settings, *, path: str, query: str, signature: str | None,
                    signature_settings: str | None, body: bytes) -> dict[str, str]:
    """The request's parameters (the form's last value per name, or a JSON body's fields)
    once the Twilio signature over them is valid; ``Refused`` otherwise."""
    if not signature:
        raise Refused(403, "missing_signature")
    url = public_url_for(settings, path, query)
    token = settings.twilio_webhook_token
    if signs_body(query):  # a JSON body, signed through a hash in the query string
        raw = body.decode("utf-8", "replace")
        if not signature_valid(token=token, url=url, params=raw, signature=signature,
                               signature_settings=signature_settings):
            raise Refused(403, "bad_signature")
        try:
            decoded = json.loads(raw)
        except ValueError as exc:
            raise Refused(400, "malformed") from exc
        if not isinstance(decoded, dict):
            raise Refused(400, "malformed")
        return {str(k): str(v) for k, v in decoded.items()}
    form = decode_form(body)
    if not signature_valid(token=token, url=url, params=form, signature=signature,
                           signature_settings=signature_settings):
        raise Refused(403, "bad_signature")
    return dict(form)
