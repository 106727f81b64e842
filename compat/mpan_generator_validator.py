"""The seed toolkit's `mpan_generator_validator`, kept working over `bess_duos.core.mpan`.

Same names, arguments and return shapes (docs/migrating.md). What changed and why:

- `dno_id` may be a string ('14') or an int (14).
- `is_valid_mpan_core` also needs a known distributor (the first two digits): '00...' is
  not a valid core even with the right check digit.
- `extract_core_from_full_mpan` checks what it is given (a core, or a full MPAN whose top line
  is profile class + MTC + LLFC) instead of taking the last 13 digits of anything.
- `mpan_core_lookup` keeps the seed's keys and adds the parsed fields (`distributor_name`,
  `short_code`, `gsp_group_id`, ...); a bad check digit still names the distributor.
- `format_mpan_display` groups the core 2-4-4-3 as printed on bills ('S 14 0556 6778 899');
  the seed printed 2-3-4-2-2.
- `generate_batch_valid_mpans` returns distinct cores and takes an optional `seed`.
"""

from __future__ import annotations

from bess_duos.core.mpan import (
    MpanError,
    dno_map,
    extract_core_from_full_mpan,
    format_mpan_display,
    generate_batch_valid_mpans,
    generate_valid_mpan_core,
    is_valid_mpan_core,
    mpan_check_digit,
    mpan_core_lookup,
)

DNO_MAP: dict[str, str] = dno_map()

__all__ = [
    "DNO_MAP",
    "MpanError",
    "extract_core_from_full_mpan",
    "format_mpan_display",
    "generate_batch_valid_mpans",
    "generate_valid_mpan_core",
    "is_valid_mpan_core",
    "mpan_check_digit",
    "mpan_core_lookup",
]
