"""Which DNO area a site is in, from its MPAN, postcode and/or GSP group (the rules every
caller shares: the webhook, the CLI, the portfolio).

- A DNO MPAN (distributor ID 10-23) decides the area. A postcode or GSP group that points
  elsewhere is reported in the warnings, not obeyed; a postcode that cannot be checked is
  reported too.
- An IDNO MPAN (24 and up) names a network that runs inside every area, so the area comes
  from the GSP group if one is given (no postcode lookup is made, so it works offline), else
  from the postcode; with neither there is no answer.
- With no MPAN, the GSP group decides if given, else the postcode.
- A postcode the offline table marks uncertain (two areas, the larger under 90%) and that
  nothing online settles decides nothing: the error names both areas and their shares.
- When the GSP group decides and a postcode is given too, the postcode is looked up only to
  check it: if the lookup succeeds and points elsewhere, that is a warning (the GSP group, the
  user's explicit statement, wins); if the lookup fails, a warning says the postcode could not
  be checked (as for a DNO MPAN).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bess_duos.core.area_resolver import (
    AreaLookup,
    AreaLookupError,
    AreaResult,
    PostcodeNotFoundError,
    UnknownDistrictError,
    describe_candidates,
)
from bess_duos.core.distributors import (
    Distributor,
    UnknownDistributorError,
    dno_for_gsp_group,
    get_distributor,
)
from bess_duos.core.mpan import Mpan, parse_mpan
from bess_duos.core.plain import json_safe
from bess_duos.core.postcodes import Postcode, PostcodeError, parse_postcode

__all__ = ["SiteArea", "SiteAreaError", "decide_site_area", "parse_gsp_group"]

AreaLookupFn = Callable[[Postcode], AreaResult]


class SiteAreaError(ValueError):
    """No area can be decided for the site; the message says why and what to enter."""


@dataclass(frozen=True)
class SiteArea:
    """The decided area: its DNO, what decided it (``mpan``, ``gsp_group`` or ``postcode``),
    and warnings."""

    distributor: Distributor  # the DNO of the area (ID 10-23)
    source: Literal["mpan", "gsp_group", "postcode"]
    mpan: Mpan | None
    postcode: Postcode | None
    area_result: AreaResult | None  # the postcode lookup, when one was made and succeeded
    warnings: tuple[str, ...] = ()

    @property
    def distributor_id(self) -> int:
        """The area's distributor ID (10-23)."""
        return self.distributor.distributor_id

    @property
    def gsp_group_id(self) -> str:
        """The area's GSP group, e.g. ``_E``."""
        return str(self.distributor.gsp_group_id)

    @property
    def mpan_distributor(self) -> Distributor | None:
        """The distributor the MPAN names (an IDNO for 24 and up), if an MPAN was given."""
        return None if self.mpan is None else get_distributor(self.mpan.distributor_id)

    @property
    def is_idno(self) -> bool:
        """True if the MPAN belongs to an IDNO."""
        named = self.mpan_distributor
        return bool(named and named.is_idno)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (plain JSON values)."""
        named = self.mpan_distributor
        return {
            "distributor_id": self.distributor_id,
            "dno_name": self.distributor.name,
            "dno_short_code": self.distributor.short_code,
            "gsp_group_id": self.gsp_group_id,
            "gsp_group_name": self.distributor.gsp_group_name,
            "source": self.source,
            "mpan_distributor_id": None if named is None else named.distributor_id,
            "mpan_distributor_name": None if named is None else named.name,
            "is_idno": bool(named and named.is_idno),  # `is_idno`, the distributor looked up once
            "postcode": None if self.postcode is None else self.postcode.unit,
            "postcode_lookup": None if self.area_result is None
            else json_safe(self.area_result.to_dict()),
            "warnings": list(self.warnings),
        }


def _default_lookup(postcode: Postcode) -> AreaResult:
    return AreaLookup().lookup(postcode)


def _describe(result: AreaResult) -> str:
    if result.uncertain:
        return f"{describe_candidates(result)} (uncertain)"
    d = result.distributor
    share = "" if result.share is None else f" {result.share:.0%} of {result.key}"
    return f"{result.gsp_group_id} {d.gsp_group_name} ({d.short_code}, {result.source}{share})"


IDNO_ADVICE = "enter the site's GSP group (e.g. _E)"


def parse_gsp_group(gsp_group: str) -> Distributor:
    """The DNO of a GSP group given as "_E", "E" or "e"; `SiteAreaError` names the valid ones."""
    try:
        return dno_for_gsp_group(gsp_group)
    except UnknownDistributorError as exc:
        raise SiteAreaError(f"{exc} (the site's Grid Supply Point group, _A to _P)") from exc


def decide_site_area(
    mpan: str | int | Mpan | None = None,
    postcode: str | Postcode | None = None,
    *,
    lookup: AreaLookupFn | None = None,
    gsp_group: str | None = None,
    check_postcode: bool = True,
) -> SiteArea:
    """Decide the site's DNO area from its MPAN, postcode and/or GSP group (rules in the
    module doc).

    `lookup` maps a parsed postcode to an `AreaResult` (default: `AreaLookup().lookup`: the
    offline table, then online and the disk cache only where the table is uncertain).
    `gsp_group` is "_E", "E" or "e". With `check_postcode=False` a postcode is not looked up
    when the MPAN or GSP group decides (it is only parsed, and reported if unreadable), e.g.
    for a portfolio of thousands of sites. Raises `MpanError` for an unusable MPAN and
    `SiteAreaError` for an unknown GSP group or when no area can be decided.
    """
    has_mpan = mpan is not None and str(mpan).strip() != ""
    has_postcode = postcode is not None and str(postcode).strip() != ""
    has_group = gsp_group is not None and str(gsp_group).strip() != ""
    if not has_mpan and not has_postcode and not has_group:
        raise SiteAreaError("no MPAN and no postcode (nor GSP group): enter the site's MPAN "
                            "or its postcode")
    group = parse_gsp_group(str(gsp_group)) if has_group else None
    parsed = (mpan if isinstance(mpan, Mpan) else parse_mpan(mpan)) if has_mpan else None
    warnings: list[str] = []
    if parsed is not None and not parsed.check_digit_valid:
        warnings.append(
            f"MPAN {parsed.core} has a wrong check digit (expected {parsed.expected_check_digit}): "
            "check it against the bill; its first two digits still name the distributor"
        )
    resolve = lookup or _default_lookup

    idno = False
    if parsed is not None:
        named = get_distributor(parsed.distributor_id)
        if not named.is_idno:
            if group is not None and group.gsp_group_id != named.gsp_group_id:
                warnings.append(
                    f"GSP group {group.gsp_group_id} ({group.gsp_group_name}) was given, but "
                    f"MPAN {parsed.core} is {named.name}'s ({named.gsp_group_id} "
                    f"{named.gsp_group_name}): using the MPAN's area; check the GSP group and "
                    "the MPAN"
                )
            decider = (f"MPAN {parsed.core} is {named.name}'s ({named.gsp_group_id} "
                       f"{named.gsp_group_name})")
            return _checked_against_postcode(named, "mpan", decider, parsed,
                                             postcode if has_postcode else None,
                                             resolve if check_postcode else None, warnings)
        idno = True
        why = (
            f"MPAN {parsed.core} belongs to {named.name} (ID {named.distributor_id}), an IDNO: "
            "IDNOs run networks inside every DNO area, so the area comes from the site's GSP "
            "group or postcode"
        )
    else:
        why = "no MPAN given, so the postcode decides the area"
    if group is not None:
        decider = f"GSP group {group.gsp_group_id} ({group.gsp_group_name}) was given"
        return _checked_against_postcode(group, "gsp_group", decider, parsed,
                                         postcode if has_postcode else None,
                                         resolve if check_postcode else None, warnings)
    if not has_postcode:
        raise SiteAreaError(f"{why}; enter the site's postcode"
                            + (" or its GSP group (e.g. _E)" if idno else ""))
    try:
        pc = postcode if isinstance(postcode, Postcode) else parse_postcode(str(postcode))
        result = resolve(pc)
    except PostcodeError as exc:
        raise SiteAreaError(f"{why}, but: {exc}") from exc
    except AreaLookupError as exc:
        if not idno:
            raise SiteAreaError(f"{why}, but: {exc}") from exc
        raise SiteAreaError(f"{why}, but: {getattr(exc, 'reason', exc)}; "
                            f"{_idno_advice(exc)}") from exc
    if result.uncertain:
        raise SiteAreaError(
            f"{why}, but postcode {pc.unit} is uncertain: {describe_candidates(result)}, and no "
            "online answer settled it; "
            + (IDNO_ADVICE if idno else "enter the site's MPAN or GSP group (e.g. _E)")
        )
    warnings.extend(result.warnings)
    return SiteArea(result.distributor, "postcode", parsed, pc, result, tuple(warnings))


def _idno_advice(exc: AreaLookupError) -> str:
    """What an IDNO site whose postcode gave no area can do (an MPAN will not help)."""
    if isinstance(exc, PostcodeNotFoundError | UnknownDistrictError):
        return f"check the postcode, or {IDNO_ADVICE}"
    return f"{IDNO_ADVICE} or try again when the postcode service is reachable"


def _checked_against_postcode(
    area: Distributor,
    source: Literal["mpan", "gsp_group"],
    decider: str,
    parsed: Mpan | None,
    postcode: str | Postcode | None,
    resolve: AreaLookupFn | None,
    warnings: list[str],
) -> SiteArea:
    """`area` decides (stated by `decider`, e.g. "MPAN 14..." or "GSP group _E"); a postcode is
    only checked against it (looked up with `resolve`; None = only parsed), and a disagreement
    or a failed check is reported, never obeyed."""
    what = "MPAN" if source == "mpan" else "GSP group"
    if postcode is None:
        return SiteArea(area, source, parsed, None, None, tuple(warnings))
    try:
        pc = postcode if isinstance(postcode, Postcode) else parse_postcode(str(postcode))
    except PostcodeError as exc:
        warnings.append(f"postcode not used: {exc}; the {what} decides the area")
        return SiteArea(area, source, parsed, None, None, tuple(warnings))
    if resolve is None:
        return SiteArea(area, source, parsed, pc, None, tuple(warnings))
    try:
        result = resolve(pc)
    except AreaLookupError as exc:
        warnings.append(f"could not check postcode {pc.unit} against the {what}: {exc}")
        return SiteArea(area, source, parsed, pc, None, tuple(warnings))
    if area.gsp_group_id not in result.candidates:
        warnings.append(
            f"postcode {pc.unit} is in {_describe(result)}, but {decider}: using the {what}'s "
            f"area; check the postcode and the {what}"
        )
    return SiteArea(area, source, parsed, pc, result, tuple(warnings))
