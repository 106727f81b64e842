"""The CLI's shared parts: the exit-code table, the error translation and `emit`."""

from __future__ import annotations

import argparse
import io
import json

import pytest
from bess_duos.core.area_resolver import ServiceUnavailableError, UnknownDistrictError
from bess_duos.core.tariffs import TariffNotFoundError
from bess_duos.webhook.cli import main
from bess_duos.webhook.cli.errors import EXIT_CODES, CliError, as_cli_error
from bess_duos.webhook.cli.output import emit
from bess_duos.webhook.profile_links import RULE_HTTPS, RULE_UNREACHABLE, ProfileLinkError


def test_the_exit_code_table() -> None:
    assert sorted(EXIT_CODES) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        CliError("ok is not an error", 0)


@pytest.mark.parametrize(("exc", "code", "kind"), [
    (TariffNotFoundError("no tariff"), 3, "tariff_not_found"),
    (ServiceUnavailableError("down"), 3, "service_unavailable"),
    (UnknownDistrictError("ZZ9"), 3, "unknown_district"),
    (ProfileLinkError("https://h.test/p.csv", RULE_UNREACHABLE, "refused"), 3, "profile_link"),
    (ProfileLinkError("http://h.test/p.csv", RULE_HTTPS, "scheme 'http'"), 2, "profile_link"),
    (ValueError("bad"), 2, "value"),
])
def test_core_errors_become_one_cli_error(exc: Exception, code: int, kind: str) -> None:
    error = as_cli_error(exc)
    assert error is not None and (error.exit_code, error.kind) == (code, kind)
    assert error.message == str(exc)


@pytest.mark.parametrize("exc", [KeyError("x"), IndexError(1), TypeError("bug")])
def test_faults_are_not_translated(exc: Exception) -> None:
    assert as_cli_error(exc) is None  # a programming fault keeps its traceback


def _args(*flags: str) -> argparse.Namespace:
    return argparse.Namespace(json="--json" in flags, csv="--csv" in flags)


def test_emit_text_json_csv() -> None:
    rows = [{"a": 1, "b": {"c": float("nan"), "d": [1, 2]}}, {"a": 2, "b": {"c": 0.5, "d": []}}]
    out = io.StringIO()
    emit(_args("--json"), rows, out=out)
    assert json.loads(out.getvalue()) == [{"a": 1, "b": {"c": None, "d": [1, 2]}},
                                          {"a": 2, "b": {"c": 0.5, "d": []}}]
    out = io.StringIO()
    emit(_args("--csv"), rows, out=out)
    assert out.getvalue().splitlines() == ["a,b.c,b.d", "1,,1; 2", "2,0.5,"]
    out = io.StringIO()
    emit(_args(), {"name": "x", "ok": True}, out=out)
    assert out.getvalue() == "name  x\nok    yes\n"
    out = io.StringIO()
    emit(_args(), rows, fields=("a",), text=lambda: "custom", out=out)
    assert out.getvalue() == "custom\n"


def test_json_and_csv_cannot_both_be_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dno", "list", "--json", "--csv"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "  3  not found or unavailable" in capsys.readouterr().out
