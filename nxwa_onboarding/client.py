"""A small, typed client for NXCloud's WhatsApp integrator API.

Every request body is serialised once, signed, and sent as those exact bytes; ``ts`` and ``sign``
are computed anew for every send. Only a connection that was never established is retried
(plus one retry of a 1004 "timestamp expired" answer): checkCode, getCode and createClient are
not idempotent, so anything that may have reached NXCloud is reported, never resent.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from . import __version__
from .conf import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, conf
from .exceptions import NXCloudConfigurationError, TransportError, error_for_code
from .signing import ALGORITHMS, compute_sign

logger = logging.getLogger(__name__)

USER_AGENT = f"django-nxwa-onboarding/{__version__}"
BIZ_TYPE = "2"
REGISTER_PREFIX = "/api/wa/integrator/embedded/register/"
ENDPOINTS: dict[str, str] = {
    "login": REGISTER_PREFIX + "login",
    "createApp": REGISTER_PREFIX + "createApp",
    "getCode": REGISTER_PREFIX + "getCode",
    "checkCode": REGISTER_PREFIX + "checkCode",
    "createClient": REGISTER_PREFIX + "createClient",
    "phoneList": REGISTER_PREFIX + "phoneList",
    "getPhone": "/api/wa/getPhone",
}
CODE_METHODS = ("sms", "voice")
#: Seconds to wait before each retry of a connection that could not be established.
CONNECT_RETRY_BACKOFF = (0.2, 0.5)
TIMESTAMP_EXPIRED = 1004


def build_session() -> requests.Session:
    """The one place an HTTP session is made: keep-alive pool, our User-Agent, no hidden retries."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=32)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def serialize_body(payload: Mapping[str, Any] | None) -> str:
    """The exact body text: compact, UTF-8, no ASCII escaping; ``""`` for no body."""
    if payload is None:
        return ""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def mask_phone(phone_number: object) -> str:
    """Last four digits only, for logs."""
    text = str(phone_number or "")
    return ("*" * max(len(text) - 4, 0)) + text[-4:] if text else "-"


@dataclass(frozen=True)
class NXCloudResponse:
    """A successful answer (result code 0)."""

    action: str
    code: int
    message: str
    data: Any
    http_status: int
    duration: float
    tries: int


def parse_envelope(action: str, http_status: int, content: bytes) -> tuple[int, str, Any]:
    """Read NXCloud's ``{"code", "message", "data"}`` envelope.

    Returns ``(code, message, data)`` for a well-formed envelope; raises ``TransportError``
    (``sent=True``) when there is no usable answer. A ``code`` that is not an integer
    (``"0"``, ``0.0``, ``true``) is never taken for success.
    """
    if http_status >= 500:
        raise TransportError(
            action, "NXCloud answered with a server error", sent=True, http_status=http_status
        )
    try:
        payload = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TransportError(action, "the answer is not JSON", sent=True, http_status=http_status) from None
    if not isinstance(payload, dict):
        raise TransportError(action, "the answer is not a JSON object", sent=True, http_status=http_status)
    code = payload.get("code")
    if type(code) is not int:
        raise TransportError(
            action, "the answer has no integer result code", sent=True, http_status=http_status
        )
    if http_status != 200 and code == 0:
        raise TransportError(action, "unexpected HTTP status", sent=True, http_status=http_status)
    message = payload.get("message")
    return code, ("" if message is None else str(message)), payload.get("data")


def _never_connected(err: requests.RequestException) -> bool:
    """True only when the TCP connection was never established (refused, connect timeout, DNS)."""
    if isinstance(err, requests.ConnectTimeout):
        return True
    if isinstance(err, requests.ConnectionError) and not isinstance(err, requests.ReadTimeout):
        reason: object = err.args[0] if err.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        return isinstance(reason, NewConnectionError)
    return False


def _describe(err: requests.RequestException) -> str:
    if isinstance(err, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(err, requests.ReadTimeout):
        return "read timeout: no answer in time"
    if _never_connected(err):
        return "could not connect"
    if isinstance(err, requests.ConnectionError):
        return "connection dropped before an answer"
    return f"request failed ({type(err).__name__})"


def _encode(action: str, body: str) -> bytes:
    """The body's UTF-8 bytes; a lone surrogate (which UTF-8 cannot carry) is a ValueError whose
    text and chain hold nothing of the body (``UnicodeEncodeError``'s repr would: the code)."""
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:
        pass
    raise ValueError(f"the {action} request contains text that UTF-8 cannot encode (a lone surrogate)")


def _redact(text: str, hidden: Iterable[str]) -> str:
    for value in hidden:
        if value:
            text = text.replace(value, "***")
    return text


class NXCloudClient:
    """One client per process is enough: it keeps one ``requests.Session`` (keep-alive)."""

    def __init__(
        self,
        access_key: str,
        access_secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        algorithm: str = "md5",
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not access_key or not access_secret:
            raise NXCloudConfigurationError(
                "NXWA_ONBOARDING['ACCESS_KEY'] and ['ACCESS_SECRET'] are both required."
            )
        if algorithm.lower() not in ALGORITHMS:
            raise NXCloudConfigurationError(
                f"NXWA_ONBOARDING['SIGN_ALGORITHM'] must be one of {sorted(ALGORITHMS)}."
            )
        self.access_key = access_key
        self._access_secret = access_secret
        self.base_url = base_url.rstrip("/")
        self.algorithm = algorithm.lower()
        self.timeout = timeout
        self.session = session if session is not None else build_session()
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"NXCloudClient(access_key={self.access_key!r}, base_url={self.base_url!r})"

    @classmethod
    def from_settings(cls, session: requests.Session | None = None) -> NXCloudClient:
        """A client configured from ``settings.NXWA_ONBOARDING``."""
        return cls(
            conf.ACCESS_KEY,
            conf.ACCESS_SECRET,
            base_url=conf.BASE_URL,
            algorithm=conf.SIGN_ALGORITHM,
            timeout=conf.TIMEOUT,
            session=session,
        )

    # -- the wire -----------------------------------------------------------------------------

    def _signed_headers(self, action: str, body: str) -> dict[str, str]:
        headers = {
            "accessKey": self.access_key,
            "action": action,
            "bizType": BIZ_TYPE,
            "ts": str(int(self._clock() * 1000)),
            "Content-Type": "application/json",
            # Per request too, not only in build_session(): a session passed in must not send
            # requests' default User-Agent.
            "User-Agent": USER_AGENT,
        }
        if self.algorithm != "md5":
            headers["algorithm"] = self.algorithm
        headers["sign"] = compute_sign(headers, body, self._access_secret, self.algorithm)
        return headers

    def call(
        self, action: str, payload: Mapping[str, Any] | None = None, *, hidden: Iterable[str] = ()
    ) -> NXCloudResponse:
        """POST ``payload`` to ``action``; return the answer when its code is 0, raise otherwise.

        ``hidden`` lists values (a verification code) to blank out of NXCloud's message before it
        reaches an exception, a log line or the database.
        """
        url = self.base_url + ENDPOINTS[action]
        body = serialize_body(payload)
        data = _encode(action, body) if body else None
        hidden = [*hidden, self._access_secret]
        phone = mask_phone(payload.get("phone_number")) if payload else "-"
        started = time.monotonic()
        tries = 0
        connect_failures = 0
        retried_expired = False
        http_status: int | None = None
        code: int | None = None
        try:
            while True:
                tries += 1
                headers = self._signed_headers(action, body)
                try:
                    response = self.session.post(
                        url, data=data, headers=headers, timeout=self.timeout, allow_redirects=False
                    )
                except requests.RequestException as err:
                    sent = not _never_connected(err)
                    if not sent and connect_failures < len(CONNECT_RETRY_BACKOFF):
                        self._sleep(CONNECT_RETRY_BACKOFF[connect_failures])
                        connect_failures += 1
                        continue
                    # The chained exception keeps its type and message for debugging, but not
                    # the prepared request: its headers hold the sign and its body the code.
                    err.request = None
                    raise TransportError(action, _describe(err), sent=sent) from err
                http_status = response.status_code
                code, message, result = parse_envelope(action, http_status, response.content)
                if code == TIMESTAMP_EXPIRED and not retried_expired:
                    retried_expired = True
                    continue
                message = _redact(message, hidden)
                if code != 0:
                    raise error_for_code(code, message, action, http_status)
                return NXCloudResponse(
                    action, code, message, result, http_status, time.monotonic() - started, tries
                )
        finally:
            logger.info(
                "nxcloud %s phone=%s code=%s http=%s tries=%d duration_ms=%.1f",
                action,
                phone,
                "-" if code is None else code,
                "-" if http_status is None else http_status,
                tries,
                (time.monotonic() - started) * 1000,
            )

    # -- one typed method per endpoint --------------------------------------------------------

    def login(self) -> str:
        """A token for NXCloud's embedded registration page."""
        data = self.call("login").data
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
            raise TransportError("login", "the answer carries no token", sent=True, http_status=200)
        return str(data["token"])

    def create_app(self, app_name: str, webhook: str) -> dict[str, Any]:
        """Create a customer application; returns ``app_id``, ``app_name`` and ``app_key``."""
        data = self.call("createApp", {"app_name": app_name, "webhook": webhook}).data
        return data if isinstance(data, dict) else {}

    def get_code(self, phone_number: str, method: str = "sms") -> None:
        """Have WhatsApp send a verification code to ``phone_number`` by ``sms`` or ``voice``."""
        if method not in CODE_METHODS:
            raise ValueError(f"method must be one of {CODE_METHODS}")
        self.call("getCode", {"phone_number": phone_number, "method": method})

    def check_code(self, phone_number: str, code: str) -> None:
        """Pass on the code the merchant received; returns only if NXCloud accepted it."""
        self.call("checkCode", {"phone_number": phone_number, "code": code}, hidden=[code])

    def create_client(self, phone_number: str) -> None:
        """Create and register NXCloud's local client for a verified number."""
        self.call("createClient", {"phone_number": phone_number})

    def phone_list(self, appkey: str) -> list[dict[str, Any]]:
        """The application's numbers with their registration status."""
        data = self.call("phoneList", {"appkey": appkey}).data
        if data is None:
            return []
        if not isinstance(data, list):
            raise TransportError("phoneList", "the answer's data is not a list", sent=True, http_status=200)
        return [item for item in data if isinstance(item, dict)]

    def get_phone(self, appkey: str, business_phones: Iterable[str] | str | None = None) -> dict[str, Any]:
        """Number details for ``appkey``, optionally only ``business_phones``."""
        payload: dict[str, str] = {"appkey": appkey, "messaging_product": "whatsapp"}
        if business_phones:
            payload["business_phones"] = (
                business_phones if isinstance(business_phones, str) else ",".join(business_phones)
            )
        data = self.call("getPhone", payload).data
        return data if isinstance(data, dict) else {}
