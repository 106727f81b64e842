"""Issue 13 items 1 and 10 (inputs): every text input is capped before any parsing, the MPAN
patterns are linear, and out-of-range numbers, links and dates are a 4xx naming the field.

Through the real app served on loopback (werkzeug in a thread), signed as the sheet signs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from bess_duos.core.lookup import MAX_INPUT_CHARS, InputErrors, parse_inputs
from bess_duos.core.mpan import MAX_MPAN_CHARS, MpanError, mpan_from_cell, parse_mpan
from bess_duos.webhook.auth import signed_headers

from tests.loopback import FileServer, Webhook, file_server, serving

SECRET = "hardening-inputs-secret-0123456789abcdef"
MPAN = "1405566778898"


@pytest.fixture
def files() -> Iterator[FileServer]:
    with file_server() as server:
        yield server


@pytest.fixture
def hook(files: FileServer) -> Iterator[Webhook]:
    with serving(SECRET, files) as webhook:
        yield webhook


def post(hook: Webhook, body: bytes | dict[str, Any], path: str = "/lookup"
         ) -> requests.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(hook.url + path, data=raw, timeout=60,
                         headers={**signed_headers(SECRET, raw, path=path),
                                  "Content-Type": "application/json"})


def test_a_65500_digit_mpan_is_refused_by_length_naming_the_field(hook: Webhook) -> None:
    """Today: 36 s of CPU in the request thread, then accepted (the pasted digits ignored)."""
    response = post(hook, {"mpan": "1" * 65_500, "write": False})
    assert response.status_code == 400
    assert "65,500 characters" in response.json()["fields"]["mpan"]
    validate = post(hook, {"mpan": "1" * 65_500}, path="/mpan/validate")
    assert validate.status_code == 400 and "65,500 characters" in validate.json()["fields"]["mpan"]


@pytest.mark.parametrize("name", ["kva", "flex_fraction"])
def test_an_integer_of_310_digits_is_400_not_500(hook: Webhook, name: str) -> None:
    raw = b'{"mpan": "%s", "%s": 1%s, "write": false}' % (MPAN.encode(), name.encode(),
                                                          b"0" * 309)
    response = post(hook, raw)
    assert response.status_code == 400, response.text
    assert list(response.json()["fields"]) == [name]


def test_an_mpan_with_a_huge_exponent_is_400(hook: Webhook) -> None:
    for path in ("/lookup", "/mpan/validate"):
        body: dict[str, Any] = {"mpan": "1e999999999999999999"}
        if path == "/lookup":
            body["write"] = False
        response = post(hook, body, path)
        assert response.status_code == 400, response.text
        assert "not a 13-digit whole number" in response.json()["fields"]["mpan"]


def test_a_malformed_ipv6_link_is_400_naming_profile_url(hook: Webhook) -> None:
    response = post(hook, {"mpan": MPAN, "profile_url": "https://[::1/x", "write": False})
    assert response.status_code == 400, response.text
    assert "not a well-formed address" in response.json()["fields"]["profile_url"]


def test_a_profile_dated_year_1_is_422_naming_the_row(hook: Webhook, files: FileServer) -> None:
    files.serve_bytes("/y1.csv", b"timestamp,kwh\n0001-01-01T00:00:00Z,1\n"
                                 b"0001-01-01T00:30:00Z,2\n")
    response = post(hook, {"mpan": MPAN, "profile_url": files.url("/y1.csv"), "write": False})
    assert response.status_code == 422, response.text
    assert "row 1: '0001-01-01T00:00:00Z' is outside the years 1900-2199" in \
        response.json()["error"]


@pytest.mark.parametrize("name", sorted(MAX_INPUT_CHARS))
def test_every_text_input_is_capped_before_parsing(name: str) -> None:
    limit = MAX_INPUT_CHARS[name]
    with pytest.raises(InputErrors) as caught:
        parse_inputs({"mpan": MPAN, name: "9" * (limit + 1)})
    assert list(caught.value.errors) == [name]
    assert f"{limit + 1:,} characters long: at most {limit}" in caught.value.errors[name]


def test_mpan_functions_refuse_long_text_themselves() -> None:
    for parse in (parse_mpan, mpan_from_cell):
        with pytest.raises(MpanError, match=f"at most {MAX_MPAN_CHARS}"):
            parse("1" * (MAX_MPAN_CHARS + 1))
    with pytest.raises(MpanError, match="over 64 digits"):
        parse_mpan(10**70)
    # the cap leaves room for what people paste: a full MPAN with spaces and an S prefix
    assert parse_mpan("S 00 845 121 14 0556 6778 899").core == "1405566778899"


def test_scientific_mpan_text_still_reads_as_before() -> None:
    with pytest.raises(MpanError, match="shows only 12 significant digits"):
        mpan_from_cell("1.40556677889E+12")
    assert mpan_from_cell("1405566778898.0").core == "1405566778898"
    assert mpan_from_cell("1,405,566,778,898").core == "1405566778898"


@pytest.mark.parametrize("value", [["1405566778898"], {"core": "1405566778898"}])
def test_a_json_list_or_object_is_refused_by_type(value: object) -> None:
    for name in MAX_INPUT_CHARS:
        with pytest.raises(InputErrors) as caught:
            parse_inputs({"mpan": MPAN, name: value} if name != "mpan" else {"mpan": value})
        assert caught.value.errors[name].endswith(f"must be text or a number, not a JSON "
                                                  f"{type(value).__name__}")


def test_an_absent_input_is_the_same_as_a_blank_one() -> None:
    """`parse_inputs` reads only the fields given: on seeded random mixes of good, bad, blank
    and too-long values, leaving a field out gives what giving it as None or "" gives (the same
    inputs, or the same errors in the same order)."""
    import random

    from bess_duos.core.lookup import INPUT_FIELDS, InputErrors, parse_inputs

    choices: dict[str, list[object]] = {
        "mpan": ["1405566778898", "1405566778899", "00 845 121 1405566778898", "14055667788",
                 "x" * 70, 1405566778898, 1.405566778898e12, [1], "99 0556 6778 898"],
        "postcode": ["B1 1AA", "nowhere", 12, "B" * 40],
        "gsp_group": ["_E", "E", "_Z", 5],
        "voltage": ["HV", "lv sub", "mains", 11],
        "kva": ["500", "500 kVA", "1,000", "-3", "lots", 250, True],
        "flex_fraction": ["30%", 0.3, 30, "150%", "half", -1],
        "profile_url": ["https://example.com/p.csv", "https://x:99999/p", 7],
        "tariff_name": ["LV Site Specific Band 2", 3],
        "tz": ["UTC", "utc", "Mars/Base"],
        "resample": ["split", "aggregate", "sometimes"],
        "battery_power_kw": ["100", "-1"],
        "battery_energy_kwh": ["200", "x"],
    }

    def outcome(raw: dict[str, object]) -> object:
        try:
            return parse_inputs(raw)
        except InputErrors as exc:
            return list(exc.errors.items())

    rng = random.Random(18_5)
    for _ in range(300):
        fields = rng.sample(sorted(choices), rng.randint(0, 5))
        raw = {name: rng.choice(choices[name]) for name in fields}
        expected = outcome(raw)
        for blank in (None, "", "  "):
            padded = {name: raw.get(name, blank) for name in INPUT_FIELDS}
            assert outcome(padded) == expected, (raw, blank)
