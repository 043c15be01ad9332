"""What the client lets out: never the secret, a sign, the body or a verification code, in any
log record (every logger, DEBUG) or exception text; exactly one INFO line per call."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest

from harness.loopback import Behaviour, Received, closed_port, loopback, result
from nxwa_onboarding.nxcloud.client import NXCloudClient
from nxwa_onboarding.nxcloud.exceptions import (
    NXCloudAuthError,
    NXCloudBusinessError,
    NXCloudError,
    NXCloudNotIntegratorError,
    NXCloudParameterError,
    TransportError,
)
from tests.helpers.wire import (
    CANARY_SECRET,
    CODE,
    PHONE,
    PHONE_MASKED,
    Clock,
    all_log_records,
    envelope,
    exception_text,
    log_text,
    make_client,
    nxcloud_mock,
    open_client,
    recording_session,
    url,
)

SHORT_TIMEOUT = (0.5, 0.3)
# NXCloud (or Meta behind it) may quote what it received; none of it may come out of the client.
ECHO = f"code {CODE} is not valid for {PHONE} (accessSecret={CANARY_SECRET})"
ECHO_BYTES = ECHO.encode()

SCENARIOS = [
    pytest.param([result(0)], None, id="success"),
    pytest.param([result(1003, ECHO)], NXCloudAuthError, id="1003-auth"),
    pytest.param([result(1004, ECHO), result(1004, ECHO)], NXCloudAuthError, id="1004-twice"),
    pytest.param([result(9000, ECHO)], NXCloudParameterError, id="9000-parameter"),
    pytest.param([result(9007, ECHO)], NXCloudNotIntegratorError, id="9007-not-integrator"),
    pytest.param([result(-1, ECHO)], NXCloudBusinessError, id="-1-business"),
    pytest.param([result(9001, ECHO)], NXCloudBusinessError, id="9001-business"),
    pytest.param([Behaviour(kind="hang")], TransportError, id="read-timeout"),
    pytest.param([Behaviour(kind="drop")], TransportError, id="dropped"),
    pytest.param(
        [
            Behaviour(
                kind="raw", status=502, body=b"<html>" + ECHO_BYTES + b"</html>", content_type="text/html"
            )
        ],
        TransportError,
        id="502-html",
    ),
    pytest.param(
        [Behaviour(kind="raw", body=b'{"code": 9001, "message": "' + ECHO_BYTES)],
        TransportError,
        id="truncated",
    ),
    pytest.param([Behaviour(kind="raw", body=b'["' + ECHO_BYTES + b'"]')], TransportError, id="json-list"),
    pytest.param([Behaviour(body={"code": "0", "message": ECHO})], TransportError, id="code-string"),
]


def run(call: Callable[[], object]) -> BaseException | None:
    try:
        call()
    except Exception as exc:
        return exc
    return None


def assert_nothing_secret(
    records: list[logging.LogRecord], error: BaseException | None, signs: list[str], bodies: list[bytes]
) -> None:
    logged = log_text(records)
    # The nets are live: urllib3's DEBUG lines and the client's INFO line were caught.
    assert any(record.name.startswith("urllib3") and record.levelno == logging.DEBUG for record in records)
    assert any(record.name == "nxwa_onboarding.nxcloud.client" for record in records)
    assert signs
    for value in [CANARY_SECRET, CODE, PHONE, *signs, *(body.decode() for body in bodies if body)]:
        assert value not in logged
    if error is not None:
        text = exception_text(error)
        for value in [CANARY_SECRET, CODE, *signs]:
            assert value not in text


@pytest.mark.parametrize(("answers", "raised"), SCENARIOS)
def test_no_secret_code_or_sign_in_logs_or_exceptions(
    answers: list[Behaviour], raised: type[Exception] | None
) -> None:
    session, adapter = recording_session()
    with loopback() as server, all_log_records() as records:
        server.push(*answers)
        with open_client(server.base_url, session=session, timeout=SHORT_TIMEOUT, clock=Clock()) as client:
            error = run(lambda: client.check_code(PHONE, CODE))
    if raised is None:
        assert error is None
    else:
        assert type(error) is raised
    assert_nothing_secret(
        records, error, [r.headers["sign"] for r in adapter.sent], [r.body for r in adapter.sent]
    )


def test_no_secret_when_the_connection_is_refused() -> None:
    session, adapter = recording_session()
    base_url = f"http://127.0.0.1:{closed_port()}"
    with all_log_records() as records, open_client(base_url, session=session, clock=Clock()) as client:
        error = run(lambda: client.check_code(PHONE, CODE))
    assert isinstance(error, TransportError)
    assert error.sent is False
    assert error.__cause__ is not None  # the requests error is chained, and inspected too
    assert_nothing_secret(
        records, error, [r.headers["sign"] for r in adapter.sent], [r.body for r in adapter.sent]
    )


@pytest.mark.parametrize("code", [-1, 9001, 1003])
def test_an_echoed_code_and_secret_are_blanked_from_the_message(code: int) -> None:
    client = make_client()
    with nxcloud_mock() as rsps:
        rsps.post(url("checkCode"), json=envelope(code, ECHO))
        with pytest.raises(NXCloudError) as info:
            client.check_code(PHONE, CODE)
    assert CODE not in info.value.message
    assert CANARY_SECRET not in info.value.message
    assert info.value.message.startswith("code *** is not valid")  # the rest of the message stays
    assert CODE not in exception_text(info.value)


def test_an_echoed_secret_is_blanked_for_every_action() -> None:
    client = make_client()
    with nxcloud_mock() as rsps:
        rsps.post(url("createApp"), json=envelope(9009, f"limit reached for {CANARY_SECRET}"))
        with pytest.raises(NXCloudBusinessError) as info:
            client.create_app("Shop", "https://shop.example/hook")
    assert CANARY_SECRET not in exception_text(info.value)
    assert info.value.message == "limit reached for ***"


# -- one INFO line per call -------------------------------------------------------------------


def info_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "nxwa_onboarding.nxcloud.client" and record.levelno == logging.INFO
    ]


@pytest.mark.parametrize(
    ("answers", "code", "http"),
    [
        pytest.param([result(0)], "0", "200", id="success"),
        pytest.param([result(9001, ECHO)], "9001", "200", id="refused"),
        pytest.param([result(1004), result(0)], "0", "200", id="1004-then-success"),
        pytest.param([Behaviour(kind="raw", status=502, body=b"<html></html>")], "-", "502", id="502"),
        pytest.param([Behaviour(kind="drop")], "-", "-", id="dropped"),
    ],
)
def test_one_info_line_per_call(
    caplog: pytest.LogCaptureFixture, answers: list[Behaviour], code: str, http: str
) -> None:
    with loopback() as server, open_client(server.base_url, timeout=SHORT_TIMEOUT) as client:
        server.push(*answers)
        with caplog.at_level(logging.DEBUG):
            run(lambda: client.get_code(PHONE))
    (line,) = info_lines(caplog)
    assert "getCode" in line
    assert f"code={code} " in line
    assert f"http={http} " in line
    assert re.search(r"duration_ms=\d+\.\d", line)
    assert PHONE_MASKED in line
    assert PHONE not in line


def test_refused_connection_logs_one_line_for_all_tries(caplog: pytest.LogCaptureFixture) -> None:
    with open_client(f"http://127.0.0.1:{closed_port()}") as client, caplog.at_level(logging.INFO):
        run(lambda: client.create_client(PHONE))
    (line,) = info_lines(caplog)
    assert "createClient" in line
    assert "code=- " in line
    assert "http=- " in line
    assert "tries=3" in line
    assert PHONE_MASKED in line


def test_each_call_has_its_own_line(caplog: pytest.LogCaptureFixture) -> None:
    answers = {"login": {"token": "t"}, "createApp": {}, "phoneList": [], "getPhone": {}}
    calls: list[Callable[[NXCloudClient], object]] = [
        lambda c: c.login(),
        lambda c: c.create_app("Shop", "https://shop.example/hook"),
        lambda c: c.get_code(PHONE),
        lambda c: c.check_code(PHONE, CODE),
        lambda c: c.create_client(PHONE),
        lambda c: c.phone_list("k"),
        lambda c: c.get_phone("k"),
    ]

    def answer(request: Received) -> Behaviour:
        action = request.path.rsplit("/", 1)[-1]
        return Behaviour(body=envelope(data=answers.get(action)))

    with loopback() as server, open_client(server.base_url) as client, caplog.at_level(logging.INFO):
        server.on_request = answer
        for call in calls:
            call(client)
    lines = info_lines(caplog)
    actions = ["login", "createApp", "getCode", "checkCode", "createClient", "phoneList", "getPhone"]
    assert len(lines) == len(actions)
    for line, action in zip(lines, actions, strict=True):
        assert action in line
        assert "code=0 " in line
    phone_lines = [line for line in lines if "phone=" + PHONE_MASKED in line]
    assert len(phone_lines) == 3  # getCode, checkCode, createClient
    assert all("phone=- " in line for line in lines if line not in phone_lines)


def test_a_chained_network_error_carries_no_prepared_request() -> None:
    """The requests error chained under TransportError keeps its message, not the request: the
    prepared request's headers hold the sign and its body the code, and error reporters that
    walk exception attributes would otherwise pick them up."""
    with loopback() as server, open_client(server.base_url, timeout=SHORT_TIMEOUT, clock=Clock()) as client:
        server.push(Behaviour(kind="drop"))
        error = run(lambda: client.check_code(PHONE, CODE))
    assert isinstance(error, TransportError)
    assert error.sent is True
    cause = error.__cause__
    assert cause is not None
    assert getattr(cause, "request", None) is None
