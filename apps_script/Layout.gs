/**
 * The BESS sheet's layout: GENERATED from config/sheet_layout.yaml by
 * `python -m bess_duos.webhook.layout --apps-script > apps_script/Layout.gs`.
 * Do not edit (tests/test_apps_script_layout.py checks it is up to date).
 */
var SHEET_LAYOUT = {
  "inputs": {
    "postcode": "A6",
    "mpan": "B6",
    "voltage": "A9",
    "profile_url": "B15",
    "kva": "C15",
    "flex_fraction": "C16"
  },
  "outputs": [
    {
      "range": "A4:H4",
      "fields": [
        [
          "status",
          "message",
          "tariff_name",
          "charging_year",
          "assumptions",
          "tariff_source",
          "time",
          "request_id"
        ]
      ]
    },
    {
      "range": "C6:H6",
      "fields": [
        [
          "distributor_id",
          "dno_name",
          "short_code",
          "mpid",
          "gsp_group_id",
          "gsp_group_name"
        ]
      ]
    },
    {
      "range": "B9:D9",
      "fields": [
        [
          "red_rate_p_per_kwh",
          "amber_rate_p_per_kwh",
          "green_rate_p_per_kwh"
        ]
      ]
    },
    {
      "range": "E9:H9",
      "fields": [
        [
          "fixed_p_per_day",
          "capacity_p_per_kva_per_day",
          "exceeded_capacity_p_per_kva_per_day",
          "reactive_p_per_kvarh"
        ]
      ]
    },
    {
      "range": "B10:D13",
      "fields": [
        [
          "red_period_1",
          "amber_period_1",
          "green_period_1"
        ],
        [
          "red_period_2",
          "amber_period_2",
          "green_period_2"
        ],
        [
          "red_period_3",
          "amber_period_3",
          "green_period_3"
        ],
        [
          "red_period_4",
          "amber_period_4",
          "green_period_4"
        ]
      ]
    },
    {
      "range": "E15:H15",
      "fields": [
        [
          "annual_duos_gbp",
          "peak_ratio",
          "load_factor",
          "weekend_factor"
        ]
      ]
    },
    {
      "range": "E16:F16",
      "fields": [
        [
          "flex_value_gbp_per_year",
          "flex_saving_pct"
        ]
      ]
    }
  ],
  "status_range": "A4:H4",
  "labels": {
    "A1": "BESS sheet: DUoS lookup (bess-duos)",
    "A3": "Status",
    "B3": "Message",
    "C3": "Tariff",
    "D3": "Charging year",
    "E3": "Assumptions",
    "F3": "Source (workbook / sheet / row)",
    "G3": "Time (UTC)",
    "H3": "Request ID",
    "A5": "Postcode",
    "B5": "MPAN (format as plain text)",
    "C5": "Distributor ID",
    "D5": "DNO",
    "E5": "Short code",
    "F5": "Market participant ID",
    "G5": "GSP group ID",
    "H5": "GSP group",
    "A8": "Voltage (LV, LV Sub, HV, EHV)",
    "B8": "Red p/kWh",
    "C8": "Amber p/kWh",
    "D8": "Green p/kWh",
    "E8": "Fixed p/day",
    "F8": "Capacity p/kVA/day",
    "G8": "Exceeded capacity p/kVA/day",
    "H8": "Reactive p/kvarh",
    "A10": "Time bands (red, amber, green)",
    "B14": "Profile link (half-hourly kWh)",
    "C14": "Agreed capacity (kVA)",
    "E14": "Annual DUoS £",
    "F14": "Peak ratio",
    "G14": "Load factor",
    "H14": "Weekend factor",
    "B16": "Flexible share",
    "D16": "Flex value £/yr, saving % of DUoS units"
  },
  "formats": {
    "A6": "@",
    "B6": "@",
    "A9": "@",
    "B15": "@",
    "A4:H4": "@",
    "B9:D9": "0.000\" p/kWh\"",
    "E9": "0.00\" p/day\"",
    "F9:G9": "0.00\" p/kVA/day\"",
    "H9": "0.000\" p/kvarh\"",
    "E15": "\"£\"#,##0.00",
    "F15:H15": "0.00",
    "E16": "\"£\"#,##0.00",
    "F16": "0.00\"%\""
  },
  "notes": {
    "C4": "Tariff: the DNO tariff the lookup used (its name in the DNO's charging statement).",
    "D4": "Charging year (April to March) of the tariff.",
    "E4": "What the lookup assumed because an input was blank: the voltage (LV) when A9 is empty and the MPAN carries no LLFC, the residual band (1) when no agreed capacity is given.",
    "F4": "Where the tariff's rates come from: the DNO workbook, its sheet and row.",
    "C6": "Distributor ID: the first two digits of the MPAN core (or the postcode's area).",
    "B9": "Red unit rate, p/kWh, of the tariff in C4 (DNO charging statement, see F4).",
    "C9": "Amber unit rate, p/kWh, of the tariff in C4 (DNO charging statement, see F4).",
    "D9": "Green unit rate, p/kWh, of the tariff in C4 (DNO charging statement, see F4).",
    "E9": "Fixed charge, p per day, of the tariff in C4 (see F4).",
    "F9": "Capacity charge, p per kVA of agreed capacity per day (see F4).",
    "G9": "Exceeded capacity charge, p per kVA above the agreed capacity per day (see F4).",
    "H9": "Reactive power charge, p per chargeable kvarh (see F4).",
    "B10": "Time bands of the tariff (local time), from the DNO's charging statement.",
    "E15": "Annual DUoS £: the profile (B15) charged at the tariff in C4 (units by band, fixed, capacity, exceeded capacity, reactive), annualised.",
    "F15": "Peak ratio: maximum half-hour demand divided by mean demand (from the profile).",
    "G15": "Load factor: mean demand divided by maximum demand, 0 to 1 (from the profile).",
    "H15": "Weekend factor: mean weekend demand divided by mean weekday demand (from the profile).",
    "E16": "Flexibility value £/yr: DUoS unit charges saved by moving up to the flexible share (C16) of each day's kWh to cheaper bands, within the site's maximum demand.",
    "F16": "Saving as % of the DUoS unit charges."
  },
  "validation": {
    "A9": {
      "list": [
        "LV",
        "LV Sub",
        "HV",
        "EHV"
      ],
      "help": "LV, LV Sub, HV or EHV; leave blank to use the MPAN's LLFC (else LV)."
    },
    "C16": {
      "between": [
        0,
        1
      ],
      "help": "Flexible share of each day's kWh, 0% to 100% (e.g. 30%)."
    }
  },
  "widths": {
    "A": 30,
    "B": 34,
    "C": 24,
    "D": 26,
    "E": 24,
    "F": 22,
    "G": 22,
    "H": 38
  }
};
