"""The webhook's OpenAPI 3.1 description, served at `/openapi.json` (tests check it matches the
app's routes and that the documented inputs are the ones the lookup accepts)."""

from __future__ import annotations

from typing import Any

from bess_duos.core.lookup import INPUT_FIELDS

SIGNED = [{"hmacSignature": [], "hmacTimestamp": []}]

_ERROR = {
    "type": "object",
    "required": ["error", "request_id"],
    "properties": {
        "error": {"type": "string"},
        "request_id": {"type": "string"},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Bad input field -> what is wrong with it (400).",
        },
        "link": {"type": "string", "description": "The profile link that failed (422)."},
        "rule": {"type": "string", "description": "The rule the link broke (422)."},
    },
}

_LOOKUP_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "mpan": {"type": ["string", "integer"], "description": "13-digit core or full MPAN."},
        "postcode": {
            "type": "string",
            "description": "GB postcode (an IDNO MPAN needs it or gsp_group).",
        },
        "gsp_group": {
            "type": "string",
            "pattern": "^_?[A-HJ-NPa-hj-np]$",
            "description": (
                "The site's GSP group, '_E', 'E' or 'e' (_A to _P). For an IDNO MPAN it decides "
                "the area with no postcode lookup (works offline); a DNO MPAN still decides its "
                "own area (a disagreeing group is a warning). Not in the sheet: JSON only."
            ),
        },
        "voltage": {"type": "string", "enum": ["LV", "LV Sub", "HV", "EHV", ""]},
        "tariff_name": {
            "type": "string",
            "description": ("A published tariff name (`bess-duos tariffs list`), e.g. "
                            "'Non-Domestic Aggregated Band 3': picks that row. JSON only."),
        },
        "kva": {"type": ["number", "string"], "description": "Agreed capacity, kVA."},
        "flex_fraction": {
            "type": ["number", "string"],
            "description": "Flexible share: 0.3, '30%' or 30; default 30%.",
        },
        "profile_url": {
            "type": "string",
            "description": "HTTPS CSV link, Google Sheets tab link or Google Drive file link.",
        },
        "tz": {
            "type": "string", "enum": ["Europe/London", "UTC"],
            "description": ("Zone of the profile's naive timestamps; omitted = the reading "
                            "policy (UK clock time, or UTC with a warning when the times do not "
                            "skip the March clock-change hour). CLI: --tz. JSON only."),
        },
        "resample": {
            "type": "string", "enum": ["split", "aggregate"],
            "description": ("Force hourly data to be split ('split') or 15-minute data summed "
                            "('aggregate'); omitted = either is done with a warning. CLI: "
                            "--resample. JSON only."),
        },
        **{name: {"type": ["number", "string"], "description": text} for name, text in (
            ("battery_power_kw", "Battery power, kW (with battery_energy_kwh). JSON only."),
            ("battery_energy_kwh", "Battery energy, kWh (with battery_power_kw). JSON only."),
            ("battery_efficiency", "Round-trip efficiency: 0.9, '90%' or 90; default 90%."),
            ("export_price_p_per_kwh", "p/kWh earned by export (enables it); energy is then "
             "valued at this price on import too."),
        )},
        "spreadsheet_id": {
            "type": "string",
            "description": "Google spreadsheet to write; omitted = the local workbook.",
        },
        "worksheet": {"type": "string", "description": "Tab name; omitted = the first tab."},
        "write": {"type": "boolean", "default": True},
    },
}

_LOOKUP_RESPONSE = {
    "type": "object",
    "required": ["status", "message", "request_id", "warnings", "fields", "written"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "warning", "error"]},
        "message": {"type": "string"},
        "request_id": {"type": "string"},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "notes": {"type": "array", "items": {"type": "string"}},
        "mpan": {"type": ["object", "null"]},
        "distributor": {"type": "object"},
        "site_area": {"type": "object"},
        "tariff": {"type": ["object", "null"]},
        "time_bands": {"type": "object"},
        "duos": {"type": ["object", "null"]},
        "features": {"type": ["object", "null"]},
        "flexibility": {"type": ["object", "null"]},
        "battery": {
            "type": ["object", "null"],
            "description": "With battery inputs and a profile: annual value, cycles, DUoS "
            "saving per year by component (core.battery_value).",
        },
        "fields": {"type": "object", "description": "Sheet field name -> value written."},
        "written": {
            "type": ["object", "null"],
            "description": "Which sheet and ranges were written (null when write=false).",
        },
    },
}


_READY: dict[str, Any] = {
    "type": "object",
    "required": ["status", "checks", "service_account"],
    "properties": {
        "status": {"const": "ready"},
        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
        "service_account": {
            "type": ["string", "null"],
            "description": "The e-mail of the service account the webhook writes sheets as "
            "(share the sheet with it): the key file's client_email, or on Cloud Run the "
            "attached account's; null without Google credentials. Never a key or a path.",
        },
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad input: `fields` names each bad field.",
        401: "Missing, stale, wrong or replayed signature.",
        403: "The signing key may not write that spreadsheet (a sheet's key writes its own; "
             "the master key only allowlisted ones).",
        422: "The profile link or its content could not be used, or no tariff was found.",
        500: "Internal fault: the body has the request id, never a stack trace.",
        502: "The sheet could not be written (the status cell says so when possible), or "
             "`outcome` is `unknown`: the write may still appear.",
        503: "Not ready.",
    }
    return {str(c): {"description": text[c], **_json({"$ref": "#/components/schemas/Error"})}
            for c in codes}


def _busy() -> dict[str, Any]:
    """The 503 of /lookup: busy, not unready."""
    text = ("Busy: too many profile fetches at once, or an earlier write to this sheet may "
            "still land; `Retry-After` says when to try again.")
    return {"503": {"description": text, **_json({"$ref": "#/components/schemas/Error"})}}


def openapi_spec() -> dict[str, Any]:
    """The OpenAPI document (a fresh dict)."""
    assert set(INPUT_FIELDS) <= set(_LOOKUP_REQUEST["properties"])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bess-duos webhook",
            "version": "0.1.0",
            "description": (
                "DUoS lookup for the BESS sheet. POST bodies are JSON and signed: X-Timestamp "
                "(Unix seconds, within 300 s) and X-Signature (hex HMAC-SHA256 of "
                "timestamp + '.' + raw body with the shared secret); a signature is accepted once."
            ),
        },
        "components": {
            "securitySchemes": {
                "hmacSignature": {"type": "apiKey", "in": "header", "name": "X-Signature"},
                "hmacTimestamp": {"type": "apiKey", "in": "header", "name": "X-Timestamp"},
            },
            "schemas": {
                "Error": _ERROR,
                "LookupRequest": _LOOKUP_REQUEST,
                "LookupResponse": _LOOKUP_RESPONSE,
            },
        },
        "paths": {
            "/lookup": {
                "post": {
                    "summary": "Run a lookup and write the sheet",
                    "security": SIGNED,
                    "requestBody": {
                        "required": True,
                        **_json({"$ref": "#/components/schemas/LookupRequest"}),
                    },
                    "responses": {
                        "200": {
                            "description": "Computed (status ok or warning) and written.",
                            **_json({"$ref": "#/components/schemas/LookupResponse"}),
                        },
                        **_errors(400, 401, 403, 422, 500, 502),
                        **_busy(),
                    },
                }
            },
            "/mpan/validate": {
                "post": {
                    "summary": "Parse and check an MPAN",
                    "security": SIGNED,
                    "requestBody": {
                        "required": True,
                        **_json({
                            "type": "object",
                            "required": ["mpan"],
                            "properties": {"mpan": {"type": ["string", "integer"]}},
                        }),
                    },
                    "responses": {
                        "200": {
                            "description": "Parsed; `valid` is false for a wrong check digit.",
                            **_json({
                                "type": "object",
                                "required": ["valid", "mpan"],
                                "properties": {
                                    "valid": {"type": "boolean"},
                                    "reason": {"type": ["string", "null"]},
                                    "mpan": {"type": "object"},
                                },
                            }),
                        },
                        **_errors(400, 401, 500),
                    },
                }
            },
            "/dnos": {
                "get": {
                    "summary": "Distributors (DNOs and IDNOs) with their tariff years",
                    "responses": {
                        "200": {
                            "description": "Every distributor.",
                            **_json({"type": "object", "required": ["distributors"]}),
                        },
                        **_errors(500),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "The process is up",
                    "responses": {"200": {"description": "Up.", **_json({"type": "object"})}},
                }
            },
            "/ready": {
                "get": {
                    "summary": "Config, layout and tariffs are loaded",
                    "responses": {
                        "200": {"description": "Ready.", **_json(_READY)},
                        **_errors(503),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1.", **_json({})}},
                }
            },
        },
    }
