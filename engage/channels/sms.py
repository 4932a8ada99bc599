"""Twilio SMS: webhook signatures, inbound parsing, and the REST ``Sender``.

Signatures are checked with twilio's own ``RequestValidator`` against ``ENGAGE_PUBLIC_URL`` +
path (+ query): behind a proxy ``request.url`` is the proxy's view, not the URL Twilio signed.
Both variants are supported: form parameters (HMAC-SHA1 of URL + sorted params, or HMAC-SHA256
when ``X-Twilio-Webhooks-Signature-Settings`` names it) and JSON bodies carrying a
``bodySHA256`` query parameter.

Outbound uses the real twilio ``Client``; only its HTTP client is ours, so the request URL can
be pointed at ``ENGAGE_TWILIO_API_URL`` (a local fake in tests and benchmarks).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from twilio.base import values
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.rest import Client

from engage.channels.base import ChannelName, Inbound, LookupUnavailable, Outbound, SendResult
from engage.channels.segments import measure, smart_encode, split_body
from engage.config import Settings

log = logging.getLogger("engage.sms")

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
SMS_WEBHOOK_PATH = "/webhooks/twilio/sms"
STATUS_WEBHOOK_PATH = "/webhooks/twilio/status"
OPTED_OUT_CODE = 21610  # "Attempt to send to unsubscribed recipient"
SEND_TIMEOUT_SECONDS = 10.0
TRANSIENT_RETRY_SECONDS = 2.0
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


# -- inbound: signatures and parsing -------------------------------------------------------


def public_url_for(settings: Settings, path: str, query: str = "") -> str:
    """The URL Twilio signed: the configured public base + the request path (+ query)."""
    url = settings.public_url.rstrip("/") + path
    return f"{url}?{query}" if query else url


class SignedForm(dict[str, str]):
    """A form as handlers read it (the last value of each name) that also answers twilio's
    ``getall``, so ``RequestValidator`` signs every value of a repeated name, as Twilio does,
    without probing for the method through exceptions (most of its cost on a plain dict)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self._all: dict[str, list[str]] = {}
        for name, value in pairs:
            self._all.setdefault(name, []).append(value)

    def getall(self, name: str) -> list[str]:
        return self._all[name]


@lru_cache(maxsize=8)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


def signature_valid(
    *,
    token: str | None,
    url: str,
    params: Mapping[str, Any] | str,
    signature: str | None,
    signature_settings: str | None = None,
) -> bool:
    """True when ``signature`` is Twilio's for ``url`` and the form params (or raw JSON body).

    ``params`` is the form mapping, or the raw body text when ``url`` carries ``bodySHA256``.
    A missing token or signature is never valid. twilio's ``compute_signature`` over the URL
    exactly as configured is tried first (the signature Twilio sends); only when that does
    not match does ``RequestValidator.validate`` run, with its with/without-port variants.
    """
    if not token or not signature:
        return False
    algorithm = get_signature_algorithm(signature_settings)
    validator = _validator(token)
    if not isinstance(params, str):
        try:
            expected = validator.compute_signature(url, params, algorithm)
        except ValueError:  # an algorithm twilio does not know: validate() logs and refuses
            pass
        else:
            if hmac.compare_digest(expected.encode(), signature.encode()):
                return True
    return bool(validator.validate(url, params, signature, algorithm=algorithm))


def sign(token: str, url: str, params: Mapping[str, str], algorithm: str | None = None) -> str:
    """The signature Twilio would send for this request (used by ``engage chat`` and tests)."""
    return str(RequestValidator(token).compute_signature(url, params, algorithm))


class MalformedWebhook(ValueError):
    """A signed request that lacks the fields an inbound SMS always has."""


MESSAGE_SID = re.compile(r"(?:SM|MM)[0-9a-f]{32}")


def parse_inbound(form: Mapping[str, str], *, received_at: datetime) -> Inbound:
    """Twilio's inbound form -> ``Inbound``. ``To`` is required but not kept (one number)."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    sender = form.get("From") or ""
    if not sid or not sender or not form.get("To"):
        raise MalformedWebhook("inbound SMS needs MessageSid, From and To")
    if not MESSAGE_SID.fullmatch(sid):  # a signed field moved into the sid is not a new message
        raise MalformedWebhook("inbound SMS MessageSid is not SM/MM followed by 32 hex digits")
    try:
        media = int(form.get("NumMedia") or 0)
    except ValueError:
        media = 0
    return Inbound(
        channel="sms",
        address=sender,
        text=form.get("Body") or "",
        provider_id=sid,
        received_at=received_at,
        media_count=max(media, 0),
    )


# -- outbound: the HTTP client and the sender ----------------------------------------------


class ApiUrlHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no types
    """twilio's aiohttp client with the scheme and host replaced by ``ENGAGE_TWILIO_API_URL``.

    The twilio ``Client`` builds absolute URLs on api.twilio.com; this rewrites each one just
    before it is sent, so every other line of twilio's request code still runs. The aiohttp
    session is made lazily inside the running event loop (aiohttp requires one) and remade if
    the sender is used from a different loop.
    """

    session: aiohttp.ClientSession | None  # set by twilio's __init__ (None: pool_connections=False)

    def __init__(
        self, api_url: str, *, timeout: float = SEND_TIMEOUT_SECONDS, pool_size: int = 100
    ) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        base = urlsplit(api_url.rstrip("/"))
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValueError("ENGAGE_TWILIO_API_URL must be an http(s) URL")
        self._base = base
        self._pool_size = pool_size
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        path = self._base.path + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        loop = asyncio.get_running_loop()
        if self.session is None or self._session_loop is not loop or self.session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size)
            self.session = aiohttp.ClientSession(connector=connector)
            self._session_loop = loop
        body: Any = data
        if isinstance(data, dict):
            # the same bytes aiohttp's FormData would make (urlencode, doseq), made directly:
            # its generic multipart-capable path was ~20% of the dispatcher's CPU per send
            body = urlencode(data, doseq=True).encode()
            headers = {**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"}
        return await super().request(
            method,
            self.rewrite(url),
            params=params,
            data=body,
            headers=headers,
            auth=auth,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )

    def log_request(self, kwargs: dict[str, Any]) -> None:
        # twilio formats its debug lines eagerly; skip that work unless they would be shown
        if self.logger.isEnabledFor(logging.INFO):
            super().log_request(kwargs)

    def log_response(self, status_code: int, response: Any) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            super().log_response(status_code, response)

    async def close(self) -> None:
        if self.session is not None and not self.session.closed:
            await self.session.close()
        self.session = None


class TwilioSender:
    """``Sender`` for SMS through the Twilio REST API (Messages resource).

    Maps provider answers for the dispatcher: 429, 5xx, timeouts and connection errors are
    retryable; 21610 (recipient replied STOP at the carrier) is permanent with ``opted_out``;
    every other 4xx is permanent. Error text never carries numbers or bodies.
    """

    channel: ChannelName = "sms"

    def __init__(self, settings: Settings, *, http_client: ApiUrlHttpClient | None = None) -> None:
        if not settings.twilio_enabled:
            raise ValueError("TwilioSender needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        if not (settings.twilio_from_number or settings.twilio_messaging_service_sid):
            raise ValueError("set TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
        self.http_client = http_client or ApiUrlHttpClient(
            settings.twilio_api_url, timeout=settings.twilio_timeout_seconds)
        # A non-empty environment mapping keeps the client from reading os.environ.
        self.client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            http_client=self.http_client,
            environment={"ENGAGE": "1"},
        )
        self.from_number = settings.twilio_from_number
        self.messaging_service_sid = settings.twilio_messaging_service_sid
        self.status_callback = public_url_for(settings, STATUS_WEBHOOK_PATH)

    async def send(self, message: Outbound) -> SendResult:
        parts = split_body(message.text) or [""]
        sids: list[str] = []
        status: str | None = None
        for part in parts:
            try:
                created = await self.client.messages.create_async(
                    to=message.address,
                    body=part,
                    from_=self.from_number or values.unset,
                    messaging_service_sid=self.messaging_service_sid or values.unset,
                    status_callback=self.status_callback,
                    smart_encoded=True,
                )
            except (TwilioRestException, TwilioServiceException) as exc:
                return _partial(_rest_failure(exc, message.outbox_id), sids, len(parts))
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                log.warning(
                    "twilio transport error outbox=%s: %s", message.outbox_id, type(exc).__name__
                )
                result = SendResult(
                    ok=False,
                    error=f"transport: {type(exc).__name__}",
                    retry_after=TRANSIENT_RETRY_SECONDS,
                    in_doubt=_may_have_arrived(exc),
                )
                return _partial(result, sids, len(parts))
            if created.sid:
                sids.append(created.sid)
            status = (
                created.status.value
                if hasattr(created.status, "value")
                else (str(created.status) if created.status else None)
            )
        size = measure(message.text)
        return SendResult(
            ok=True,
            provider_id=sids[0] if sids else None,
            status=status or "queued",
            segments=sum(measure(p).segments for p in parts) if len(parts) > 1 else size.segments,
            encoding=size.encoding,
        )

    async def lookup(self, message: Outbound, since: datetime) -> list[SendResult]:
        """Messages to this resident from our number (or messaging service) created since
        ``since`` whose body is this message's first part, oldest first.

        Twilio's Message list filtered by ``To``, ``From`` and ``DateSent``; a message Twilio
        has accepted but not sent yet has no ``date_sent``, so the newest messages to the
        resident are read too. Bodies are compared here, never logged.
        """
        first = (split_body(message.text) or [""])[0]
        since = since.astimezone(UTC) - LOOKUP_SLACK
        found: dict[str, SendResult] = {}
        created: dict[str, datetime] = {}
        try:
            for query in ({"date_sent_after": since}, {}):
                records = await self.client.messages.list_async(
                    to=message.address, from_=self.from_number or values.unset,
                    limit=LOOKUP_LIMIT, **query)
                for record in records:
                    if not _matches(record, first, since, self.messaging_service_sid):
                        continue
                    status = getattr(record.status, "value", record.status)
                    found[str(record.sid)] = SendResult(
                        ok=True, provider_id=str(record.sid), status=str(status or "queued"),
                        segments=measure(message.text).segments,
                        encoding=measure(message.text).encoding)
                    created[str(record.sid)] = record.date_created or since
        except (TwilioRestException, TwilioServiceException, TimeoutError, aiohttp.ClientError,
                OSError) as exc:
            raise LookupUnavailable(type(exc).__name__) from exc
        return sorted(found.values(), key=lambda r: (created[r.provider_id or ""],
                                                     r.provider_id or ""))

    async def close(self) -> None:
        await self.http_client.close()


LOOKUP_SLACK = timedelta(minutes=2)  # clocks differ; Twilio stamps at its end
LOOKUP_LIMIT = 50


def _may_have_arrived(exc: BaseException) -> bool:
    """False only when the connection was never made (nothing can have reached Twilio)."""
    return not isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError)


def _matches(record: Any, body: str, since: datetime, service_sid: str | None) -> bool:
    """Twilio may hold the body as sent or with its smart-encoding substitutions made."""
    held = record.body or ""
    if held != body and smart_encode(held) != smart_encode(body):
        return False
    if service_sid and record.messaging_service_sid not in (None, service_sid):
        return False
    stamp = record.date_created or record.date_sent
    return stamp is None or stamp >= since


def _partial(result: SendResult, sids: list[str], total: int) -> SendResult:
    """A long body failed after some parts went out: retrying would repeat those parts, so
    the failure becomes permanent (at most once) and keeps the first part's SID."""
    if not sids:
        return result
    return replace(result, permanent=True, retry_after=None, provider_id=sids[0],
                   error=f"sent {len(sids)} of {total} parts; {result.error}")


def _rest_failure(
    exc: TwilioRestException | TwilioServiceException, outbox_id: int
) -> SendResult:
    status = int(getattr(exc, "status", 0) or 0)
    code = getattr(exc, "code", None)
    code_text = str(code) if code is not None else None
    error = f"twilio HTTP {status} code {code_text}"
    log.warning("twilio refused outbox=%s status=%s code=%s", outbox_id, status, code_text)
    if code == OPTED_OUT_CODE:
        return SendResult(
            ok=False,
            error_code=code_text,
            error=error,
            permanent=True,
            opted_out=True,
        )
    if status == 429 or status >= 500 or status == 0:
        return SendResult(
            ok=False,
            error_code=code_text,
            error=error,
            retry_after=TRANSIENT_RETRY_SECONDS,
        )
    return SendResult(ok=False, error_code=code_text, error=error, permanent=True)
