"""apps_script/Layout.gs is config/sheet_layout.yaml as JS, regenerated whenever that changes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bess_duos.webhook.layout import apps_script_source, load_layout

LAYOUT_GS = Path(__file__).resolve().parents[1] / "apps_script" / "Layout.gs"
CODE_GS = LAYOUT_GS.with_name("Code.gs")


def test_layout_gs_is_generated_from_the_yaml() -> None:
    assert LAYOUT_GS.read_text(encoding="utf-8") == apps_script_source(), (
        "apps_script/Layout.gs is stale: run "
        "`python -m bess_duos.webhook.layout --apps-script > apps_script/Layout.gs`"
    )


def test_layout_gs_holds_the_cell_map() -> None:
    text = LAYOUT_GS.read_text(encoding="utf-8")
    table = json.loads(re.search(r"^var SHEET_LAYOUT = (.*);$", text, re.M | re.S).group(1))
    layout = load_layout()
    assert table["inputs"] == dict(layout.inputs)
    assert table["status_range"] == layout.status_range == "A4:H4"
    assert [b["range"] for b in table["outputs"]] == list(layout.output_ranges)
    assert table["formats"]["E15"] == '"£"#,##0.00'


def test_code_gs_keeps_no_copy_of_the_cell_map() -> None:
    code = CODE_GS.read_text(encoding="utf-8")
    assert not re.search(r"'[A-H][0-9]{1,2}'", code), "a cell address written into Code.gs"
