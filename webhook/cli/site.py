"""CLI commands `bess-duos serve`, `bess-duos lookup` and `bess-duos demo`.

- `serve`: the webhook. Production: gunicorn (one worker process, threads; the replay cache
  lives in the process) on `--host`/`--port` (default 0.0.0.0 and `$PORT` or 8080; loopback
  with `--dev` or `--insecure-dev`). `--dev` uses Flask's own server. Without
  `BESS_DUOS_WEBHOOK_SECRET` it refuses to start unless `--insecure-dev` is given (logged
  loudly).
- `lookup`: one lookup from the command line; prints a table and writes the sheet (the local
  workbook `--sheet`, default `$BESS_DUOS_WORKBOOK` or bess_sheet.xlsx, or a Google spreadsheet
  with `--spreadsheet-id`), unless `--no-write`.
- `demo`: a synthetic one-year office profile, the seed example MPAN
  `00800999932 1405566778899` (wrong check digit: reported, distributor still named), or
  with `--postcode` that postcode and no MPAN, written to bess_sheet.xlsx with its inputs, and
  the table printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import logging
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any, TextIO

from bess_duos.core.area_resolver import AreaLookupError
from bess_duos.core.lookup import (
    InputErrors,
    LookupFailed,
    LookupResult,
    parse_inputs,
    read_profile,
    run_lookup,
    year_label,
)
from bess_duos.core.profile_loader import DEFAULT_OPTIONS, ReadOptions
from bess_duos.core.profiles import Profile, ProfileError, load_profile
from bess_duos.core.settings import Settings
from bess_duos.webhook.cli.args import add_profile_flags, read_options
from bess_duos.webhook.cli.errors import (
    EXIT_INPUT,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_WRITE,
    CliError,
    cannot_read,
    caused_by,
    writing,
)
from bess_duos.webhook.cli.output import add_output_flags, emit, output_format
from bess_duos.webhook.layout import result_fields, result_json

SEED_MPAN = "00800999932 1405566778899"
DEFAULT_PORT = 8080
log = logging.getLogger("bess_duos.webhook")


def default_processes(args: argparse.Namespace) -> int:
    """Compute processes when none are asked for: one per core on a multi-core host (50
    concurrent lookups: p95 263 ms with 2 against 359 ms with 0 on 2 cores, see
    benchmarks/bench_webhook.py); none with --dev, or on one core where they cannot help."""
    cores = os.cpu_count() or 1
    return 0 if args.dev or cores < 2 else cores


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `serve`, `lookup` and `demo`."""
    serve = subparsers.add_parser("serve", help="run the webhook (gunicorn; --dev for Flask's)")
    serve.add_argument("--host", default=None,
                       help="address to bind (default 0.0.0.0; 127.0.0.1 with --dev or "
                       "--insecure-dev)")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)),
                       help="port (default $PORT or 8080)")
    serve.add_argument("--dev", action="store_true", help="Flask's development server; profile "
                       "links may then be http://127.0.0.1 (loopback, any port)")
    serve.add_argument("--insecure-dev", action="store_true",
                       help="allow running without BESS_DUOS_WEBHOOK_SECRET (development only)")
    serve.add_argument("--threads", type=int, default=8, help="gunicorn threads (default 8)")
    serve.add_argument("--timeout", type=int, default=60, help="gunicorn worker timeout, s")
    serve.add_argument("--processes", type=int, default=None,
                       help="worker processes for the CPU-bound part of lookups (default "
                       "$BESS_DUOS_COMPUTE_PROCESSES, else one per core on a multi-core host "
                       "and 0 = in the request threads with --dev or on one core)")
    serve.set_defaults(func=cmd_serve)

    lookup = subparsers.add_parser(
        "lookup", help="look up a site: DNO, tariff, time bands, DUoS, features, flexibility",
        description="Look up a site from its MPAN, postcode and/or GSP group, print the results "
        "and write the sheet (the local workbook by default).",
    )
    _site_arguments(lookup)
    lookup.add_argument("--mpan", help="13-digit core or full MPAN")
    lookup.add_argument("--postcode", help="site postcode (an IDNO MPAN needs it or --gsp-group)")
    lookup.add_argument("--gsp-group", help="site GSP group, e.g. _E (decides an IDNO MPAN's "
                        "area with no postcode lookup, so it works offline)")
    lookup.add_argument("--profile", help="half-hourly profile: a file (CSV/XLSX/Parquet) or link")
    add_profile_flags(lookup)
    for flag, what in (("--battery-kw", "battery power, kW (with --battery-kwh)"),
                       ("--battery-kwh", "battery energy, kWh (with --battery-kw)"),
                       ("--battery-efficiency", "round-trip efficiency, 90%% or 0.9"),
                       ("--export-price", "p/kWh earned by battery export (enables it)")):
        lookup.add_argument(flag, help=what)
    lookup.set_defaults(func=cmd_lookup)

    demo = subparsers.add_parser(
        "demo", help="synthetic profile + the seed MPAN -> bess_sheet.xlsx and a table",
    )
    _site_arguments(demo)
    demo.add_argument("--archetype", default="office", help="synthetic archetype (office)")
    demo.add_argument("--kwh-per-year", type=float, default=250_000.0, help="annual kWh")
    demo.add_argument("--start", default="2025-01-01", help="first day of the profile")
    demo.add_argument("--seed", type=int, default=0, help="noise seed")
    demo.add_argument("--save-profile", type=Path, help="also write the profile as CSV here")
    demo.add_argument("--postcode", help="a site postcode instead of the seed MPAN (no MPAN: "
                      "the postcode decides the area, from the offline table)")
    demo.set_defaults(func=cmd_demo)


def _site_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--voltage", help="LV, LV Sub, HV or EHV (blank: from LLFC, else LV)")
    parser.add_argument("--kva", help="agreed capacity, kVA")
    parser.add_argument("--flex", dest="flex_fraction", help="flexible share: 30%% or 0.3")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--sheet", type=Path, help="local workbook to write (.xlsx)")
    target.add_argument("--spreadsheet-id", help="Google spreadsheet to write")
    parser.add_argument("--worksheet", help="tab to write (default: the first)")
    parser.add_argument("--no-write", action="store_true", help="print only; write no sheet")
    add_output_flags(parser)
    parser.add_argument("--date", type=dt.date.fromisoformat,
                        help="tariff date, YYYY-MM-DD (default today)")
    parser.add_argument("--offline", action="store_true",
                        help="no online postcode lookup (cache and offline table only)")


# --- serve -------------------------------------------------------------------------------


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_BLAS_LIMITED = False


def one_blas_thread() -> None:
    """One BLAS/OpenMP thread per process, unless the environment sets a number.

    The server's parallelism is its requests (threads, compute processes). OpenBLAS would
    otherwise start a thread per core for each matrix product (the features' group sums) and
    spin them between calls: on 2 cores that tripled the server's CPU per lookup (37.6 ->
    13.2 ms, benchmarks/bench_webhook.py). The variables reach the spawned compute processes.
    """
    global _BLAS_LIMITED
    if not _BLAS_LIMITED:  # first call (before gunicorn forks): respect a number already set
        if any(os.environ.get(name) for name in BLAS_THREAD_VARIABLES):
            return
        for name in BLAS_THREAD_VARIABLES:
            os.environ[name] = "1"
        _BLAS_LIMITED = True
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # numpy is already imported: limit its pools in this process too


def _sheet_backends(settings: Settings) -> str:
    google = ("Google Sheets with " + ("the attached service account" if settings.on_cloud_run
              else "the key file in GOOGLE_APPLICATION_CREDENTIALS")
              if settings.google_configured else "no Google credentials (local workbook only)")
    return f"{google}; workbook {settings.workbook or 'bess_sheet.xlsx'} for requests without one"


def _auth_line(settings: Settings) -> str:
    allow = settings.spreadsheet_allowlist
    return ("requests signed (per-sheet keys; master key allowlist: "
            f"{len(allow) if allow else 0} spreadsheets)" if settings.webhook_secret
            else "INSECURE: requests not signed")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the webhook until interrupted."""
    from bess_duos.core.settings import current
    from bess_duos.core.worker_process import freeze_set_up_objects
    from bess_duos.webhook.app import create_app
    from bess_duos.webhook.auth import MissingSecretError, secret_from_env
    from bess_duos.webhook.logging_setup import configure_logging
    from bess_duos.webhook.profile_source import fetch_policy

    configure_logging()
    settings = current()
    try:
        secret_from_env(insecure_dev=args.insecure_dev)  # refuse before anything starts
    except MissingSecretError as exc:
        raise CliError(str(exc)) from exc
    processes = args.processes
    if processes is None:
        processes = settings.compute_processes
        if processes is None:
            processes = default_processes(args)
    config = {"INSECURE_DEV": args.insecure_dev, "COMPUTE_PROCESSES": processes,
              "SETTINGS": settings, "FETCH_POLICY": fetch_policy(settings, dev=args.dev)}
    one_blas_thread()
    if args.host is None:  # development servers stay on loopback unless told otherwise
        args.host = "127.0.0.1" if args.dev or args.insecure_dev else "0.0.0.0"
    log.info("bess-duos serve: listening on http://%s:%s (%s, %d compute processes); sheets: "
             "%s; %s%s", args.host, args.port,
             "Flask development server" if args.dev else f"gunicorn, {args.threads} threads",
             processes, _sheet_backends(settings), _auth_line(settings),
             "; DEV MODE: profile links may be http://127.0.0.1 (loopback, any port)"
             if args.dev else "")
    if args.dev:
        app = create_app(config)
        freeze_set_up_objects()
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the compute pool too
        try:
            app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
        finally:
            app.extensions["bess_duos_pool"].shutdown()
        return EXIT_OK
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"{args.host}:{args.port}",
                "workers": 1,  # one process: the replay cache and sheet locks are in-process
                "worker_class": "gthread",
                "threads": args.threads,
                "timeout": args.timeout,
                "accesslog": None,
                "loglevel": "warning",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:  # in the worker process, so its compute pool is its own
            one_blas_thread()
            app = create_app(config)
            freeze_set_up_objects()
            return app

    _Gunicorn().run()
    return EXIT_OK


# --- lookup and demo -----------------------------------------------------------------------


def _area_lookup(offline: bool) -> Any:
    if not offline:
        return None
    from bess_duos.core.area_resolver import AreaLookup

    return functools.partial(AreaLookup().lookup, online=False)


def _load_profile(source: str, spreadsheet_id: str | None = None,
                  options: ReadOptions = DEFAULT_OPTIONS) -> Profile:
    """A file path, or a link fetched under the webhook's rules (no Flask needed): a Google
    link is read when it is the spreadsheet being written (`--spreadsheet-id`)."""
    if "://" in source:
        from bess_duos.webhook.profile_source import fetch_profile

        # ProfileLinkError: exit 3 unreachable, 2 refused
        return fetch_profile(source, spreadsheet_id=spreadsheet_id, options=options)
    try:
        return read_profile(source, options=options)
    except OSError as exc:
        raise cannot_read("--profile", source, exc, "a half-hourly profile file (CSV, XLSX "
                          "or Parquet) or an https:// link") from exc


def _open_target(args: argparse.Namespace) -> Any:
    if args.no_write:
        return None
    from bess_duos.core.settings import current
    from bess_duos.webhook.sheet_factory import DEFAULT_WORKBOOK, open_sheet

    if args.spreadsheet_id:
        return open_sheet(args.spreadsheet_id, args.worksheet)
    workbook = args.sheet or current().workbook or Path(DEFAULT_WORKBOOK)
    return open_sheet(None, args.worksheet, workbook=workbook)


def _run(args: argparse.Namespace, raw: dict[str, Any], profile: Any, out: TextIO,
         sheet_inputs: dict[str, Any] | None = None) -> int:
    """Shared end of `lookup` and `demo`: compute, write, print."""
    from bess_duos.webhook.sheets import SheetError

    request_id = "cli-" + uuid.uuid4().hex[:12]
    sheet = _open_target(args)  # a bad --sheet/--spreadsheet-id: ValueError, exit 2
    try:
        inputs = parse_inputs({k: v for k, v in raw.items() if v is not None})
        result = run_lookup(inputs, profile=profile, on=args.date,
                            area_lookup=_area_lookup(args.offline), request_id=request_id)
    except InputErrors as exc:
        if sheet is not None:
            sheet.write_status("error", f"bad input: {exc}", request_id)
        # a postcode whose area cannot be found (or whose services are down) is "not found",
        # exit 3, as `postcode lookup` says it; any other bad field is bad input, exit 2
        raise CliError("\n".join(f"{name}: {why}" for name, why in exc.errors.items()),
                       EXIT_NOT_FOUND if caused_by(exc, AreaLookupError) else EXIT_INPUT) from exc
    except LookupFailed as exc:
        if sheet is not None:
            sheet.write_status("error", exc.result.error or str(exc), request_id)
        raise CliError(exc.result.error or str(exc), EXIT_NOT_FOUND, "lookup_failed") from exc
    written = None
    if sheet is not None:
        try:
            if sheet_inputs:
                sheet.write_inputs(sheet_inputs)
            written = sheet.write(result_fields(result, sheet.layout))
        except SheetError as exc:
            raise CliError(f"the sheet could not be written: {exc}", EXIT_WRITE,
                           "sheet") from exc
    data = result_json(result)
    data["written"] = written.as_dict() if written else None
    emit(args, data, out=out,
         text=lambda: format_table(result, written.sheet if written else None))
    return EXIT_OK


def cmd_lookup(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """`bess-duos lookup`."""
    out = out or sys.stdout
    if not args.mpan and not args.postcode and not args.gsp_group:
        raise CliError("no site given: give --mpan or --postcode (or both), or --gsp-group")
    profile = None
    if args.profile:
        try:
            profile = _load_profile(args.profile, getattr(args, "spreadsheet_id", None),
                                    read_options(args))
        except ProfileError as exc:  # the sheet's status says it, as the webhook's 422 does
            sheet = _open_target(args)
            if sheet is not None:
                sheet.write_status("error", f"profile {args.profile}: the file is not a usable "
                                   f"profile: {exc}", "cli-" + uuid.uuid4().hex[:12])
            raise
    raw = {"mpan": args.mpan, "postcode": args.postcode, "gsp_group": args.gsp_group,
           "tz": args.tz, "resample": args.resample,
           "voltage": args.voltage, "kva": args.kva, "flex_fraction": args.flex_fraction,
           "battery_power_kw": args.battery_kw, "battery_energy_kwh": args.battery_kwh,
           "battery_efficiency": args.battery_efficiency,
           "export_price_p_per_kwh": args.export_price}
    return _run(args, raw, profile, out)


def cmd_demo(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """`bess-duos demo`: synthetic profile + seed MPAN -> bess_sheet.xlsx and a table."""
    from bess_duos.core.synthetic import generate_profile

    out = out or sys.stdout
    series = generate_profile(args.archetype, args.kwh_per_year, start=args.start,
                              seed=args.seed)
    frame = series.rename("kwh").to_frame()
    if args.save_profile:
        with writing("--save-profile", args.save_profile):
            frame.rename_axis("timestamp").to_csv(args.save_profile,
                                                  date_format="%Y-%m-%dT%H:%M:%SZ")
    profile = load_profile(frame)
    label = (f"synthetic {args.archetype}, {args.kwh_per_year:,.0f} kWh/yr from {args.start} "
             f"(seed {args.seed})")
    site = {"postcode": args.postcode} if args.postcode else {"mpan": SEED_MPAN}
    who = f"postcode {args.postcode}, no MPAN" if args.postcode else f"MPAN {SEED_MPAN}"
    if output_format(args) == "text":  # --json and --csv print the result alone
        out.write(f"Demo: {label}; {who}\n")
    raw = {**site, "voltage": args.voltage, "kva": args.kva,
           "flex_fraction": args.flex_fraction}
    sheet_inputs = {**site, "profile_url": label}
    for key in ("voltage", "kva", "flex_fraction"):
        if raw[key] is not None:
            sheet_inputs[key] = raw[key]
    return _run(args, raw, profile, out, sheet_inputs=sheet_inputs)


def _fmt(value: object, spec: str = "") -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float) and spec:
        return format(value, spec)
    return str(value)


def format_table(result: LookupResult, written_to: str | None = None) -> str:
    """The result as a readable table (the sheet's blocks, then warnings and notes)."""
    f = result_fields(result)
    rows: list[tuple[str, str]] = [
        ("Status", f"{f['status']}"),
        ("Distributor", f"{f['distributor_id']} {f['dno_name']} ({f['short_code']}, "
                        f"MPID {f['mpid']})"),
        ("GSP group", f"{f['gsp_group_id']} {f['gsp_group_name']}"),
    ]
    if result.inputs.mpan is not None:
        m = result.inputs.mpan
        check = "valid" if m.check_digit_valid else f"WRONG (expected {m.expected_check_digit})"
        rows.append(("MPAN core", f"{m.core} (check digit {check})"))
    if result.tariff is not None:
        t = result.tariff
        rows.append(("Tariff", f"{t.tariff_name}, {t.voltage_level}, charging year "
                               f"{year_label(t.year)}"))
        rows.append(("Unit rates p/kWh", f"red {t.red_rate:g} | amber {t.amber_rate:g} | "
                                         f"green {t.green_rate:g}"))
        rows.append(("Fixed / capacity", f"{t.fixed_p_per_day:g} p/day | "
                                         f"{t.capacity_p_per_kva_per_day:g} p/kVA/day"))
        for band in ("red", "amber", "green"):
            rows.append((f"{band.title()} periods", "; ".join(result.periods.get(band)) or "-"))
    rows += [
        ("Annual DUoS £", _fmt(f["annual_duos_gbp"], ",.2f")),
        ("Peak ratio", _fmt(f["peak_ratio"], ".3f")),
        ("Load factor", _fmt(f["load_factor"], ".3f")),
        ("Weekend factor", _fmt(f["weekend_factor"], ".3f")),
        ("Flex value £/yr", _fmt(f["flex_value_gbp_per_year"], ",.2f")),
        ("Flex saving %", _fmt(f["flex_saving_pct"], ".1f")),
    ]
    if written_to:
        rows.append(("Written to", written_to.rstrip("/")))  # no tab name: the first tab
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    lines += [f"WARNING: {w}" for w in result.warnings]
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)
