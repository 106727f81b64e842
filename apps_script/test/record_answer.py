"""Records the webhook's JSON answer to one lookup, for the sidebar and write:false tests.

Runs the real Flask app (insecure dev mode, no sheet written: `write: false`) on the demo's
synthetic office profile (250,000 kWh/yr from 2025-01-01, seed 0), served over loopback, with
the seed MPAN core, a 500 kVA agreed capacity and a battery (100 kW / 200 kWh, 90% round trip,
export at 5 p/kWh: the inputs the Settings dialog sends) on 2026-11-30; writes
apps_script/test/fixtures/lookup_answer.json. Run from the repository root:

    .venv/bin/python apps_script/test/record_answer.py
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "fixtures" / "lookup_answer.json"


def main() -> int:
    from bess_duos.core.synthetic import generate_profile
    from bess_duos.webhook.app import create_app
    from bess_duos.webhook.profile_links import FetchPolicy

    folder = Path(tempfile.mkdtemp(prefix="bess-answer-"))
    series = generate_profile("office", 250_000, start="2025-01-01", seed=0)
    series.rename("kwh").to_frame().rename_axis("timestamp").to_csv(
        folder / "site.csv", date_format="%Y-%m-%dT%H:%M:%SZ")
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    policy = FetchPolicy(allow_loopback_ports=frozenset({server.server_address[1]}))
    app = create_app({"INSECURE_DEV": True, "LOOKUP_DATE": dt.date(2026, 11, 30),
                      "FETCH_POLICY": policy})
    reply = app.test_client().post("/lookup", json={
        "mpan": "1405566778898", "kva": "500", "flex_fraction": "30%", "write": False,
        "profile_url": f"http://127.0.0.1:{server.server_address[1]}/site.csv",
        "battery_power_kw": 100, "battery_energy_kwh": 200, "battery_efficiency": "90%",
        "export_price_p_per_kwh": 5,
    })
    server.shutdown()
    if reply.status_code != 200:
        print(reply.get_data(as_text=True), file=sys.stderr)
        return 1
    answer = reply.get_json()
    answer["inputs"]["profile_url"] = "https://example.com/site-profile.csv"
    answer["request_id"] = answer["fields"]["request_id"] = "recorded"
    if answer["battery"] is None:
        print("the answer has no battery value", file=sys.stderr)
        return 1
    answer["battery"]["solve_seconds"] = 0.0  # the machine's speed, not the answer
    OUT.write_text(json.dumps(answer, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
