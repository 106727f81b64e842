"""Code.gs keeps a copy of the sheet's cell map: it must equal config/sheet_layout.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from bess_duos.core.paths import config_dir

CODE_GS = Path(__file__).resolve().parents[1] / "apps_script" / "Code.gs"


def _layout() -> dict:
    return yaml.safe_load((config_dir() / "sheet_layout.yaml").read_text())


def _js_var(name: str) -> str:
    """The source text of `var NAME = ...;` in Code.gs (up to the first `;` at a line end)."""
    match = re.search(rf"^var {name} = (.*?);$", CODE_GS.read_text(), re.M | re.S)
    assert match, f"Code.gs has no `var {name} = ...;`"
    return match.group(1)


def test_input_cells_match_layout() -> None:
    pairs = re.findall(r"(\w+): '([A-Z]+[0-9]+)'", _js_var("INPUT_CELLS"))
    assert dict(pairs) == _layout()["inputs"]
    assert [k for k, _ in pairs] == list(_layout()["inputs"]), "same order as the layout"


def test_status_block_matches_layout() -> None:
    layout = _layout()
    status_range = layout["status_range"]
    assert _js_var("STATUS_RANGE") == f"'{status_range}'"
    (block,) = [b for b in layout["outputs"] if b["range"] == status_range]
    fields = yaml.safe_load(_js_var("STATUS_FIELDS").replace("'", '"'))
    assert [fields] == block["fields"]
