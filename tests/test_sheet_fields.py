"""The status row and tariff cells: picked from the lookup's JSON answer, written by the workbook
with the layout's formats, labels, notes and validation (what `bess-duos demo` shows)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from bess_duos.webhook.cli import main
from bess_duos.webhook.sheet_fields import assumptions, sheet_fields
from bess_duos.webhook.sheets import reset_ordering_state

TARIFF = {
    "name": "LV Site Specific Band 1",
    "voltage_level": "LV",
    "charging_year": 2026,
    "fixed_p_per_day": 129.59,
    "capacity_p_per_kva_per_day": 10.66,
    "exceeded_capacity_p_per_kva_per_day": 10.66,
    "reactive_p_per_kvarh": 0.114,
    "residual_band": "1",
    "source": "MIDE - Schedule of charges 2026.xlsx / Annex 1 LV, HV and UMS charges / row 21",
    "selection_note": "",
}


def answer(voltage: str | None = None, kva: float | None = None, llfc: str | None = None,
           warnings: tuple[str, ...] = ()) -> dict:
    tariff = dict(TARIFF, voltage_level=voltage or "LV")
    return {"inputs": {"voltage": voltage, "kva": kva}, "mpan": {"llfc": llfc},
            "tariff": tariff, "warnings": list(warnings), "fields": {"status": "ok"}}


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({}, "LV assumed; residual band 1 assumed"),
        ({"voltage": "HV"}, "residual band 1 assumed"),
        ({"kva": 500.0}, "LV assumed"),
        ({"voltage": "HV", "kva": 500.0}, ""),
        ({"llfc": "123", "kva": 500.0}, ""),  # the LLFC chose the tariff
        ({"llfc": "999", "kva": 500.0, "warnings": ("No tariff for LLFC 999.",)}, "LV assumed"),
    ],
)
def test_assumptions_say_what_blank_inputs_became(kwargs: dict, said: str) -> None:
    assert assumptions(answer(**kwargs)) == said


def test_sheet_fields_add_the_tariff_details() -> None:
    fields = sheet_fields(answer())
    assert fields["status"] == "ok"
    assert fields["tariff_name"] == "LV Site Specific Band 1"
    assert fields["charging_year"] == "2026/27"
    assert fields["assumptions"] == "LV assumed; residual band 1 assumed"
    assert fields["tariff_source"] == TARIFF["source"]
    assert fields["fixed_p_per_day"] == 129.59
    assert fields["capacity_p_per_kva_per_day"] == 10.66
    blank = sheet_fields({"fields": {"status": "error"}, "tariff": None})
    assert blank["tariff_name"] is blank["charging_year"] is blank["assumptions"] is None


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
