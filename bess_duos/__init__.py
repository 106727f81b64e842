"""bess-duos: GB network charges (DUoS) and battery/flexibility value for the BESS sheet.

The repository keeps `core/`, `webhook/` and `config/` at its top level; they install as
`bess_duos.core`, `bess_duos.webhook` and `bess_duos.config` (see pyproject.toml).
"""

__version__ = "0.2.0"
