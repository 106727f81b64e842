"""GET /ready names the service account the webhook writes as (issue 16: Test connection shows
the e-mail the sheet must be shared with): from the key file's `client_email`, or on Cloud Run
from google.auth's default credentials (the metadata server); null without credentials. Through
the real app on loopback; never the key or its path."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import requests
from bess_duos.core.settings import Settings
from bess_duos.webhook import routes

from tests.loopback import Webhook
from tests.sheets_server import CLIENT_EMAIL, SheetsServer
from tests.test_end_to_end import DAY, SECRET

RUN_ACCOUNT = "bess-duos-run@bess-project.iam.gserviceaccount.com"


def ready(settings: Settings) -> requests.Response:
    hook = Webhook({"WEBHOOK_SECRET": SECRET, "LOOKUP_DATE": DAY, "SETTINGS": settings})
    try:
        return requests.get(hook.url + "/ready", timeout=10)
    finally:
        hook.close()


def test_the_key_files_client_email_and_nothing_else_of_it(tmp_path: Path) -> None:
    (tmp_path / "private-keys").mkdir()
    with SheetsServer() as sheets:
        key_file = sheets.key_file(tmp_path / "private-keys")
    answer = ready(Settings(google_credentials_file=str(key_file)))
    assert answer.status_code == 200 and answer.json()["status"] == "ready"
    assert answer.json()["service_account"] == CLIENT_EMAIL
    key = json.loads(key_file.read_text())
    for secret in (str(tmp_path), "private-keys", key["private_key_id"], "PRIVATE KEY"):
        assert secret not in answer.text


def test_the_openapi_document_describes_it() -> None:
    hook = Webhook({"WEBHOOK_SECRET": SECRET, "LOOKUP_DATE": DAY, "SETTINGS": Settings()})
    try:
        spec = requests.get(hook.url + "/openapi.json", timeout=10).json()
    finally:
        hook.close()
    schema = spec["paths"]["/ready"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"]
    assert "service_account" in schema["required"]
    assert schema["properties"]["service_account"]["type"] == ["string", "null"]


def test_null_without_credentials_or_with_an_unreadable_key_file(tmp_path: Path) -> None:
    answer = ready(Settings())
    assert answer.status_code == 200 and answer.json()["service_account"] is None
    missing = tmp_path / "nowhere" / "key.json"
    answer = ready(Settings(google_credentials_file=str(missing)))
    assert answer.status_code == 200 and answer.json()["service_account"] is None
    assert "nowhere" not in answer.text
    not_a_service_account = tmp_path / "user.json"
    not_a_service_account.write_text(json.dumps({"type": "authorized_user",
                                                 "refresh_token": "r"}))
    answer = ready(Settings(google_credentials_file=str(not_a_service_account)))
    assert answer.json()["service_account"] is None


class _Metadata(BaseHTTPRequestHandler):
    """The GCE/Cloud Run metadata server, as far as google.auth asks it."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.headers.get("Metadata-Flavor") != "Google":
            self.send_error(403)
            return
        path = self.path.split("?")[0]
        if path.endswith("/service-accounts/default/"):
            body = {"email": RUN_ACCOUNT, "aliases": ["default"],
                    "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
        elif path.endswith("/service-accounts/default/token"):
            body = {"access_token": "t", "expires_in": 3600, "token_type": "Bearer"}
        elif path in ("/", "/computeMetadata/v1/"):
            body = {}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    from google.auth.compute_engine import _metadata

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", host)  # read at import by google.auth
    monkeypatch.setenv("GCE_METADATA_IP", host)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    _Metadata.seen = []
    routes._default_account.cache_clear()
    yield _Metadata.seen
    routes._default_account.cache_clear()
    server.shutdown()


def test_on_cloud_run_the_default_credentials_email(metadata: list[str]) -> None:
    answer = ready(Settings(on_cloud_run=True))
    assert answer.status_code == 200
    assert answer.json()["service_account"] == RUN_ACCOUNT
    asked = [p for p in metadata if "/service-accounts/default/" in p]
    assert asked, metadata
    again = ready(Settings(on_cloud_run=True))
    assert again.json()["service_account"] == RUN_ACCOUNT
    assert [p for p in metadata if "/service-accounts/default/" in p] == asked, "cached"


def test_on_cloud_run_without_a_metadata_server_it_is_null(metadata: list[str],
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", "127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_TIMEOUT", "1")
    answer = ready(Settings(on_cloud_run=True))
    assert answer.status_code == 200 and answer.json()["service_account"] is None
