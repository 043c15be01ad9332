"""The operator commands: what they print, their exit status, and that they go through the services
with channel ``command``. NXCloud is the ``nxcloud`` fixture (nxwa_onboarding.testing)."""

from __future__ import annotations

from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.test import override_settings

from nxwa_onboarding import services
from nxwa_onboarding.models import Channel, CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.testing import FakeNXCloud
from nxwa_onboarding.texts import configuration_problem_text
from tests.helpers.services import rules

pytestmark = pytest.mark.django_db

PHONE = "8613800138000"
TYPED = "+86 138-0013-8000"
SHOWN = "+86 138 0013 8000"


def run(*args: str, stdin: str | None = None) -> tuple[str, str]:
    """Call the command; ``stdin`` is what it reads from standard input (piped, not a terminal)."""
    out, err = StringIO(), StringIO()
    options: dict[str, Any] = {"stdout": out, "stderr": err}
    if stdin is not None:
        options["stdin"] = StringIO(stdin)
    call_command(*args, **options)
    return out.getvalue(), err.getvalue()


class Terminal:
    """Standard input that is a terminal: the command must prompt (no echo), never read it."""

    def isatty(self) -> bool:
        return True

    def readline(self, *args: Any) -> str:
        raise AssertionError("read a terminal's standard input instead of prompting without echo")

    read = readline


def exit_status(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run as ``manage.py`` would (argument parsing, system checks, exit status).

    ``run_from_argv`` closes the database connections when done; the test's transaction must
    outlive it, so that one step is skipped.
    """
    with mock.patch("django.core.management.base.connections.close_all"):
        try:
            execute_from_command_line(["manage.py", *args])
        except SystemExit as exit:
            code = int(exit.code or 0)
        else:
            code = 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", ["nxwa_request_code", "nxwa_check_code", "nxwa_sync_status"])
def test_each_command_explains_itself(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = exit_status(name, "--help", capsys=capsys)
    assert code == 0
    assert "NXCloud" in out
    assert "Exits with 1" in " ".join(out.split())


# -- nxwa_request_code ---------------------------------------------------------------------------


def test_request_code_starts_a_registration_and_sends_by_sms(nxcloud: FakeNXCloud) -> None:
    out, _ = run("nxwa_request_code", TYPED)
    registration = PhoneRegistration.objects.get(phone_number=PHONE)
    assert registration.status == PhoneRegistration.Status.CODE_SENT
    sent = registration.code_requests.get()
    assert (sent.outcome, sent.method, sent.channel) == ("sent", "sms", Channel.COMMAND)
    assert nxcloud.latest_code(PHONE) is not None
    assert f"Started a registration for {SHOWN}" in out
    assert f"Sent a verification code by SMS to {SHOWN}." in out
    assert str(nxcloud.latest_code(PHONE)) not in out


def test_request_code_by_voice_reuses_the_open_registration(nxcloud: FakeNXCloud) -> None:
    registration = services.create_registration(PHONE)
    out, _ = run("nxwa_request_code", "0086 138 0013 8000", "--voice")
    assert "Started" not in out
    assert "by a voice call" in out
    assert registration.code_requests.get().method == "voice"
    assert nxcloud.inbox[PHONE][-1].method == "voice"


def test_request_code_within_the_cooldown_is_refused_with_exit_1(
    nxcloud: FakeNXCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    run("nxwa_request_code", PHONE)
    code, _out, err = exit_status("nxwa_request_code", PHONE, capsys=capsys)
    assert code == 1
    assert f"No code sent to {SHOWN}: A code was sent moments ago. You can try again in" in err
    assert "Traceback" not in err
    assert len(nxcloud.calls_to("getCode")) == 1


def test_a_bad_number_is_a_clear_error(nxcloud: FakeNXCloud, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = exit_status("nxwa_request_code", "12", capsys=capsys)
    assert code == 1
    assert "CommandError" in err or "'12'" in err
    assert "country code" in err.lower()
    assert not PhoneRegistration.objects.exists()
    assert nxcloud.calls == []


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ({"code": 9001, "message": "Meta says no"}, "NXCloud refused it (result 9001: Meta says no)."),
        ({"code": 1003}, "signature rejected: check ACCESS_SECRET"),
        ({"timeout": True}, "Unclear whether a code was sent"),
        ({"http_status": 500, "body": "<html>oops</html>"}, "may have reached it. It was not resent."),
    ],
    ids=["rejected", "configuration", "timeout", "http-500"],
)
def test_request_code_failures_say_what_happened(
    nxcloud: FakeNXCloud, script: dict[str, Any], expected: str
) -> None:
    nxcloud.fail("getCode", **script)
    with pytest.raises(CommandError) as caught:
        run("nxwa_request_code", PHONE)
    assert caught.value.returncode == 1
    assert expected in str(caught.value)
    assert "<html>" not in str(caught.value)


def test_an_unconfigured_project_is_told_which_setting_to_fix(nxcloud: FakeNXCloud) -> None:
    with (
        override_settings(NXWA_ONBOARDING={"ACCESS_KEY": "", "ACCESS_SECRET": ""}),
        pytest.raises(CommandError) as caught,
    ):
        run("nxwa_request_code", PHONE)
    assert "NXWA_ONBOARDING" in str(caught.value)
    assert nxcloud.calls == []


# -- nxwa_check_code -----------------------------------------------------------------------------


def test_check_code_verifies_and_creates_the_client(nxcloud: FakeNXCloud) -> None:
    run("nxwa_request_code", PHONE)
    code = nxcloud.latest_code(PHONE)
    assert code is not None
    out, _ = run("nxwa_check_code", TYPED, stdin=f"{code[:3]}-{code[3:]}\n")
    registration = PhoneRegistration.objects.get(phone_number=PHONE)
    assert registration.status == PhoneRegistration.Status.CLIENT_CREATED
    attempt = registration.attempts.get()
    assert (attempt.outcome, attempt.channel) == ("accepted", Channel.COMMAND)
    assert f"Verified {SHOWN}." in out
    assert "WhatsApp client created" in out
    assert code not in out
    assert len(nxcloud.calls_to("createClient")) == 1


def test_check_code_without_creating_the_client(nxcloud: FakeNXCloud) -> None:
    run("nxwa_request_code", PHONE)
    run("nxwa_check_code", PHONE, "--no-create-client", stdin=str(nxcloud.latest_code(PHONE)))
    assert PhoneRegistration.objects.get().status == PhoneRegistration.Status.VERIFIED
    assert nxcloud.calls_to("createClient") == []
    out, _ = run("nxwa_check_code", PHONE, stdin="")  # no code needed now, so none is read
    assert "was already verified: no code needed" in out
    assert PhoneRegistration.objects.get().status == PhoneRegistration.Status.CLIENT_CREATED


def test_a_wrong_code_exits_1_and_says_how_many_tries_are_left(
    nxcloud: FakeNXCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    run("nxwa_request_code", PHONE)
    wrong = "000000" if nxcloud.latest_code(PHONE) != "000000" else "111111"
    with mock.patch("sys.stdin", StringIO(wrong + "\n")):
        code, _out, err = exit_status("nxwa_check_code", PHONE, capsys=capsys)
    assert code == 1
    assert f"{SHOWN} is not verified: NXCloud did not accept the code. Tries left for this code: 4." in err
    assert wrong not in err
    assert PhoneRegistration.objects.get().status == PhoneRegistration.Status.CODE_SENT
    assert VerificationAttempt.objects.get().outcome == "rejected"


def test_a_malformed_code_is_refused_without_calling_nxcloud(nxcloud: FakeNXCloud) -> None:
    run("nxwa_request_code", PHONE)
    with pytest.raises(CommandError, match="Enter the code as digits"):
        run("nxwa_check_code", PHONE, stdin="abc\n")
    assert nxcloud.calls_to("checkCode") == []


def test_check_code_without_an_open_registration(nxcloud: FakeNXCloud) -> None:
    with pytest.raises(CommandError) as caught:
        run("nxwa_check_code", TYPED, stdin="123456\n")
    assert str(caught.value) == (
        f"{SHOWN} has no open registration. Send it a code first: manage.py nxwa_request_code {PHONE}"
    )


def test_a_client_creation_failure_keeps_the_number_verified(nxcloud: FakeNXCloud) -> None:
    run("nxwa_request_code", PHONE)
    nxcloud.fail("createClient", 9001, message="Meta is busy")
    with pytest.raises(CommandError, match="is verified, but creating its WhatsApp client failed"):
        run("nxwa_check_code", PHONE, stdin=str(nxcloud.latest_code(PHONE)))
    assert PhoneRegistration.objects.get().status == PhoneRegistration.Status.VERIFIED
    out, _ = run("nxwa_check_code", PHONE, stdin="")  # retry: no new checkCode, just createClient
    assert "WhatsApp client created" in out
    assert len(nxcloud.calls_to("checkCode")) == 1


def test_check_code_prompts_without_echo_at_a_terminal(nxcloud: FakeNXCloud) -> None:
    run("nxwa_request_code", PHONE)
    code = str(nxcloud.latest_code(PHONE))
    out, err = StringIO(), StringIO()
    with mock.patch("getpass.getpass", return_value=code) as prompt:
        call_command("nxwa_check_code", PHONE, stdin=Terminal(), stdout=out, stderr=err)
    prompt.assert_called_once()
    assert SHOWN in prompt.call_args.args[0]  # the prompt names the number
    assert PhoneRegistration.objects.get().status == PhoneRegistration.Status.CLIENT_CREATED
    assert code not in out.getvalue() + err.getvalue()


def test_check_code_reads_one_line_from_standard_input(nxcloud: FakeNXCloud) -> None:
    run("nxwa_request_code", PHONE)
    code = str(nxcloud.latest_code(PHONE))
    out, _ = run("nxwa_check_code", PHONE, "--no-create-client", stdin=f"  {code}  \nignored\n")
    assert f"Verified {SHOWN}." in out
    assert nxcloud.calls_to("checkCode")[0].payload["code"] == code


def test_check_code_with_nothing_on_standard_input_calls_nothing(nxcloud: FakeNXCloud) -> None:
    run("nxwa_request_code", PHONE)
    with pytest.raises(CommandError, match="No code on standard input"):
        run("nxwa_check_code", PHONE, stdin="")
    assert nxcloud.calls_to("checkCode") == []
    assert not VerificationAttempt.objects.exists()


def test_a_code_on_the_command_line_is_refused_and_says_why(
    nxcloud: FakeNXCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    run("nxwa_request_code", PHONE)
    code = str(nxcloud.latest_code(PHONE))
    status, _out, err = exit_status("nxwa_check_code", PHONE, code, capsys=capsys)
    assert status == 1
    message = " ".join(err.split())
    assert "no longer takes the code as an argument" in message
    assert "shell history" in message
    assert "standard input" in message
    assert "prompt" in message
    assert code not in err
    assert nxcloud.calls_to("checkCode") == []


# -- nxwa_sync_status ------------------------------------------------------------------------------


def registered_client(nxcloud: FakeNXCloud, phone: str) -> PhoneRegistration:
    registration = services.start_registration(phone, channel=Channel.COMMAND)
    code = nxcloud.latest_code(phone)
    assert code is not None
    services.check_code(registration, code)
    return services.create_client(registration)


def test_sync_status_reports_what_changed(nxcloud: FakeNXCloud) -> None:
    registered_client(nxcloud, PHONE)
    nxcloud.set_register_status("8613900139000", 5)  # listed by NXCloud, unknown here
    out, err = run("nxwa_sync_status")
    assert "NXCloud lists 2 number(s); 1 match an open registration." in out
    assert "No status changed." in out  # 3: the client is still being created
    assert "1 listed number(s) have no open registration here." in out
    assert err == ""
    run("nxwa_sync_status")  # 4
    out, _ = run("nxwa_sync_status", "--verbosity", "2")  # 5
    assert "1 changed:" in out
    assert f"  {SHOWN}: Client created -> Registered" in out
    assert "  +86 139 0013 9000" in out
    assert PhoneRegistration.objects.get().status == PhoneRegistration.Status.REGISTERED


def test_sync_status_shows_progress_for_many_numbers(nxcloud: FakeNXCloud) -> None:
    for index in range(25):
        nxcloud.set_register_status(f"86138001380{index:02d}", 5)
    out, err = run("nxwa_sync_status")
    assert "NXCloud lists 25 number(s)" in out
    lines = err.strip().splitlines()
    assert lines[-1] == "  25/25 numbers processed"
    assert 5 <= len(lines) <= 15


def test_sync_status_with_a_wrong_appkey_exits_1(
    nxcloud: FakeNXCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = exit_status("nxwa_sync_status", "--appkey", "nope", capsys=capsys)
    assert code == 1
    assert "NXCloud refused phoneList (result 9008: appkey does not exist)." in err


def test_sync_status_without_an_app_key(nxcloud: FakeNXCloud) -> None:
    with (
        override_settings(NXWA_ONBOARDING={"ACCESS_KEY": "k", "ACCESS_SECRET": "s"}),
        pytest.raises(CommandError, match=r"APP_KEY"),
    ):
        run("nxwa_sync_status")


def test_sync_status_when_nxcloud_is_down(nxcloud: FakeNXCloud) -> None:
    nxcloud.fail("phoneList", http_status=502, body="<html>bad gateway</html>")
    with pytest.raises(CommandError) as caught:
        run("nxwa_sync_status")
    assert "Could not read phoneList" in str(caught.value)
    assert "HTTP 502" in str(caught.value)


def test_no_command_writes_a_code_request_without_the_command_channel(nxcloud: FakeNXCloud) -> None:
    run("nxwa_request_code", PHONE)
    run("nxwa_check_code", PHONE, stdin=str(nxcloud.latest_code(PHONE)))
    channels = set(CodeRequest.objects.values_list("channel", flat=True)) | set(
        VerificationAttempt.objects.values_list("channel", flat=True)
    )
    assert channels == {Channel.COMMAND}


def test_an_invalid_setting_is_described_as_the_admin_and_the_pages_describe_it(
    nxcloud: FakeNXCloud,
) -> None:
    with rules(SIGN_ALGORITHM="sha1"), pytest.raises(CommandError) as caught:
        run("nxwa_request_code", PHONE)
    assert str(caught.value).endswith(
        configuration_problem_text(None, PhoneRegistration.objects.get().code_requests.get().result_message)
    )
    assert "SIGN_ALGORITHM" in str(caught.value)
    assert nxcloud.calls == []
