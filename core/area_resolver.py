"""Postcode → GSP group (DNO area): the offline table first, then online resolvers and a cache.

`AreaLookup.lookup("B1 1AA")` answers from, in order:

1. the offline table `config/postcode_areas.csv` (source ``table:sector`` or
   ``table:district``): the postcode's sector row if its district is split between areas,
   else its district row. A row whose majority share is 90% or more answers, with no network;
2. only when the table is uncertain (share under 90%) or has no row: a fresh cache entry for
   the full postcode (source ``cache``);
3. the online resolvers, in order (default: Octopus's industry grid-supply-points endpoint,
   source ``online:octopus``, per full postcode; then the Carbon Intensity API's regional
   postcode endpoint, source ``online:carbonintensity``, per district). Answers are cached;
4. if every online resolver failed, or none is configured, or `online=False`: a stale cache
   entry for the postcode, then a cached district answer, both with a warning (``cache``);
5. the table's uncertain answer: confidence ``uncertain``, both candidate areas and shares.

The GSP group maps one-to-one to the DNO licence area through `config/distributors.csv`.
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

import requests
from bess_duos.core.distributors import Distributor, dno_for_gsp_group
from bess_duos.core.paths import config_dir
from bess_duos.core.postcode_table import TABLE_FILE, UNCERTAIN_BELOW, area_table
from bess_duos.core.postcodes import Postcode, parse_postcode
from bess_duos.core.settings import current
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

__all__ = [
    "AreaCache",
    "AreaLookup",
    "AreaLookupError",
    "AreaResolver",
    "AreaResult",
    "CacheEntry",
    "CarbonIntensityResolver",
    "NoOfflineDataError",
    "OctopusResolver",
    "OfflineTableResolver",
    "PostcodeNotFoundError",
    "ResolverAnswer",
    "ServiceUnavailableError",
    "UnknownDistrictError",
    "default_cache_dir",
    "describe_candidates",
    "lookup_area",
]

logger = logging.getLogger(__name__)

SOURCE_OCTOPUS = "online:octopus"
SOURCE_CARBON_INTENSITY = "online:carbonintensity"
SOURCE_CACHE = "cache"
SOURCE_TABLE_SECTOR = "table:sector"
SOURCE_TABLE_DISTRICT = "table:district"

DEFAULT_OCTOPUS_URL = "https://api.octopus.energy"
DEFAULT_CARBON_INTENSITY_URL = "https://api.carbonintensity.org.uk"
ENV_CACHE_DIR = "BESS_DUOS_CACHE_DIR"
ENV_CACHE_DAYS = "BESS_DUOS_AREA_CACHE_DAYS"
DEFAULT_CACHE_DAYS = 90.0
CACHE_FILE = "postcode_areas.sqlite3"
CARBON_INTENSITY_REGIONS_FILE = "carbonintensity_regions.csv"
GSP_GROUPS = frozenset("_" + c for c in "ABCDEFGHJKLMNP")
USER_AGENT = "bess-duos/0.1 (postcode to DNO area lookup)"

Level = Literal["postcode", "sector", "district"]
Confidence = Literal["high", "medium", "low", "uncertain"]


class AreaLookupError(LookupError):
    """No area could be found for a postcode; the message says why and what to do.

    `reason` is the why alone and `advice` the what-to-do alone (often empty), so a caller
    that knows more about the site (e.g. that its MPAN is an IDNO's) can give its own advice.
    """

    def __init__(self, reason: str = "", *, advice: str = "") -> None:
        super().__init__(f"{reason}; {advice}" if advice else reason)
        self.reason = reason
        self.advice = advice

    def __reduce__(self) -> tuple[Any, ...]:  # picklable with its advice kept apart
        return (_rebuild_lookup_error, (type(self), self.reason, self.advice))


def _rebuild_lookup_error(
    cls: type[AreaLookupError], reason: str, advice: str
) -> AreaLookupError:
    return cls(reason, advice=advice)


class ServiceUnavailableError(AreaLookupError):
    """An online service could not be reached or gave no usable answer (offline, 5xx, timeout)."""


class PostcodeNotFoundError(AreaLookupError):
    """The service answered but has no area for this postcode."""


class NoOfflineDataError(AreaLookupError):
    """Offline, and neither the table nor the cache has an answer."""


class UnknownDistrictError(NoOfflineDataError):
    """The district is not in the table (so not in OS Code-Point Open)."""


@dataclass(frozen=True)
class ResolverAnswer:
    """What one resolver said: the GSP group(s) for a postcode, its sector or its district.

    The offline table also gives each candidate's share of the key's postcodes (`shares`),
    the key it answered from and that key's postcode count.
    """

    gsp_groups: tuple[str, ...]
    level: Level
    source: str
    shares: tuple[float, ...] = ()
    key: str = ""
    postcodes: int = 0

    @property
    def uncertain(self) -> bool:
        """True if the table's majority share is under 90% (never for online answers)."""
        return bool(self.shares) and self.shares[0] < UNCERTAIN_BELOW


class AreaResolver(Protocol):
    """Anything that maps a parsed postcode to GSP group(s); raises AreaLookupError.

    An optional `level` attribute of ``"district"`` says it answers per district, so a fresh
    cached district answer stands in for it.
    """

    source: str

    def resolve(self, postcode: Postcode) -> ResolverAnswer:
        """The GSP group(s) of `postcode`."""
        ...


@dataclass(frozen=True)
class AreaResult:
    """The area of a postcode, where the answer came from and how sure it is.

    `source` is where this answer was read now (``table:sector``, ``table:district``,
    ``online:octopus``, ``online:carbonintensity`` or ``cache``); `origin` is the resolver that
    first gave it (equal to `source` unless read from the cache). `level` says whether the
    answer is for the full postcode, its sector or its district. `confidence`: ``high`` = one
    area for the full postcode, or a table key whose postcodes all lie in one area; ``medium``
    = a table key with a 90%+ majority, or one area for a district not known to straddle;
    ``low`` = several candidate areas online, or a district-level online answer for a district
    known to straddle; ``uncertain`` = a table key under 90% that nothing online settled
    (`candidates` and `shares` give both areas).
    """

    postcode: Postcode
    gsp_group_id: str
    candidates: tuple[str, ...]
    source: str
    origin: str
    level: Level
    confidence: Confidence
    straddles: bool
    fetched_at: datetime
    stale: bool = False
    warnings: tuple[str, ...] = ()
    shares: tuple[float, ...] = ()  # the table's share per candidate (empty for online answers)
    key: str = ""  # the table key (sector or district) that answered
    postcodes: int = 0  # how many postcodes the table key holds

    @property
    def uncertain(self) -> bool:
        """True if only the table answered and its majority share is under 90%."""
        return self.confidence == "uncertain"

    @property
    def share(self) -> float | None:
        """The table's share for the answer's area, None for an online or cached answer."""
        return self.shares[0] if self.shares else None

    @property
    def distributor(self) -> Distributor:
        """The DNO whose licence area this is."""
        return dno_for_gsp_group(self.gsp_group_id)

    @property
    def distributor_id(self) -> int:
        """The area's distributor ID (10-23)."""
        return self.distributor.distributor_id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, with the postcode parts and the DNO."""
        dno = self.distributor
        return {
            "postcode": self.postcode.unit,
            "area": self.postcode.area,
            "district": self.postcode.district,
            "sector": self.postcode.sector,
            "gsp_group_id": self.gsp_group_id,
            "gsp_group_name": dno.gsp_group_name,
            "candidates": list(self.candidates),
            "distributor_id": dno.distributor_id,
            "dno_name": dno.name,
            "dno_short_code": dno.short_code,
            "mpid": dno.mpid,
            "source": self.source,
            "origin": self.origin,
            "level": self.level,
            "confidence": self.confidence,
            "straddles": self.straddles,
            "fetched_at": self.fetched_at.isoformat(timespec="seconds"),
            "stale": self.stale,
            "warnings": list(self.warnings),
            "uncertain": self.uncertain,
            "table_key": self.key or None,
            "table_postcodes": self.postcodes or None,
            "shares": dict(zip(self.candidates, self.shares, strict=False)) or None,
        }


# --------------------------------------------------------------------------- online resolvers


class _TransientError(Exception):
    """A failure worth retrying: timeout, connection error, HTTP 5xx or 429."""


class _HttpResolver:
    """GET JSON from a public service with a timeout and a bounded retry with backoff."""

    source = ""
    label = ""
    url_setting = ""  # the `Settings` attribute that overrides `default_url`
    default_url = ""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = 5.0,
        attempts: int = 3,
        backoff: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        configured = getattr(current(), self.url_setting, None)
        self.base_url = (base_url or configured or self.default_url).rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.sleep: Callable[[float], None] = time.sleep  # the wait between tries
        self._session = session or requests.Session()
        self._session.headers.setdefault("User-Agent", USER_AGENT)

    def _get(self, path: str, params: dict[str, str] | None = None) -> requests.Response:
        url = self.base_url + path

        def once() -> requests.Response:
            try:
                response = self._session.get(
                    url, params=params, timeout=self.timeout, headers={"Accept": "application/json"}
                )
            except requests.Timeout as exc:
                raise _TransientError(f"no answer within {self.timeout:g} s") from exc
            except requests.ConnectionError as exc:
                raise _TransientError(f"could not connect ({type(exc).__name__})") from exc
            if response.status_code >= 500 or response.status_code == 429:
                raise _TransientError(f"HTTP {response.status_code} {response.reason}")
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff, max=max(self.backoff * 8, 0.0)),
            retry=retry_if_exception_type(_TransientError),
            reraise=True,
            sleep=self.sleep,
        )
        try:
            return retrying(once)
        except _TransientError as exc:
            raise ServiceUnavailableError(
                f"{self.label} is unavailable (offline or service down): {url} failed "
                f"{self.attempts} time(s), last with {exc}; check the internet connection, "
                "or rely on the cache"
            ) from exc

    def _get_list(
        self, path: str, key: str, subject: str, params: dict[str, str] | None = None
    ) -> list[Any]:
        """GET `path` and return the JSON answer's `key` list.

        HTTP 400/404 raise PostcodeNotFoundError naming `subject` (e.g. "postcode B1 1AA"); any
        other non-200 answer, or an answer without the list, raises ServiceUnavailableError.
        """
        response = self._get(path, params)
        if response.status_code in (400, 404):
            raise PostcodeNotFoundError(
                f"{self.label} does not know {subject} (HTTP {response.status_code})"
            )
        if response.status_code != 200:
            raise ServiceUnavailableError(
                f"{self.label} refused the request (HTTP {response.status_code} {response.reason})"
            )
        data = self._json(response)
        items = data.get(key) if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ServiceUnavailableError(
                f"{self.label} answered without a '{key}' list; the API may have changed"
            )
        return items

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceUnavailableError(
                f"{self.label} answered {response.url} with something that is not JSON "
                f"(HTTP {response.status_code}); try again later"
            ) from exc


class OctopusResolver(_HttpResolver):
    """Octopus Energy's public `GET /v1/industry/grid-supply-points/?postcode=` (full postcode)."""

    source = SOURCE_OCTOPUS
    level: Level = "postcode"
    label = "Octopus grid-supply-points service"
    url_setting = "octopus_url"
    default_url = DEFAULT_OCTOPUS_URL

    def resolve(self, postcode: Postcode) -> ResolverAnswer:
        """The GSP group(s) Octopus gives for the full postcode."""
        results = self._get_list(
            "/v1/industry/grid-supply-points/", "results", f"postcode {postcode.unit}",
            {"postcode": postcode.compact},
        )
        groups = [str(r.get("group_id", "")).upper() for r in results if isinstance(r, dict)]
        if not groups:
            raise PostcodeNotFoundError(
                f"{self.label} has no GSP group for postcode {postcode.unit} (empty answer): "
                "the postcode may be new, retired or non-geographic"
            )
        unknown = [g for g in groups if g not in GSP_GROUPS]
        if unknown:
            raise ServiceUnavailableError(
                f"{self.label} answered with unknown GSP group(s) {unknown} for {postcode.unit}"
            )
        return ResolverAnswer(tuple(dict.fromkeys(groups)), "postcode", self.source)


@lru_cache(maxsize=4)
def _region_table(path: Path) -> dict[int, str]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return {int(row["regionid"]): row["gsp_group_id"] for row in rows}


def carbon_intensity_regions() -> dict[int, str]:
    """Carbon Intensity API region ID (1-14) → GSP group, from `config/`."""
    return _region_table(config_dir() / CARBON_INTENSITY_REGIONS_FILE)


class CarbonIntensityResolver(_HttpResolver):
    """The Carbon Intensity API's `GET /regional/postcode/{outward code}` (district level)."""

    source = SOURCE_CARBON_INTENSITY
    level: Level = "district"
    label = "Carbon Intensity API"
    url_setting = "carbonintensity_url"
    default_url = DEFAULT_CARBON_INTENSITY_URL

    def resolve(self, postcode: Postcode) -> ResolverAnswer:
        """The DNO region the API gives for the postcode's district, as a GSP group."""
        items = self._get_list(
            f"/regional/postcode/{postcode.district}", "data", f"district {postcode.district}"
        )
        if not items:
            raise PostcodeNotFoundError(
                f"{self.label} has no region for district {postcode.district} (empty answer)"
            )
        regions = carbon_intensity_regions()
        groups: list[str] = []
        for item in items:
            try:
                region_id = int(item["regionid"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ServiceUnavailableError(
                    f"{self.label} answered without a usable 'regionid'; the API may have changed"
                ) from exc
            if region_id not in regions:
                raise PostcodeNotFoundError(
                    f"{self.label} put district {postcode.district} in region {region_id}, "
                    "which is not one of the 14 DNO regions (1-14)"
                )
            groups.append(regions[region_id])
        return ResolverAnswer(tuple(dict.fromkeys(groups)), "district", self.source)


# --------------------------------------------------------------------------- offline resolver


class OfflineTableResolver:
    """Postcode → GSP group from `config/postcode_areas.csv`: sector row, else district row.

    The answer carries the candidates' shares; the caller decides what an uncertain one
    (majority under 90%) is worth. A district missing from the table raises
    UnknownDistrictError.
    """

    level: Level = "district"

    def __init__(self, table_path: Path | str | None = None) -> None:
        self.table_path = Path(table_path) if table_path else config_dir() / TABLE_FILE

    def resolve(self, postcode: Postcode) -> ResolverAnswer:
        """The table's area(s) for the postcode, with their shares."""
        row = area_table(self.table_path).row(postcode.district, postcode.sector)
        if row is None:
            raise UnknownDistrictError(
                f"unknown district {postcode.district}: it is not in the postcode area table "
                f"({self.table_path.name}, from OS Code-Point Open); check the postcode"
            )
        source = SOURCE_TABLE_SECTOR if row.level == "sector" else SOURCE_TABLE_DISTRICT
        return ResolverAnswer(row.candidates, row.level, source, row.shares, row.key,
                              row.postcodes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- disk cache


def default_cache_dir() -> Path:
    """`$BESS_DUOS_CACHE_DIR`, else `~/.cache/bess-duos`."""
    override = current().cache_dir
    return override if override else Path.home() / ".cache" / "bess-duos"


def _default_max_age_days() -> float:
    return current().area_cache_days or DEFAULT_CACHE_DAYS


@dataclass(frozen=True)
class CacheEntry:
    """One cached resolver answer and whether it is still within the expiry."""

    key: str
    district: str
    answer: ResolverAnswer
    fetched_at: float
    fresh: bool


class AreaCache:
    """Resolver answers in a sqlite3 file, keyed by postcode or district, with an expiry."""

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        max_age_days: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory) if directory else default_cache_dir()
        self.max_age_s = 86400.0 * (
            _default_max_age_days() if max_age_days is None else max_age_days
        )
        self.clock = clock
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(
                f"cannot create the area cache folder {self.directory}: {exc}; set "
                f"{ENV_CACHE_DIR} to a writable folder"
            ) from exc
        self.path = self.directory / CACHE_FILE
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, district TEXT NOT NULL,"
                " level TEXT NOT NULL, gsp_groups TEXT NOT NULL, source TEXT NOT NULL,"
                " fetched_at REAL NOT NULL)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS answers_district ON answers (district)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10.0)

    @staticmethod
    def postcode_key(postcode: Postcode) -> str:
        """Cache key of a full-postcode answer."""
        return f"postcode:{postcode.unit}"

    @staticmethod
    def district_key(district: str) -> str:
        """Cache key of a district-level answer."""
        return f"district:{district}"

    def get(self, key: str) -> CacheEntry | None:
        """The entry for `key`, fresh or stale, or None."""
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT district, level, gsp_groups, source, fetched_at FROM answers WHERE key=?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        district, level, groups, source, fetched_at = row
        answer = ResolverAnswer(tuple(json.loads(groups)), level, source)
        fresh = self.clock() - fetched_at < self.max_age_s
        return CacheEntry(key, district, answer, fetched_at, fresh)

    def put(self, key: str, district: str, answer: ResolverAnswer) -> float:
        """Store (or refresh) an answer; returns its timestamp."""
        now = self.clock()
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                (key, district, answer.level, json.dumps(answer.gsp_groups), answer.source, now),
            )
        return now

    def district_groups(self, district: str) -> frozenset[str]:
        """Every GSP group any cached answer gave inside `district` (2+ = it straddles)."""
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT gsp_groups FROM answers WHERE district=?", (district,)
            ).fetchall()
        return frozenset(g for (groups,) in rows for g in json.loads(groups))

    def count(self) -> int:
        """How many answers are cached."""
        with closing(self._connect()) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])


# --------------------------------------------------------------------------- the lookup


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _percent(share: float) -> str:
    return f"{share:.1%}".replace(".0%", "%")


def describe_candidates(answer: ResolverAnswer | AreaResult) -> str:
    """A table answer in words: ``_C London 67.2% or _A Eastern 32.8% of 1,319 postcodes in
    district NW2``."""
    groups = answer.gsp_groups if isinstance(answer, ResolverAnswer) else answer.candidates
    parts = [f"{g} {dno_for_gsp_group(g).gsp_group_name} {_percent(s)}"
             for g, s in zip(groups, answer.shares, strict=False)]
    return f"{' or '.join(parts)} of {answer.postcodes:,} postcodes in {answer.level} {answer.key}"


@dataclass
class AreaLookup:
    """Resolve a postcode's DNO area: the offline table, then (only where the table is
    uncertain) the cache, online resolvers in order and a stale cache entry.

    `offline=None` switches the table off. `cache=None` disables the disk cache; by default it
    lives in `default_cache_dir()` (if that folder cannot be created, the lookup runs without
    a cache and logs a warning).
    """

    resolvers: Sequence[AreaResolver] = field(default_factory=lambda: default_resolvers())
    cache: AreaCache | None = field(default_factory=lambda: _default_cache())
    offline: AreaResolver | None = field(default_factory=OfflineTableResolver)

    def lookup(self, postcode: str | Postcode, *, online: bool = True) -> AreaResult:
        """The area of `postcode`; raises PostcodeError or AreaLookupError with the reason.

        With `online=False` nothing goes to the network.
        """
        pc = postcode if isinstance(postcode, Postcode) else parse_postcode(postcode)
        notes = [f"postcode {pc.unit}: {c}" for c in pc.corrections]
        table_answer: ResolverAnswer | None = None
        table_error: AreaLookupError | None = None
        if self.offline is not None:
            try:
                table_answer = self.offline.resolve(pc)
            except AreaLookupError as exc:
                table_error = exc
        if table_answer is not None and not table_answer.uncertain:
            return self._result(pc, table_answer, table_answer.source, time.time(), False, notes)
        table_note = ""
        if table_answer is not None:
            table_note = f"the offline table is uncertain: {describe_candidates(table_answer)}"
            notes.append(table_note)

        cache = self.cache
        pkey = AreaCache.postcode_key(pc)
        entry = cache.get(pkey) if cache is not None else None
        if entry and entry.fresh:
            return self._result(pc, entry.answer, SOURCE_CACHE, entry.fetched_at, False, notes)

        unavailable: list[str] = []
        not_found: list[str] = []
        dkey = AreaCache.district_key(pc.district)
        district_entry = cache.get(dkey) if cache is not None else None
        for resolver in self.resolvers if online else ():
            per_district = getattr(resolver, "level", "postcode") == "district"
            if per_district and district_entry and district_entry.fresh:
                # this resolver only answers per district, and that answer is cached: reuse it
                notes += [f"tried first: {m}" for m in unavailable + not_found]
                return self._result(pc, district_entry.answer, SOURCE_CACHE,
                                    district_entry.fetched_at, False, notes)
            try:
                answer = resolver.resolve(pc)
            except ServiceUnavailableError as exc:
                unavailable.append(str(exc))
                continue
            except AreaLookupError as exc:
                not_found.append(str(exc))
                continue
            fetched = time.time()
            if cache is not None:
                key = pkey if answer.level == "postcode" else dkey
                fetched = cache.put(key, pc.district, answer)
            notes += [f"tried first: {m}" for m in unavailable + not_found]
            return self._result(pc, answer, answer.source, fetched, False, notes)

        failed = "; ".join(unavailable + not_found) or "no online service is configured"
        why = f"online lookup failed ({failed})" if online else "online lookup switched off"
        for cached in (entry, district_entry):
            if cached is None:
                continue
            when = _utc(cached.fetched_at).isoformat(timespec="seconds")
            age = "" if cached.fresh else f", past the {self._max_age_days():g}-day expiry"
            notes.append(f"{why}; using the cached answer from {when}{age}")
            return self._result(
                pc, cached.answer, SOURCE_CACHE, cached.fetched_at, not cached.fresh, notes
            )
        if table_answer is not None:
            notes.remove(table_note)  # the uncertain answer's own warning says it
            notes.append(f"{why}; the answer stays uncertain")
            return self._result(pc, table_answer, table_answer.source, time.time(), False, notes)

        if self.offline is None:
            table_error = NoOfflineDataError("the offline table is switched off")
        detail = "; ".join(m for m in (failed if online else why, str(table_error or "")) if m)
        if unavailable and not not_found and not isinstance(table_error, UnknownDistrictError):
            raise ServiceUnavailableError(
                f"no area for {pc.unit}: the online services are unavailable and nothing is "
                f"cached ({detail})",
                advice="try again when online, or enter the MPAN (a DNO MPAN names its area)",
            )
        if isinstance(table_error, UnknownDistrictError):
            raise UnknownDistrictError(f"no area for {pc.unit}: {detail}")
        if not online:
            raise NoOfflineDataError(
                f"no area for {pc.unit}: {detail}; nothing is cached for it either"
            )
        raise PostcodeNotFoundError(
            f"no area for {pc.unit}: {detail}", advice="check the postcode, or enter the MPAN"
        )

    def _max_age_days(self) -> float:
        return self.cache.max_age_s / 86400.0 if self.cache is not None else 0.0

    def _result(
        self,
        pc: Postcode,
        answer: ResolverAnswer,
        source: str,
        fetched_at: float,
        stale: bool,
        notes: list[str],
    ) -> AreaResult:
        candidates = answer.gsp_groups
        seen = set(candidates)
        if self.cache is not None and not answer.shares:
            seen |= self.cache.district_groups(pc.district)
        straddles = len(seen) > 1 or answer.level == "sector"
        warnings = list(notes)
        confidence: Confidence
        if answer.shares:  # the offline table
            if answer.uncertain:
                confidence = "uncertain"
                warnings.append(
                    f"uncertain: {describe_candidates(answer)}: confirm the area with the "
                    "site's MPAN or GSP group"
                )
            elif len(candidates) == 1:
                confidence = "high"
            else:
                confidence = "medium"
                warnings.append(f"{describe_candidates(answer)}: near a boundary between areas")
        elif len(candidates) > 1:
            confidence = "low"
            warnings.append(
                f"{pc.unit} maps to several GSP groups ({', '.join(candidates)}); using "
                f"{candidates[0]}, the first {answer.source} gave: confirm with the site's MPAN"
            )
        elif answer.level == "postcode":
            confidence = "high"
            if straddles:
                warnings.append(
                    f"district {pc.district} straddles GSP groups {', '.join(sorted(seen))}; "
                    "this answer is for the full postcode"
                )
        elif straddles:
            confidence = "low"
            warnings.append(
                f"district {pc.district} straddles GSP groups {', '.join(sorted(seen))} and this "
                f"answer is only for the district: confirm with the site's MPAN"
            )
        else:
            confidence = "medium"
            warnings.append(
                f"{answer.source} answered for district {pc.district} only, not the full postcode"
            )
        return AreaResult(
            postcode=pc,
            gsp_group_id=candidates[0],
            candidates=candidates,
            source=source,
            origin=answer.source,
            level=answer.level,
            confidence=confidence,
            straddles=straddles,
            fetched_at=_utc(fetched_at),
            stale=stale,
            warnings=tuple(warnings),
            shares=answer.shares,
            key=answer.key,
            postcodes=answer.postcodes,
        )


def _default_cache() -> AreaCache | None:
    try:
        return AreaCache()
    except OSError as exc:
        logger.warning("postcode area cache disabled: %s", exc)
        return None


def default_resolvers() -> list[AreaResolver]:
    """Octopus (full postcode) first, then the Carbon Intensity API (district)."""
    return [OctopusResolver(), CarbonIntensityResolver()]


def lookup_area(postcode: str | Postcode, *, online: bool = True) -> AreaResult:
    """`AreaLookup().lookup(postcode)` with the default resolvers and cache."""
    return AreaLookup().lookup(postcode, online=online)
