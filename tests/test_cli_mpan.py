"""`bess-duos mpan ...` and `bess-duos dno ...` through the real dispatcher."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from bess_duos.core.mpan import check_digits_valid, generate_cores, parse_mpan
from bess_duos.webhook.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_parse_seed_example_table(capsys) -> None:
    status, out, err = run(capsys, "mpan", "parse", "00800999932 1405566778899")
    assert status == 1
    lines = dict(line.split(None, 1) for line in out.splitlines() if len(line.split()) > 1)
    assert lines["core"] == "1405566778899"
    assert lines["distributor_id"] == "14"
    assert lines["short_code"] == "NGED-WM"
    assert lines["check_digit_valid"] == "no"
    assert lines["expected_check_digit"] == "8"
    assert "MPAN 1405566778899: check digit is 9, expected 8" in err


def test_parse_each_word_is_its_own_mpan(capsys) -> None:
    """Issue 20 item 5: `mpan [mpan ...]` means several MPANs, one a word."""
    status, out, err = run(capsys, "mpan", "parse", "1405566778898", "2300000000001", "--json")
    rows = json.loads(out)
    # 2300000000001: 2*3 + 3*5 = 21 (the other digits are 0); 21 mod 11 = 10; mod 10 -> 0
    assert [(r["core"], r["check_digit_valid"], r["expected_check_digit"]) for r in rows] == [
        ("1405566778898", True, 8), ("2300000000001", False, 0)]
    assert status == 1 and "MPAN 2300000000001: check digit is 1, expected 0" in err
    assert rows[1]["ignored_prefix"] in (None, "")  # not glued to the first word any more
    status, out, _ = run(capsys, "mpan", "parse", "1405566778898", "2000000000006", "--csv")
    assert status == 0
    assert [r["core"] for r in csv.DictReader(io.StringIO(out))] == ["1405566778898",
                                                                      "2000000000006"]
    # a full MPAN typed without quotes: the first word alone is not an MPAN
    status, out, err = run(capsys, "mpan", "parse", "00800999932", "1405566778899")
    assert status == 2 and out == ""
    assert err.startswith("error: MPAN '00800999932' (word 1 of 2): ")
    assert "quote an MPAN written with spaces" in err and err.count("\n") == 1


def test_parse_json_full_mpan(capsys) -> None:
    status, out, _ = run(capsys, "mpan", "parse", "S 00 845 121 14 0556 6778 898", "--json")
    assert status == 0
    d = json.loads(out)
    assert (d["core"], d["distributor_id"], d["check_digit_valid"], d["expected_check_digit"]) \
        == ("1405566778898", 14, True, 8)
    assert (d["profile_class"], d["mtc"], d["llfc"]) == ("00", "845", "121")
    assert d["gsp_group_id"] == "_E"


def test_parse_csv_and_error(capsys) -> None:
    status, out, _ = run(capsys, "mpan", "parse", "2000000000006", "--csv")
    assert status == 0
    row = next(csv.DictReader(io.StringIO(out)))
    assert (row["core"], row["short_code"], row["check_digit_valid"]) == (
        "2000000000006", "SSEN-SEPD", "True")
    status, out, err = run(capsys, "mpan", "parse", "0912345678901")
    assert status == 2 and out == ""
    assert "unknown distributor ID 09" in err


def test_validate_lines_file(tmp_path: Path, capsys) -> None:
    f = tmp_path / "mpans.txt"
    f.write_text("1405566778898\n\n00 845 121 14 0556 6778 899\n14055667788\n", encoding="utf-8")
    status, out, err = run(capsys, "mpan", "validate", str(f), "--json")
    assert status == 1
    rows = json.loads(out)
    assert [(r["line"], r["valid"]) for r in rows] == [(1, True), (3, False), (4, False)]
    assert rows[1]["expected_check_digit"] == 8 and "bad check digit 9" in rows[1]["problem"]
    assert "MPAN too short" in rows[2]["problem"]
    assert "3 MPANs, 1 valid, 2 invalid" in err


def test_validate_all_good_exits_0(tmp_path: Path, capsys) -> None:
    cores = generate_cores(200, 23, seed=5)
    f = tmp_path / "good.txt"
    f.write_text("\n".join(cores.tolist()) + "\n", encoding="utf-8")
    status, out, err = run(capsys, "mpan", "validate", str(f))
    assert status == 0
    assert "200 MPANs, 200 valid, 0 invalid" in err
    assert out.splitlines()[0].split()[:3] == ["line", "input", "core"]
    assert len(out.splitlines()) == 202  # header, rule, 200 rows


def test_validate_csv_column(tmp_path: Path, capsys) -> None:
    f = tmp_path / "sites.csv"
    f.write_text('site,MPAN,postcode\nA,1405566778898,B1 1AA\nB,"1405566778899",B2 2BB\n',
                 encoding="utf-8")
    status, out, _ = run(capsys, "mpan", "validate", str(f), "--csv")
    assert status == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["line"], r["core"], r["valid"]) for r in rows] == [
        ("2", "1405566778898", "True"), ("3", "1405566778899", "False")]
    status, out, _ = run(capsys, "mpan", "validate", str(f), "--column", "mpan", "--json")
    assert [r["valid"] for r in json.loads(out)] == [True, False]


def test_validate_single_column_csv_with_header(tmp_path: Path, capsys) -> None:
    f = tmp_path / "one.csv"
    f.write_text("MPAN core\n1405566778898\n2000000000006\n", encoding="utf-8")
    status, out, err = run(capsys, "mpan", "validate", str(f), "--json")
    assert status == 0
    assert [(r["line"], r["distributor_id"]) for r in json.loads(out)] == [(2, 14), (3, 20)]
    assert "2 MPANs, 2 valid, 0 invalid" in err


def test_validate_csv_needs_a_column_name(tmp_path: Path, capsys) -> None:
    f = tmp_path / "x.csv"
    f.write_text("a,b\n1405566778898,2\n", encoding="utf-8")
    status, _, err = run(capsys, "mpan", "validate", str(f))
    assert status == 2 and "--column" in err
    status, _, err = run(capsys, "mpan", "validate", str(f), "--column", "zz")
    assert status == 2 and "no column 'zz'" in err
    status, _, err = run(capsys, "mpan", "validate", str(tmp_path / "missing.txt"))
    assert status == 2 and "missing.txt" in err


def test_generate(capsys) -> None:
    status, out, _ = run(capsys, "mpan", "generate", "--dno", "NGED-WM", "-n", "5", "--seed",
                         "42", "--json")
    assert status == 0
    rows = json.loads(out)
    cores = [r["mpan"] for r in rows]
    assert cores == generate_cores(5, 14, seed=42).tolist()
    assert check_digits_valid(cores).all() and {r["short_code"] for r in rows} == {"NGED-WM"}
    status, out, _ = run(capsys, "mpan", "generate", "--dno", "HYDE", "-n", "3", "--full",
                         "--csv", "--seed", "1")
    fulls = [r["mpan"] for r in csv.DictReader(io.StringIO(out))]
    assert len(fulls) == 3 and all(parse_mpan(x).llfc in {"P80", "P81", "P82"} for x in fulls)
    status, _, err = run(capsys, "mpan", "generate", "--dno", "99x")
    assert status == 2 and err.startswith("error: --dno 99x: unknown distributor '99x': give ")


def test_dno_show_and_list(capsys) -> None:
    status, out, _ = run(capsys, "dno", "show", "mide", "--json")
    assert status == 0
    d = json.loads(out)
    assert (d["distributor_id"], d["short_code"], d["gsp_group_id"]) == (14, "NGED-WM", "_E")
    status, out, _ = run(capsys, "dno", "show", "24")
    assert status == 0 and "no single area" in out and "IPNL" in out
    status, _, err = run(capsys, "dno", "show", "8")
    assert status == 2 and "unknown distributor '8'" in err
    status, out, _ = run(capsys, "dno", "list", "--dnos", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["distributor_id"] for r in rows] == [str(i) for i in range(10, 24)]
    status, out, _ = run(capsys, "dno", "list", "--idnos")
    body = out.splitlines()[2:]
    assert body and all(line.split()[0].isdigit() and int(line.split()[0]) >= 24 for line in body)


def test_validate_missing_file_names_it_and_what_to_give(tmp_path: Path, capsys) -> None:
    status, out, err = run(capsys, "mpan", "validate", str(tmp_path / "none.txt"))
    assert status == 2 and out == ""
    assert err.startswith("error: FILE ")
    assert "none.txt': cannot read it (No such file or directory)" in err
    assert "one MPAN a line" in err and "Traceback" not in err


def test_generate_refuses_more_than_ten_million(capsys) -> None:
    status, out, err = run(capsys, "mpan", "generate", "--dno", "14", "-n", "10000001")
    assert status == 2 and out == ""
    assert err.strip() == "error: -n 10,000,001 is out of range: give -n from 1 to 10,000,000"
    assert err.count("\n") == 1
