"""The Flask app through its test client: endpoints, auth, errors, logs, OpenAPI, sheet writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from bess_duos.core.area_resolver import AreaResult, ServiceUnavailableError
from bess_duos.core.distributors import get_distributor
from bess_duos.core.lookup import INPUT_FIELDS
from bess_duos.core.mpan import generate_core
from bess_duos.core.postcodes import Postcode
from bess_duos.core.tariffs import resolve_tariff
from bess_duos.webhook.app import create_app
from bess_duos.webhook.auth import SECRET_ENV, MissingSecretError, signed_headers
from bess_duos.webhook.logging_setup import JsonFormatter, mask_mpans
from bess_duos.webhook.routes import CONTROL_FIELDS
from bess_duos.webhook.sheets import reset_ordering_state
from bess_duos.webhook.workbook_sheet import WorkbookSheet
from flask.testing import FlaskClient

SECRET = "app-test-secret-0123456789abcdefgh"
SEED = "00800999932 1405566778899"
DAY = dt.date(2026, 11, 24)
AREAS = {"B": "_E", "SW": "_C", "M": "_G"}  # postcode area -> GSP group, for these tests only


@pytest.fixture(autouse=True)
def _fresh_ordering_state() -> None:
    """Fresh sheet-write ordering state for every test."""
    reset_ordering_state()


def fake_area(pc: Postcode) -> AreaResult:
    group = AREAS[pc.area]
    return AreaResult(pc, group, (group,), "test", "test", "postcode", "high", False,
                      dt.datetime.now(dt.UTC))


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return tmp_path / "bess_sheet.xlsx"


@pytest.fixture
def client(workbook: Path) -> FlaskClient:
    app = create_app({"WEBHOOK_SECRET": SECRET, "WORKBOOK_PATH": str(workbook),
                      "AREA_LOOKUP": fake_area, "LOOKUP_DATE": DAY})
    return app.test_client()


def post(client: FlaskClient, path: str, payload: Any, **kwargs: Any) -> Any:
    body = json.dumps(payload).encode()
    headers = signed_headers(SECRET, body, path=path, **kwargs)
    return client.post(path, data=body, headers=headers, content_type="application/json")


def cells(path: Path, a1: str) -> list[list[object]]:
    return WorkbookSheet(path).read_range(a1)


# --- simple endpoints -------------------------------------------------------------------


def test_health_ready_and_request_id(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert len(response.headers["X-Request-Id"]) == 16
    ready = client.get("/ready", headers={"X-Request-Id": "abc-123"})
    assert ready.status_code == 200 and ready.json["status"] == "ready"
    assert ready.headers["X-Request-Id"] == "abc-123"
    assert set(ready.json["checks"]) == {"layout", "distributors", "tariffs"}


def test_dnos_lists_distributors_with_tariff_years(client: FlaskClient) -> None:
    rows = {d["distributor_id"]: d for d in client.get("/dnos").json["distributors"]}
    assert rows[14]["short_code"] == get_distributor(14).short_code == "NGED-WM"
    assert rows[14]["mpid"] == "MIDE" and rows[14]["gsp_group_id"] == "_E"
    assert 2025 in rows[14]["tariff_years"]
    assert rows[24]["is_idno"] and rows[24]["tariff_years"] is None
    assert set(range(10, 24)) <= set(rows)


def test_openapi_matches_routes(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    routes = {
        (rule.rule, method.lower())
        for rule in client.application.url_map.iter_rules() if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert routes == documented
    assert not any(path.rstrip("/").endswith("z") for path, _ in routes)  # Cloud Run reserves
    request = spec["components"]["schemas"]["LookupRequest"]["properties"]
    assert set(request) == set(INPUT_FIELDS) | set(CONTROL_FIELDS)
    lookup = spec["paths"]["/lookup"]["post"]
    assert {"200", "400", "401", "403", "422", "500", "502"} <= set(lookup["responses"])
    assert lookup["security"] and spec["paths"]["/mpan/validate"]["post"]["security"]
    for path, ops in spec["paths"].items():
        for op in ops.values():
            for response in op["responses"].values():
                ref = json.dumps(response)
                for name in ("Error", "LookupRequest", "LookupResponse"):
                    if f"schemas/{name}" in ref:
                        assert name in spec["components"]["schemas"], path


def test_no_secret_refuses_to_start_unless_insecure_dev(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(MissingSecretError):
        create_app()
    with caplog.at_level(logging.WARNING):
        app = create_app({"INSECURE_DEV": True, "LOOKUP_DATE": DAY})
    assert "INSECURE DEV MODE" in caplog.text
    response = app.test_client().post("/mpan/validate", json={"mpan": "1405566778898"})
    assert response.status_code == 200 and response.json["valid"] is True
    monkeypatch.setenv(SECRET_ENV, "from-env-0123456789abcdefghijklmnop")
    env_app = create_app()
    assert env_app.test_client().post("/mpan/validate", json={"mpan": "x"}).status_code == 401


# --- /mpan/validate ------------------------------------------------------------------------


def test_mpan_validate(client: FlaskClient) -> None:
    seed = post(client, "/mpan/validate", {"mpan": SEED})
    assert seed.status_code == 200
    assert seed.json["valid"] is False
    assert "expected 8" in seed.json["reason"]
    assert seed.json["mpan"]["distributor_id"] == 14 and seed.json["mpan"]["core"] == (
        "1405566778899")
    good = post(client, "/mpan/validate", {"mpan": "1405566778898"})
    assert good.json["valid"] is True and good.json["reason"] is None
    bad = post(client, "/mpan/validate", {"mpan": "14055667788"})
    assert bad.status_code == 400 and "mpan" in bad.json["fields"]
    assert client.post("/mpan/validate", json={"mpan": SEED}).status_code == 401


# --- /lookup -----------------------------------------------------------------------------


def test_lookup_seed_without_profile_names_14_and_warns(client: FlaskClient, workbook: Path
                                                        ) -> None:
    response = post(client, "/lookup", {"mpan": SEED})
    assert response.status_code == 200, response.json
    data = response.json
    tariff = resolve_tariff(14, on=DAY)
    assert data["status"] == "warning"
    assert "check digit" in data["message"] and "expected 8" in data["message"]
    fields = data["fields"]
    assert fields["distributor_id"] == 14 and fields["short_code"] == "NGED-WM"
    assert (fields["red_rate_p_per_kwh"], fields["amber_rate_p_per_kwh"],
            fields["green_rate_p_per_kwh"]) == tariff.unit_rates_p_per_kwh
    assert fields["red_period_1"] == tariff.time_bands.describe("red")[0]
    assert fields["annual_duos_gbp"] is None and fields["flex_value_gbp_per_year"] is None
    assert data["written"]["ranges"] == ["A4:H4", "C6:H6", "B9:D9", "E9:H9", "B10:D13", "E15:H15",
                                         "E16:F16"]
    assert cells(workbook, "A4:B4")[0][0] == "warning"
    assert cells(workbook, "C6:E6") == [[14, get_distributor(14).name, "NGED-WM"]]
    assert cells(workbook, "B9:D9") == [list(tariff.unit_rates_p_per_kwh)]
    assert cells(workbook, "H4:H4") == [[data["request_id"]]]


def test_lookup_write_false_writes_nothing(client: FlaskClient, workbook: Path) -> None:
    response = post(client, "/lookup", {"mpan": "1405566778898", "write": False})
    assert response.status_code == 200 and response.json["status"] == "ok"
    assert response.json["written"] is None
    assert not workbook.exists()


def test_lookup_postcode_rules(client: FlaskClient) -> None:
    only_postcode = post(client, "/lookup", {"postcode": "M1 1AE", "write": False}).json
    assert only_postcode["fields"]["distributor_id"] == 16  # _G North Western: ENWL
    assert only_postcode["fields"]["gsp_group_id"] == "_G"
    disagree = post(client, "/lookup", {"mpan": "1405566778898", "postcode": "SW1A 1AA",
                                        "write": False}).json
    assert disagree["fields"]["distributor_id"] == 14 and disagree["status"] == "warning"
    assert "using the MPAN's area" in disagree["message"]
    idno = post(client, "/lookup", {"mpan": "2451182162479", "postcode": "B1 1AA",
                                    "write": False})
    assert idno.status_code == 200, idno.json
    assert idno.json["fields"]["distributor_id"] == 24
    assert idno.json["fields"]["gsp_group_id"] == "_E"
    tariff = resolve_tariff(24, on=DAY, area_distributor_id=14)
    assert idno.json["fields"]["red_rate_p_per_kwh"] == tariff.red_rate
    no_postcode = post(client, "/lookup", {"mpan": "2451182162479", "write": False})
    assert no_postcode.status_code == 400 and "postcode" in no_postcode.json["fields"]


def offline_area(pc: Postcode) -> AreaResult:
    """The postcode service unreachable and nothing cached (as when the webhook is offline)."""
    raise ServiceUnavailableError(
        f"no area for {pc.unit}: the online services are unavailable and nothing is cached",
        advice="try again when online, or enter the MPAN (a DNO MPAN names its area)")


def test_lookup_idno_with_gsp_group_offline(workbook: Path) -> None:
    app = create_app({"WEBHOOK_SECRET": SECRET, "WORKBOOK_PATH": str(workbook),
                      "AREA_LOOKUP": offline_area, "LOOKUP_DATE": DAY})
    client = app.test_client()
    idno = generate_core(25)
    assert get_distributor(idno[:2]).is_idno
    response = post(client, "/lookup", {"mpan": idno, "gsp_group": "_E", "write": False})
    assert response.status_code == 200, response.json
    data = response.json
    assert data["status"] == "ok" and data["inputs"]["gsp_group"] == "_E"
    assert data["site_area"]["source"] == "gsp_group"
    fields = data["fields"]
    assert (fields["distributor_id"], fields["gsp_group_id"]) == (25, "_E")
    tariff = resolve_tariff(25, on=DAY, area_distributor_id=14)
    assert fields["red_rate_p_per_kwh"] == tariff.red_rate
    # the postcode alone cannot be resolved offline: the advice names the GSP group
    refused = post(client, "/lookup", {"mpan": idno, "postcode": "B1 1AA", "write": False})
    assert refused.status_code == 400
    assert refused.json["fields"]["postcode"].endswith(
        "enter the site's GSP group (e.g. _E) or try again when the postcode service is "
        "reachable")
    bad = post(client, "/lookup", {"mpan": idno, "gsp_group": "_X", "write": False})
    assert bad.status_code == 400 and "unknown GSP group" in bad.json["fields"]["gsp_group"]


def test_bad_inputs_give_400_naming_each_field_and_status_only(
    client: FlaskClient, workbook: Path
) -> None:
    post(client, "/lookup", {"mpan": "1405566778898"})  # a good result in the outputs first
    before = cells(workbook, "C6:H16")
    response = post(client, "/lookup", {"mpan": "14-ABC", "voltage": "MV", "kva": "-5",
                                        "flex_fraction": "150%", "postcode": "XX"})
    assert response.status_code == 400
    assert set(response.json["fields"]) == {"mpan", "voltage", "kva", "flex_fraction",
                                            "postcode"}
    assert response.json["request_id"]
    status = cells(workbook, "A4:H4")[0]
    assert status[0] == "error" and "voltage" in status[1] and "kva" in status[1]
    assert cells(workbook, "C6:H16") == before
    unknown = post(client, "/lookup", {"mpan": "1405566778898", "colour": "red"})
    assert unknown.status_code == 400 and unknown.json["fields"] == {"colour": "unknown field"}
    not_json = client.post("/lookup", data=b"[1]", headers=signed_headers(SECRET, b"[1]"))
    assert not_json.status_code == 400


def test_auth_failures_write_nothing(client: FlaskClient, workbook: Path) -> None:
    body = json.dumps({"mpan": SEED}).encode()
    bad = signed_headers("wrong-secret-0123456789abcdefghijklm", body)
    assert client.post("/lookup", data=body, headers=bad).status_code == 401
    stale = signed_headers(SECRET, body, timestamp=int(dt.datetime.now().timestamp()) - 301)
    response = client.post("/lookup", data=body, headers=stale)
    assert response.status_code == 401 and "300 s" in response.json["error"]
    good = signed_headers(SECRET, body)
    assert client.post("/lookup", data=body, headers={**good}).status_code == 200
    modified = workbook.stat().st_mtime_ns
    replay = client.post("/lookup", data=body, headers=good)
    assert replay.status_code == 401 and "replay" in replay.json["error"]
    assert workbook.stat().st_mtime_ns == modified


def test_profile_link_refused_gives_422_naming_link(client: FlaskClient, workbook: Path
                                                    ) -> None:
    response = post(client, "/lookup", {"mpan": "1405566778898",
                                        "profile_url": "https://10.0.0.1/p.csv?key=abc"})
    assert response.status_code == 422
    assert response.json["link"] == "https://10.0.0.1/p.csv?…"
    assert response.json["rule"] == "public addresses only"
    assert "10.0.0.1" in cells(workbook, "B4:B4")[0][0]


def test_spreadsheet_allowlist_enforced_first(client: FlaskClient,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BESS_DUOS_SPREADSHEET_ALLOWLIST", "allowedSheet1")
    response = post(client, "/lookup", {"mpan": SEED, "spreadsheet_id": "otherSheet99"})
    assert response.status_code == 403 and "spreadsheet_id" in response.json["fields"]
    bad_id = post(client, "/lookup", {"mpan": SEED, "spreadsheet_id": "no/slashes"})
    assert bad_id.status_code == 400 and "spreadsheet_id" in bad_id.json["fields"]


def test_internal_fault_is_500_with_request_id_and_no_trace(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, workbook: Path
) -> None:
    import bess_duos.webhook.compute as app_module

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals at /srv/key.json")

    monkeypatch.setattr(app_module, "run_lookup", boom)
    response = post(client, "/lookup", {"mpan": SEED})
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "secret internals" not in text
    assert response.json["request_id"] == response.headers["X-Request-Id"]
    assert cells(workbook, "A4:A4") == [["error"]]
    assert cells(workbook, "H4:H4") == [[response.json["request_id"]]]


# --- logs ----------------------------------------------------------------------------------


def test_logs_are_json_with_request_id_and_masked_mpans(client: FlaskClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.INFO)
    try:
        response = post(client, "/lookup", {"mpan": SEED, "write": False})
        logging.getLogger("x").info("typed %s", "00 845 121 14 0556 6778 899",
                                    extra={"webhook_secret": "abc", "core": "1405566778899"})
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "no log lines"
    done = next(line for line in lines if line["message"] == "lookup done")
    assert done["request_id"] == response.json["request_id"]
    assert done["mpan"] == "14*********99"
    text = stream.getvalue()
    assert "1405566778899" not in text and "0556 6778" not in text
    last = lines[-1]
    assert last["webhook_secret"] == "***" and last["message"] == "typed 00*****************99"
    assert mask_mpans("call 1405566778899 now, not 12345") == "call 14*********99 now, not 12345"


def test_log_lines_carry_no_colour_codes_and_warnings_are_logged() -> None:
    """Issue 20 item 9: werkzeug's request lines came with ANSI colours; warnings bypassed
    the JSON log."""
    import warnings

    from bess_duos.webhook.logging_setup import configure_logging

    stream = io.StringIO()
    root = logging.getLogger()
    old = root.level
    try:
        configure_logging(stream=stream)
        logging.getLogger("werkzeug").info('"%s" %s', "\x1b[31m\x1b[1mPOST /lookup\x1b[0m", 401)
        warnings.warn("mean of empty slice", RuntimeWarning, stacklevel=1)
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_bess_duos_json", False):
                root.removeHandler(handler)
        logging.captureWarnings(False)
        root.setLevel(old)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == '"POST /lookup" 401'
    assert "\x1b" not in stream.getvalue()
    assert lines[1]["logger"] == "py.warnings" and "mean of empty slice" in lines[1]["message"]


def test_json_safe_turns_nan_and_numpy_into_plain_json() -> None:
    import numpy as np
    from bess_duos.core.plain import json_safe

    assert json_safe({"a": float("nan"), "b": [np.int64(3), np.float64(1.5), float("inf")],
                      "c": (1, "x")}) == {"a": None, "b": [3, 1.5, None], "c": [1, "x"]}
    assert type(json_safe(np.int64(3))) is int


def test_compute_pool_gives_the_same_answers(workbook: Path) -> None:
    """With worker processes the lookup (and a failure's pickled result) is the same."""
    config = {"WEBHOOK_SECRET": SECRET, "WORKBOOK_PATH": str(workbook),
              "AREA_LOOKUP": fake_area, "LOOKUP_DATE": DAY}
    pooled = create_app({**config, "COMPUTE_PROCESSES": 1})
    try:
        here = post(create_app(config).test_client(), "/lookup",
                    {"mpan": SEED, "kva": 300, "write": False}).json
        there = post(pooled.test_client(), "/lookup",
                     {"mpan": SEED, "kva": 300, "write": False}).json
        assert {k: v for k, v in there["fields"].items() if k not in ("time", "request_id")} == \
            {k: v for k, v in here["fields"].items() if k not in ("time", "request_id")}
        context = pooled.extensions["bess_duos"]
        pooled.extensions["bess_duos"] = dataclasses.replace(
            context, lookup_date=dt.date(2021, 6, 1))  # no charging year shipped
        failed = post(pooled.test_client(), "/lookup", {"mpan": SEED, "write": False})
        assert failed.status_code == 422 and "no tariff" in failed.json["error"]
        assert failed.json["result"]["fields"]["distributor_id"] == 14
    finally:
        pooled.extensions["bess_duos_pool"].shutdown()
