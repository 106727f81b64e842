"""NGED West Midlands (distributor 14) time bands, typed once for the tests that need them.

'MIDE - Schedule of charges and other tables- 2026 V.0.1 for publishing.xlsx', sheet 'Annex 1 LV,
HV and UMS charges', rows 5-8: "Monday to Friday (Including Bank Holidays) All Year": red 16:00 -
19:00, amber 07:30 to 16:00 and 19:00 to 21:00, green 00:00 to 07:30 and 21:00 to 24:00;
"Saturday and Sunday All Year" green 00:00 to 24:00; "All the above times are in UK Clock time".
The 2025 workbook has the same rows.
"""

from __future__ import annotations

from bess_duos.core.timebands import BandPeriod

MIDE_PERIODS = (
    BandPeriod("red", "weekday", "16:00", "19:00"),
    BandPeriod("amber", "weekday", "07:30", "16:00"),
    BandPeriod("amber", "weekday", "19:00", "21:00"),
    BandPeriod("green", "weekday", "00:00", "07:30"),
    BandPeriod("green", "weekday", "21:00", "24:00"),
    BandPeriod("green", "weekend", "00:00", "24:00"),
)
