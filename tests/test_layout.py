"""The sheet layout table: the shipped cell map, validation, and fields <-> cell blocks."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import yaml
from bess_duos.core.lookup import parse_inputs, run_lookup
from bess_duos.core.mpan import generate_cores
from bess_duos.core.paths import config_dir
from bess_duos.core.synthetic import generate_profile
from bess_duos.webhook.layout import (
    LayoutError,
    cell_name,
    cell_value,
    column_index,
    column_letters,
    default_layout,
    layout_from_dict,
    load_layout,
    parse_range,
    result_fields,
    result_json,
)


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((config_dir() / "sheet_layout.yaml").read_text())


def test_shipped_layout_is_designs_cell_map() -> None:
    layout = load_layout()
    assert dict(layout.inputs) == {
        "postcode": "A6",
        "mpan": "B6",
        "voltage": "A9",
        "profile_url": "B15",
        "kva": "C15",
        "flex_fraction": "C16",
    }
    assert layout.output_ranges == (
        "A4:H4", "C6:H6", "B9:D9", "E9:H9", "B10:D13", "E15:H15", "E16:F16")
    assert layout.status_range == "A4:H4"
    assert layout.status_block.fields == (
        ("status", "message", "tariff_name", "charging_year", "assumptions", "tariff_source",
         "time", "request_id"),
    )
    assert len(layout.output_fields) == 8 + 6 + 3 + 4 + 12 + 4 + 2
    assert default_layout() is default_layout()


def test_output_blocks_keep_numbers_and_clear_missing_fields() -> None:
    layout = load_layout()
    blocks = layout.output_blocks(
        {
            "status": "ok",
            "dno_name": "National Grid Electricity Distribution (West Midlands)",
            "distributor_id": "14",
            "red_rate_p_per_kwh": np.float64(12.345),
            "amber_rate_p_per_kwh": np.int64(2),
            "green_rate_p_per_kwh": None,
            "red_period_1": "Mon–Fri 16:00–19:00",
            "annual_duos_gbp": float("nan"),
            "not_in_the_layout": "ignored",
        }
    )
    by_range = {b["range"]: b["values"] for b in blocks}
    assert list(by_range) == list(layout.output_ranges)
    assert by_range["A4:H4"] == [["ok", "", "", "", "", "", "", ""]]
    assert by_range["C6:H6"] == [
        ["14", "National Grid Electricity Distribution (West Midlands)", "", "", "", ""]
    ]
    assert by_range["B9:D9"] == [[12.345, 2, ""]]
    assert type(by_range["B9:D9"][0][0]) is float and type(by_range["B9:D9"][0][1]) is int
    assert by_range["B10:D13"][0] == ["Mon–Fri 16:00–19:00", "", ""]
    assert by_range["B10:D13"][1:] == [["", "", ""]] * 3
    assert by_range["E15:H15"] == [["", "", "", ""]]


def test_status_blocks_write_only_the_status_range() -> None:
    layout = load_layout()
    assert layout.status_blocks("error", "no tariff for area 14", "req-1", "2026-11-25T14:00Z") == [
        {
            "range": "A4:H4",
            "values": [
                ["error", "no tariff for area 14", "", "", "", "", "2026-11-25T14:00Z", "req-1"]
            ],
        }
    ]
    with pytest.raises(ValueError, match="'failed' is not one of ok, warning, error"):
        layout.status_blocks("failed", "x", "r", "t")


def test_inputs_round_trip_by_field_name() -> None:
    layout = load_layout()
    assert layout.input_ranges() == ["A6", "B6", "A9", "B15", "C15", "C16"]
    values = ["SW1A 1AA", "1405566778899", "", "https://x.example/p.csv", "500", "30%"]
    assert layout.inputs_from_values(values) == {
        "postcode": "SW1A 1AA",
        "mpan": "1405566778899",
        "voltage": "",
        "profile_url": "https://x.example/p.csv",
        "kva": "500",
        "flex_fraction": "30%",
    }
    with pytest.raises(ValueError, match="expected 6 input values, got 2"):
        layout.inputs_from_values(values[:2])
    assert layout.input_blocks({"mpan": "1405566778899"}) == [
        {"range": "B6", "values": [["1405566778899"]]}
    ]
    with pytest.raises(ValueError, match=r"unknown input field\(s\) \['mpna'\]"):
        layout.input_blocks({"mpna": "1"})


def test_cell_value_refuses_what_a_cell_cannot_hold() -> None:
    assert cell_value("x", True) is True
    assert cell_value("x", float("inf")) == ""
    with pytest.raises(TypeError, match="field 'peak_ratio': cannot write a list"):
        cell_value("peak_ratio", [1, 2])


def test_a1_helpers() -> None:
    assert [column_index(c) for c in ("A", "Z", "AA", "AZ", "ZZZ")] == [1, 26, 27, 52, 18278]
    assert all(column_letters(column_index(c)) == c for c in ("A", "Z", "AA", "AZ", "ZZZ"))
    assert parse_range("B10:D13") == ((10, 2), (13, 4))
    assert parse_range("a6") == ((6, 1), (6, 1))
    assert cell_name(16, 6) == "F16"
    for bad in ("A0", "D13:B10", "6A", "A1:B"):
        with pytest.raises(ValueError):
            parse_range(bad)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.pop("status_range"), r"missing key\(s\) \['status_range'\]"),
        (lambda r: r["inputs"].update(mpan="B6:B7"), r"inputs\.mpan: 'B6:B7' is not an A1 cell"),
        (
            lambda r: r["outputs"][2].update(range="B9:E9"),
            r"outputs\[2\]\.fields: B9:E9 is 1 row\(s\) x 4 column\(s\)",
        ),
        (
            lambda r: r["outputs"][5]["fields"][0].__setitem__(0, "dno_name"),
            r"outputs\[5\]\.fields: field 'dno_name' appears twice",
        ),
        (lambda r: r["inputs"].update(kva="E15"), r"output block E15:H15 overlaps input kva"),
        (lambda r: r.update(status_range="A5:H5"), r"status_range 'A5:H5' is not one of"),
        (lambda r: r["outputs"][1].pop("fields"), r"outputs\[1\]: each block needs"),
    ],
)
def test_bad_layouts_are_refused_with_the_key_named(raw: dict, edit, message: str) -> None:
    broken = copy.deepcopy(raw)
    edit(broken)
    with pytest.raises(LayoutError, match=message):
        layout_from_dict(broken, source="test.yaml")


def test_unreadable_layout_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "sheet_layout.yaml"
    with pytest.raises(LayoutError, match="cannot read the sheet layout"):
        load_layout(path)
    path.write_text("inputs: [unclosed")
    with pytest.raises(LayoutError, match="is not valid YAML"):
        load_layout(path)


def test_presentation_formats_expand_per_cell() -> None:
    formats = load_layout().presentation.cell_formats()
    assert formats["E15"] == formats["E16"] == '"£"#,##0.00'
    assert formats["F16"] == '0.00"%"'
    assert [formats[c] for c in ("B9", "C9", "D9")] == ['0.000" p/kWh"'] * 3
    assert all(formats[f"{c}4"] == "@" for c in "ABCDEFGH")
    assert formats["B6"] == "@"


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("labels", {"B6": "MPAN"}, "labels.B6 sits on an input or output cell"),
        ("labels", {"E15": "x"}, "labels.E15 sits on an input or output cell"),
        ("notes", {"A1": "x"}, "notes.A1 is not an output cell"),
        ("validation", {"E15": {"list": ["a"]}}, "validation.E15 is not an input cell"),
        ("validation", {"A9": {"one_of": ["a"]}}, "give list"),
        ("formats", {"B9:A1": "0"}, "formats.B9:A1"),
    ],
)
def test_bad_presentation_is_refused(raw: dict, key: str, value: dict, why: str) -> None:
    raw[key] = value
    with pytest.raises(LayoutError, match=why):
        layout_from_dict(raw)


# ---------------------------------------------------------------- a result's cells

DAY = dt.date(2026, 11, 24)
# Area 21 (NGED South Wales) 2026/27 green periods, from config/timebands/2026/21.yaml (IPNL
# 2026-2027 workbook, GSP K, Annex 1 rows 5-7): weekends have three green periods.
GREEN_21 = ["Mon–Fri 00:00–07:30", "Mon–Fri 22:00–24:00", "Sat–Sun 00:00–12:00",
            "Sat–Sun 13:00–16:00", "Sat–Sun 21:00–24:00"]


def _taller(raw: dict, rows: int = 5) -> dict:
    taller = copy.deepcopy(raw)
    block = next(b for b in taller["outputs"] if b["range"] == "B10:D13")
    block["range"] = f"B10:D{9 + rows}"
    block["fields"] = [[f"{band}_period_{i}" for band in ("red", "amber", "green")]
                       for i in range(1, rows + 1)]
    for row in range(14, 10 + rows):  # the labels above row 15 move too
        for col in "BCD":
            taller["labels"].pop(f"{col}{row}", None)
    return taller


def test_a_taller_sheet_is_a_change_to_the_layout_only(raw: dict) -> None:
    result = run_lookup(parse_inputs({"mpan": generate_cores(1, 21, seed=1)[0]}), on=DAY)
    assert result.periods["green"] == GREEN_21  # core returns every period

    shipped = default_layout()
    assert shipped.period_rows == 4
    four = result_fields(result)
    assert [four[f"green_period_{i}"] for i in range(1, 5)] == GREEN_21[:4]
    assert "green_period_5" not in four
    assert "more than 4 periods in a band: the sheet shows the first 4; all are in " \
           "time_bands" in result_json(result)["notes"]

    layout = layout_from_dict(_taller(raw), source="taller.yaml")
    assert layout.period_rows == 5
    five = result_fields(result, layout)
    assert [five[f"green_period_{i}"] for i in range(1, 6)] == GREEN_21
    assert five["red_period_2"] is None  # one red period: the other rows are cleared
    block = {b["range"]: b["values"] for b in layout.output_blocks(five)}["B10:D14"]
    assert block[4] == ["", "", "Sat–Sun 21:00–24:00"]
    assert not any("periods in a band" in n for n in result_json(result, layout)["notes"])


def test_display_rounding_comes_from_the_layout(raw: dict) -> None:
    profile = generate_profile("office", 2e5, "2026-06-01", "2026-06-29", seed=3)
    result = run_lookup(parse_inputs({"mpan": generate_cores(1, 14, seed=1)[0], "kva": 120}),
                        profile=profile.to_frame("kwh"), on=DAY)
    annual = result.duos.annualised_total_gbp
    assert result_fields(result)["annual_duos_gbp"] == round(annual, 2)
    assert result_fields(result)["peak_ratio"] == round(result.features.peak_ratio, 4)
    assert result_fields(result)["red_rate_p_per_kwh"] == result.tariff.red_rate  # as published
    whole = copy.deepcopy(raw)
    whole["display"]["round"]["annual_duos_gbp"] = 0
    assert result_fields(result, layout_from_dict(whole))["annual_duos_gbp"] == round(annual)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["display"]["round"].update(colour=2), r"display\.round\.colour: no output"),
        (lambda r: r["display"]["round"].update(peak_ratio=-1), r"peak_ratio: -1 is not a whole"),
        (lambda r: r["display"].update(width=3), r"display must be a mapping with the key"),
        (lambda r: next(b for b in r["outputs"] if b["range"] == "B10:D13")["fields"][3]
         .__setitem__(0, "red_period_9"),
         r"time-band rows must be <band>_period_1\.\.9"),
    ],
)
def test_bad_display_settings_are_refused(raw: dict, edit, message: str) -> None:
    broken = copy.deepcopy(raw)
    edit(broken)
    with pytest.raises(LayoutError, match=message):
        layout_from_dict(broken, source="test.yaml")
