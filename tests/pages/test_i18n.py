# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""English and Simplified Chinese: the pages follow the browser's language, and the shipped
catalogue is complete, compiled and faithful to its placeholders."""

from __future__ import annotations

import gettext
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

import nxwa_onboarding
from nxwa_onboarding.models import PhoneRegistration, RefusalReason
from nxwa_onboarding.tasks import follow_pass
from nxwa_onboarding.testing import FakeNXCloud
from nxwa_onboarding.texts import refusal_text
from tests.helpers.pages import DIGITS, PHONE, act, post_code, shown, text_of, url, wrong_code

LOCALE = Path(nxwa_onboarding.__file__).resolve().parent / "locale"
ZH_PO = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
ZH_MO = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.mo"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
#: Words that stay in Latin letters in Chinese text: product names, and the time zone's name.
LATIN_ALLOWED = {"WhatsApp", "Business", "NXCloud", "UTC"}


def parse_po(path: Path) -> list[dict[str, Any]]:
    """A small .po reader: msgid, msgid_plural, msgstr / msgstr[n], flags."""
    entries: list[dict[str, Any]] = []
    entry: dict[str, Any] = {"flags": set(), "msgstr": {}}
    key: tuple[str, int] | str | None = None

    def unquote(text: str) -> str:
        return text[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")

    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            if "msgid" in entry:
                entries.append(entry)
            entry, key = {"flags": set(), "msgstr": {}}, None
        elif line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif m := re.match(r"msgstr\[(\d+)\] (\".*\")$", line):
            key = ("msgstr", int(m.group(1)))
            entry["msgstr"][key[1]] = unquote(m.group(2))
        elif m := re.match(r"(msgid|msgid_plural|msgstr|msgctxt) (\".*\")$", line):
            key = m.group(1)
            if key == "msgstr":
                entry["msgstr"][0] = unquote(m.group(2))
            else:
                entry[key] = unquote(m.group(2))
        elif line.startswith('"') and key is not None:
            if isinstance(key, tuple):
                entry["msgstr"][key[1]] += unquote(line)
            elif key == "msgstr":
                entry["msgstr"][0] += unquote(line)
            else:
                entry[key] += unquote(line)
    return [e for e in entries if e["msgid"]]


def english_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in LATIN_ALLOWED}


@pytest.fixture
def zh_client(client: Client, customer: Any) -> Client:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    client.force_login(customer)
    return client


# -- the catalogue -------------------------------------------------------------------------------


def test_every_message_is_translated_and_not_fuzzy() -> None:
    entries = parse_po(ZH_PO)
    assert len(entries) > 200
    untranslated = [e["msgid"] for e in entries if not all(e["msgstr"].values()) or not e["msgstr"]]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert untranslated == []
    assert fuzzy == []


def test_translations_keep_every_placeholder() -> None:
    for entry in parse_po(ZH_PO):
        wanted = set(PLACEHOLDER.findall(entry["msgid"])) | set(
            PLACEHOLDER.findall(entry.get("msgid_plural", ""))
        )
        for msgstr in entry["msgstr"].values():
            assert set(PLACEHOLDER.findall(msgstr)) == wanted, entry["msgid"]


def test_compiled_catalogue_matches_the_po_file() -> None:
    """The committed .mo is current: every translation in the .po is what gettext serves."""
    with ZH_MO.open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    for entry in parse_po(ZH_PO):
        context = entry.get("msgctxt")
        if "msgid_plural" in entry:
            assert catalogue.ngettext(entry["msgid"], entry["msgid_plural"], 1) == entry["msgstr"][0]
        elif context is not None:
            assert catalogue.pgettext(context, entry["msgid"]) == entry["msgstr"][0], entry["msgid"]
        else:
            assert catalogue.gettext(entry["msgid"]) == entry["msgstr"][0], entry["msgid"]


def test_service_texts_are_translated() -> None:
    with translation.override("zh-hans"):
        assert refusal_text(RefusalReason.EXPIRED) == "此验证码已过期。请重新获取验证码。"
        assert str(PhoneRegistration.Status.REGISTERED.label) == "已注册"
    with translation.override("en"):
        assert refusal_text(RefusalReason.EXPIRED) == "This code has expired. Ask for a new code."


# -- the pages ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_start_page_in_chinese_when_the_browser_asks(zh_client: Client) -> None:
    response = zh_client.get(reverse("nxwa_onboarding:start"))
    html = response.content.decode()
    assert response["Content-Language"] == "zh-hans"
    assert '<html lang="zh-hans"' in html
    text = text_of(html)
    assert "添加您的 WhatsApp 号码" in text
    assert "WhatsApp 商业电话号码" in text
    assert "给我发送验证码" in text
    assert "短信" in text
    assert "语音电话" in text
    assert english_words(text) == set()


@pytest.mark.django_db
def test_english_when_the_browser_asks_for_english(client: Client, customer: Any) -> None:
    client.force_login(customer)
    html = client.get(
        reverse("nxwa_onboarding:start"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9"
    ).content.decode()
    assert '<html lang="en"' in html
    assert "Add your WhatsApp number" in html
    assert "给我发送验证码" not in html


@pytest.mark.django_db
def test_bad_number_error_in_chinese(zh_client: Client, nxcloud: FakeNXCloud) -> None:
    response = zh_client.post(reverse("nxwa_onboarding:start"), {"phone_number": "+86 123", "method": "sms"})
    assert "这不是有效的 CN（+86）电话号码。请检查数字。" in text_of(response.content.decode())
    assert nxcloud.calls == []


@pytest.mark.django_db
def test_whole_flow_in_chinese(zh_client: Client, nxcloud: FakeNXCloud) -> None:
    response = zh_client.post(reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "sms"})
    assert shown(zh_client, response) == ["验证码正通过短信发送到 +86 138 0013 8000。"]
    registration = PhoneRegistration.objects.get()

    text = text_of(zh_client.get(registration.get_absolute_url()).content.decode())
    for words in (
        "输入验证码",
        "您还有 5 次机会。",
        "验证码将在10 分钟后",
        "重新发送验证码",
        "没收到验证码？",
    ):
        assert words in text
    assert english_words(text) == set()

    assert post_code(zh_client, registration, wrong_code(nxcloud)) == ["验证码不正确。您还有 4 次机会。"]
    [said] = act(zh_client, "send", registration, method="sms")
    assert said.startswith("未发送验证码。刚刚已发送过验证码。")
    assert said.endswith("秒后重试。")
    assert "UTC" not in said

    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    assert post_code(zh_client, registration, code) == [
        "您的号码已验证。",
        "我们正在为您的号码设置 WhatsApp。",
    ]
    text = text_of(zh_client.get(registration.get_absolute_url()).content.decode())
    assert "正在设置 WhatsApp" in text
    assert english_words(text) == set()

    for _ in range(3):
        follow_pass()  # the follower reads phoneList; the page only reads the database
        zh_client.post(url("refresh", registration))
    text = text_of(zh_client.get(registration.get_absolute_url()).content.decode())
    assert "全部完成" in text
    assert "商家名称：Sandbox Merchant" in text  # the name NXCloud reports, as it is
    assert english_words(text.replace("Sandbox Merchant", "")) == set()

    text = text_of(zh_client.get(reverse("nxwa_onboarding:list")).content.decode())
    assert "我的 WhatsApp 号码" in text
    assert "已注册" in text
    assert english_words(text) == set()


@pytest.mark.django_db
def test_calm_failure_messages_in_chinese(zh_client: Client, nxcloud: FakeNXCloud) -> None:
    nxcloud.fail("getCode", 1003)
    response = zh_client.post(reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "sms"})
    [said] = shown(zh_client, response)
    assert said.startswith("我们这边出了点问题")
    assert "1003" not in said


def test_a_refusal_reads_as_one_chinese_text_without_a_stray_space() -> None:
    from datetime import timedelta

    from django.utils import timezone, translation

    from nxwa_onboarding.texts import refusal_text

    now = timezone.now()
    with translation.override("zh-hans"):
        text = refusal_text("cooldown", now + timedelta(seconds=30), now)
    with translation.override("en"):
        english = refusal_text("cooldown", now + timedelta(seconds=30), now)
    assert "。 " not in text
    assert "。" in text
    assert english.startswith("A code was sent moments ago. You can try again in ")
