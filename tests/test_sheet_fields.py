"""The status row and tariff cells (tariff, charging year, assumptions, source, charges), written
by the workbook with the layout's formats, labels, notes and validation (bess-duos demo)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest
from bess_duos.core.lookup import parse_inputs, run_lookup
from bess_duos.webhook.cli import main
from bess_duos.webhook.layout import result_fields
from bess_duos.webhook.sheet_fields import assumptions, tariff_fields
from bess_duos.webhook.sheets import reset_ordering_state

DAY = dt.date(2026, 11, 30)
GOOD_14 = "1405566778898"
MIDE = "MIDE - Schedule of charges and other tables- 2026 V.0.1 for publishing.xlsx"


@pytest.mark.parametrize(
    ("raw", "tariff", "said"),
    [
        ({}, "LV Site Specific Band 1", "LV assumed; residual band 1 assumed"),
        ({"voltage": "HV"}, "HV Site Specific Band 1", "residual band 1 assumed"),
        ({"kva": "500"}, "LV Site Specific Band 4", "LV assumed"),
        ({"voltage": "HV", "kva": "500"}, "HV Site Specific Band 1", ""),
    ],
)
def test_assumptions_say_what_blank_inputs_became(raw: dict, tariff: str, said: str) -> None:
    result = run_lookup(parse_inputs({"mpan": GOOD_14, **raw}), on=DAY)
    assert result.tariff.tariff_name == tariff
    assert assumptions(result) == said


def test_an_llfc_that_chose_the_tariff_is_no_assumption() -> None:
    by_llfc = run_lookup(parse_inputs({"mpan": f"00 845 L04 {GOOD_14}", "kva": "500"}), on=DAY)
    assert by_llfc.tariff.tariff_name == "LV Site Specific Band 4"  # MIDE 2026: L04
    assert assumptions(by_llfc) == ""
    # an LLFC the tariffs do not know: the voltage's tariff, LV by default, is an assumption
    unknown = run_lookup(parse_inputs({"mpan": f"00 845 999 {GOOD_14}", "kva": "500"}), on=DAY)
    assert unknown.tariff.tariff_name == "LV Site Specific Band 4"
    assert "LLFC 999 is not in the published tariffs" in unknown.warnings[0]
    assert assumptions(unknown) == "LV assumed"


def test_the_status_row_and_charges_are_in_the_sheet_fields() -> None:
    fields = result_fields(run_lookup(parse_inputs({"mpan": GOOD_14}), on=DAY))
    assert fields["tariff_name"] == "LV Site Specific Band 1"
    assert fields["charging_year"] == "2026/27"
    assert fields["assumptions"] == "LV assumed; residual band 1 assumed"
    assert fields["tariff_source"] == f"{MIDE} / Annex 1 LV, HV and UMS charges / row 21"
    # MIDE 2026 schedule, Annex 1 row 21: fixed 129.59 p/day, capacity 10.66 p/kVA/day,
    # exceeded capacity 10.66 p/kVA/day, reactive 0.114 p/kvarh.
    assert [fields[k] for k in ("fixed_p_per_day", "capacity_p_per_kva_per_day",
                                "exceeded_capacity_p_per_kva_per_day",
                                "reactive_p_per_kvarh")] == [129.59, 10.66, 10.66, 0.114]
    failed = replace(run_lookup(parse_inputs({"mpan": GOOD_14}), on=DAY), tariff=None)
    assert set(tariff_fields(failed).values()) == {None}


def test_demo_workbook_shows_formats_labels_notes_and_the_status_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reset_ordering_state()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BESS_DUOS_WORKBOOK", raising=False)
    assert main(["demo"]) == 0
    capsys.readouterr()
    tab = openpyxl.load_workbook(tmp_path / "bess_sheet.xlsx")["BESS"]
    # The numbers, in £, % and p/kWh (the demo's office profile at NGED West Midlands).
    assert isinstance(tab["E15"].value, float) and tab["E15"].value > 1000
    assert tab["E15"].number_format == '"£"#,##0.00'
    assert tab["E16"].number_format == '"£"#,##0.00'
    assert 0 < tab["F16"].value < 100 and tab["F16"].number_format == '0.00"%"'
    assert [tab[c].number_format for c in ("B9", "C9", "D9")] == ['0.000" p/kWh"'] * 3
    # The status row: tariff, charging year, assumptions (no voltage or kVA given), source.
    assert tab["C4"].value == "LV Site Specific Band 1"
    assert tab["D4"].value == "2026/27"
    assert tab["E4"].value == "LV assumed; residual band 1 assumed"
    assert tab["F4"].value.endswith("/ Annex 1 LV, HV and UMS charges / row 21")
    assert tab["F4"].value.startswith("MIDE - Schedule of charges")
    # Fixed, capacity: MIDE 2026 schedule, Annex 1 row 21 (129.59 p/day, 10.66 p/kVA/day).
    assert [tab[c].value for c in ("E9", "F9")] == [129.59, 10.66]
    # Labels beside inputs and outputs, notes on outputs, validation on the voltage.
    assert (tab["C3"].value, tab["E14"].value, tab["B16"].value) == (
        "Tariff", "Annual DUoS £", "Flexible share")
    assert "annualised" in tab["E15"].comment.text
    assert "charging statement" in tab["B9"].comment.text
    rules = {str(v.sqref): v for v in tab.data_validations.dataValidation}
    assert rules["A9"].formula1 == '"LV,LV Sub,HV,EHV"'
    assert (rules["C16"].formula1, rules["C16"].formula2) == ("0", "1")
    assert tab["B6"].number_format == "@"
