"""``compute_sign``/``verify_sign`` against NXCloud's published examples and documented rules."""

from __future__ import annotations

import hashlib

import pytest

from nxwa_onboarding.nxcloud.signing import compute_sign, verify_sign

# The worked example of NXCloud's "API Interface Invocation Convention" page (nxcloud-doc-en wiki).
EXAMPLE_HEADERS = {"accessKey": "fme2na3kdi3ki", "action": "send", "bizType": "1", "ts": "1655710885431"}
EXAMPLE_SECRET = "abciiiko2k3"


@pytest.mark.parametrize(
    ("body", "published_sign"),
    [
        ('{"name":"牛小信","id":10001}', "87c3560d3331ae23f1021e2025722354"),
        ('{"id":10001,"name":"牛小信"}', "7750759da06333f20d0640be09355e34"),
        ('{"id": 10001, "name": "牛小信"}', "d0c24a9886c629330d7f3f2056c65bc2"),
    ],
    ids=["name-first", "id-first", "with-spaces"],
)
def test_published_examples(body: str, published_sign: str) -> None:
    assert compute_sign(EXAMPLE_HEADERS, body, EXAMPLE_SECRET) == published_sign
    assert compute_sign(EXAMPLE_HEADERS, body, EXAMPLE_SECRET, "md5") == published_sign


def test_key_order_and_spacing_change_the_sign() -> None:
    # Why the client must sign the exact text it sends: same JSON value, three different signs.
    signs = {
        compute_sign(EXAMPLE_HEADERS, body, EXAMPLE_SECRET)
        for body in (
            '{"name":"牛小信","id":10001}',
            '{"id":10001,"name":"牛小信"}',
            '{"id":10001,"name":"\\u725b\\u5c0f\\u4fe1"}',
        )
    }
    assert len(signs) == 3


def test_empty_body_skips_the_body_part() -> None:
    documented = "accessKey=fme2na3kdi3ki&action=send&bizType=1&ts=1655710885431&accessSecret=abciiiko2k3"
    expected = hashlib.md5(documented.encode()).hexdigest()  # noqa: S324 (NXCloud's scheme)
    assert compute_sign(EXAMPLE_HEADERS, "", EXAMPLE_SECRET) == expected
    with_empty_body_part = hashlib.md5(  # noqa: S324
        documented.replace("&accessSecret", "&body=&accessSecret").encode()
    ).hexdigest()
    assert compute_sign(EXAMPLE_HEADERS, "", EXAMPLE_SECRET) != with_empty_body_part


def test_other_headers_are_ignored() -> None:
    body = '{"id":10001,"name":"牛小信"}'
    noisy = {
        **EXAMPLE_HEADERS,
        "sign": "6e9506557d1f289501d333ee2c365826",
        "algorithm": "md5",
        "Content-Type": "application/json",
        "User-Agent": "x",
    }
    assert compute_sign(noisy, body, EXAMPLE_SECRET) == "7750759da06333f20d0640be09355e34"


@pytest.mark.parametrize("name", ["accessKey", "action", "bizType", "ts"])
def test_every_signed_header_counts(name: str) -> None:
    body = '{"id":10001,"name":"牛小信"}'
    changed = {**EXAMPLE_HEADERS, name: EXAMPLE_HEADERS[name] + "0"}
    assert compute_sign(changed, body, EXAMPLE_SECRET) != "7750759da06333f20d0640be09355e34"


def test_secret_counts() -> None:
    body = '{"id":10001,"name":"牛小信"}'
    assert compute_sign(EXAMPLE_HEADERS, body, EXAMPLE_SECRET + "x") != "7750759da06333f20d0640be09355e34"


@pytest.mark.parametrize("algorithm", ["sha256", "SHA256"])
def test_sha256(algorithm: str) -> None:
    # NXCloud publishes no sha256 example: the expected value is hashlib's sha256 over the string
    # the page documents (the same string that yields the published md5 examples).
    body = '{"id":10001,"name":"牛小信"}'
    documented = (
        "accessKey=fme2na3kdi3ki&action=send&bizType=1&ts=1655710885431"
        '&body={"id":10001,"name":"牛小信"}&accessSecret=abciiiko2k3'
    )
    assert hashlib.md5(documented.encode()).hexdigest() == "7750759da06333f20d0640be09355e34"  # noqa: S324
    sign = compute_sign(EXAMPLE_HEADERS, body, EXAMPLE_SECRET, algorithm)
    assert sign == hashlib.sha256(documented.encode("utf-8")).hexdigest()
    assert len(sign) == 64
    assert sign == sign.lower()


@pytest.mark.parametrize("algorithm", ["sha1", "hmac-md5", "", "md 5"])
def test_unknown_algorithm_is_a_value_error(algorithm: str) -> None:
    with pytest.raises(ValueError, match="unknown sign algorithm"):
        compute_sign(EXAMPLE_HEADERS, "", EXAMPLE_SECRET, algorithm)


def test_unknown_algorithm_error_does_not_carry_the_secret() -> None:
    with pytest.raises(ValueError, match="unknown sign algorithm") as info:
        compute_sign(EXAMPLE_HEADERS, "{}", EXAMPLE_SECRET, "sha1")
    assert EXAMPLE_SECRET not in str(info.value)
    assert EXAMPLE_SECRET not in repr(info.value)


class TestVerifySign:
    body = '{"name":"牛小信","id":10001}'
    sign = "87c3560d3331ae23f1021e2025722354"

    def test_accepts_the_published_sign(self) -> None:
        assert verify_sign(EXAMPLE_HEADERS, self.body, EXAMPLE_SECRET, self.sign)

    def test_accepts_uppercase_hex(self) -> None:
        assert verify_sign(EXAMPLE_HEADERS, self.body, EXAMPLE_SECRET, self.sign.upper())

    @pytest.mark.parametrize(
        ("body", "secret", "sign"),
        [
            ('{"id":10001,"name":"牛小信"}', EXAMPLE_SECRET, sign),  # same value, other bytes
            (body, EXAMPLE_SECRET + "x", sign),
            (body, EXAMPLE_SECRET, sign[:-1] + "5"),
            (body, EXAMPLE_SECRET, ""),
            (body, EXAMPLE_SECRET, sign + "00"),
        ],
        ids=["other-bytes", "other-secret", "one-digit-off", "empty", "too-long"],
    )
    def test_rejects(self, body: str, secret: str, sign: str) -> None:
        assert not verify_sign(EXAMPLE_HEADERS, body, secret, sign)

    def test_rejects_non_ascii_sign_instead_of_crashing(self) -> None:
        # The sandbox verifies inbound requests: a caller controls this header.
        assert not verify_sign(EXAMPLE_HEADERS, self.body, EXAMPLE_SECRET, "87c3560d3331ae23f1021e20257223é4")

    def test_sha256(self) -> None:
        sign = compute_sign(EXAMPLE_HEADERS, self.body, EXAMPLE_SECRET, "sha256")
        assert verify_sign(EXAMPLE_HEADERS, self.body, EXAMPLE_SECRET, sign, "sha256")
        assert not verify_sign(EXAMPLE_HEADERS, self.body, EXAMPLE_SECRET, sign, "md5")
        assert not verify_sign(EXAMPLE_HEADERS, self.body, EXAMPLE_SECRET, self.sign, "sha256")
