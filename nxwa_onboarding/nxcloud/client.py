"""A small, typed client for NXCloud's WhatsApp integrator API.

Every request body is serialised once, signed, and sent as those exact bytes; ``ts`` and ``sign``
are computed anew for every send. Only a connection that was never established is retried
(plus one retry of a 1004 "timestamp expired" answer): checkCode, getCode and createClient are
not idempotent, so anything that may have reached NXCloud is reported, never resent.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter

from .. import __version__
from ..conf import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, conf
from .exceptions import NXCloudConfigurationError, TransportError, error_for_code
from .list_parsing import Numbers
from .redact import hide
from .signing import ALGORITHMS, compute_sign
from .transport import Request, exchange

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
#: NXCloud's answer is read up to this many bytes (decoded); a larger one is a ``TransportError``.
MAX_ANSWER_BYTES = 5 * 1024 * 1024
#: The calls that list an application's numbers answer with all of them (about 250 bytes a
#: number), so they may be larger: up to ``MAX_LIST_BYTES`` (a setting, 32 MB by default).
LIST_ACTIONS = ("phoneList", "getPhone")


def answer_limit(action: str) -> int:
    """The most bytes of ``action``'s answer that are read."""
    return conf.MAX_LIST_BYTES if action in LIST_ACTIONS else MAX_ANSWER_BYTES


#: What ``requests`` reads from the process's environment on every call when ``trust_env`` is on,
#: besides a CA bundle: proxies and a netrc file's path (and ``~/.netrc`` itself).
ENVIRONMENT_KEYS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "netrc")
#: Where requests looks for a CA bundle in the environment, in its order.
CA_BUNDLE_KEYS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def environment_matters(environ: Mapping[str, str] | None = None, home: str | None = None) -> bool:
    """Whether the environment says anything ``requests`` must read on every call: a proxy or a
    netrc file. Decided once, when the session is made: with nothing there, ``trust_env`` is
    turned off, so no call walks the environment for proxy settings or stats ``~/.netrc``
    (about 80 ``os.environ`` reads, half a millisecond, a call); with any of it there, requests
    reads it as usual. A CA bundle alone is taken once instead (``ca_bundle``)."""
    names = {name.lower() for name in (os.environ if environ is None else environ)}
    netrc = os.path.join(home if home is not None else os.path.expanduser("~"), ".netrc")
    return bool(names & set(ENVIRONMENT_KEYS)) or os.path.exists(netrc)


def ca_bundle(environ: Mapping[str, str] | None = None) -> str | None:
    """The CA bundle the environment names, as requests would pick it, or None."""
    found = os.environ if environ is None else environ
    return next((found[name] for name in CA_BUNDLE_KEYS if found.get(name)), None)


def build_session() -> requests.Session:
    """The one place an HTTP session is made: keep-alive pool, our User-Agent, no hidden retries,
    the environment's proxy settings read only when it has any (``environment_matters``), a CA
    bundle it names taken once (as requests would take it on every call)."""
    session = requests.Session()
    session.trust_env = environment_matters()
    bundle = ca_bundle()
    if not session.trust_env and bundle:
        session.verify = bundle
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


def _encode(action: str, body: str) -> bytes:
    """The body's UTF-8 bytes; a lone surrogate (which UTF-8 cannot carry) is a ValueError whose
    text and chain hold nothing of the body (``UnicodeEncodeError``'s repr would: the code)."""
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:
        pass
    raise ValueError(f"the {action} request contains text that UTF-8 cannot encode (a lone surrogate)")


class NXCloudClient:
    """One client per process is enough: it keeps one ``requests.Session`` (keep-alive)."""

    @sensitive_variables("access_secret")
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
        access_secret = hide(access_secret)
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
            hide(conf.ACCESS_SECRET),
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
        headers["sign"] = hide(compute_sign(headers, body, self._access_secret, self.algorithm))
        return headers

    @sensitive_variables("payload", "hidden", "request")
    def call(
        self, action: str, payload: Mapping[str, Any] | None = None, *, hidden: Iterable[str] = ()
    ) -> NXCloudResponse:
        """POST ``payload`` to ``action``; return the answer when its code is 0, raise otherwise.

        ``hidden`` lists values (a verification code) to blank out of NXCloud's message before it
        reaches an exception, a log line or the database. Each send is signed and made by
        ``transport.exchange``, which never raises: the exceptions are raised here, from a frame
        that holds no secret, sign or body (``request``'s repr shows only the action), with no
        chain back into the frames of requests and urllib3 (see ``transport``).
        """
        body = hide(serialize_body(payload))
        request = Request(
            action,
            self.base_url + ENDPOINTS[action],
            body,
            _encode(action, body) if body else None,
            [*hidden, self._access_secret],
        )
        phone = mask_phone(payload.get("phone_number")) if payload else "-"
        del payload, hidden, body  # only ``request`` holds them from here on
        started = time.monotonic()
        tries = 0
        connect_failures = 0
        retried_expired = False
        http_status: int | None = None
        code: int | None = None
        try:
            while True:
                tries += 1
                limit = answer_limit(action)
                outcome = exchange(self.session, request, self._signed_headers, self.timeout, limit)
                http_status = outcome.http_status
                if outcome.unexpected is not None:
                    raise outcome.unexpected
                if outcome.code is None:
                    if not outcome.sent and connect_failures < len(CONNECT_RETRY_BACKOFF):
                        self._sleep(CONNECT_RETRY_BACKOFF[connect_failures])
                        connect_failures += 1
                        continue
                    # Chained to a detached copy of the library's error: its type and text, not
                    # its frames or its prepared request (the sign, the body with the code).
                    raise TransportError(
                        action, outcome.failure, sent=outcome.sent, http_status=http_status
                    ) from outcome.cause
                code = outcome.code
                if code == TIMESTAMP_EXPIRED and not retried_expired:
                    retried_expired = True
                    continue
                if code != 0:
                    raise error_for_code(code, outcome.message, action, http_status)
                assert http_status is not None  # an envelope was read, so there was an answer
                duration = time.monotonic() - started
                return NXCloudResponse(
                    action, code, outcome.message, outcome.data, http_status, duration, tries
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

    @sensitive_variables("code")
    def check_code(self, phone_number: str, code: str) -> None:
        """Pass on the code the merchant received; returns only if NXCloud accepted it."""
        code = hide(code)
        self.call("checkCode", {"phone_number": phone_number, "code": code}, hidden=[code])

    def create_client(self, phone_number: str) -> None:
        """Create and register NXCloud's local client for a verified number."""
        self.call("createClient", {"phone_number": phone_number})

    def phone_list(self, appkey: str) -> list[dict[str, Any]]:
        """The application's numbers with their registration status: the number objects of the
        answer (read item by item, at most ``MAX_LIST_ITEMS``); what was left out is logged in
        one line."""
        data = self.call("phoneList", {"appkey": appkey}).data
        if data is None:
            return Numbers()
        if not isinstance(data, list):
            raise TransportError("phoneList", "the answer's data is not a list", sent=True, http_status=200)
        if not isinstance(data, Numbers):  # a test double's parsed answer
            numbers = Numbers(item for item in data if isinstance(item, dict))
            numbers.skipped = len(data) - len(numbers)
            data = numbers
        if data.skipped or data.beyond:
            logger.warning(
                "phoneList: %d items skipped (not number objects), %d beyond MAX_LIST_ITEMS (%d) not read",
                data.skipped,
                data.beyond,
                conf.MAX_LIST_ITEMS,
            )
        return data

    def get_phone(self, appkey: str, business_phones: Iterable[str] | str | None = None) -> dict[str, Any]:
        """Number details for ``appkey``, optionally only ``business_phones``."""
        payload: dict[str, str] = {"appkey": appkey, "messaging_product": "whatsapp"}
        if business_phones:
            payload["business_phones"] = (
                business_phones if isinstance(business_phones, str) else ",".join(business_phones)
            )
        data = self.call("getPhone", payload).data
        return data if isinstance(data, dict) else {}
