"""Comparing two ways of reading a profile: the outcome of a read (its profile, or its
refusal's message and retry hint) and the assertion that two outcomes are the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from bess_duos.core.profiles import Profile, ProfileError


def outcome(read: Callable[[], Profile]) -> tuple[str, Any]:
    """("ok", the profile) or ("error", (message, retry_with)) of `read()`."""
    try:
        profile = read()
    except ProfileError as exc:
        return "error", (str(exc), exc.retry_with)
    return "ok", profile


def assert_same(got: tuple[str, Any], expected: tuple[str, Any]) -> None:
    """The same refusal, or frames equal to the bit (index, dtypes, freq) and equal reports
    (a profile given as its kWh Series: equal to the frame's one column, `kwh`)."""
    assert got[0] == expected[0], (got, expected)
    if got[0] == "error":
        assert got[1] == expected[1]
        return
    if isinstance(got[1].data, pd.Series):
        assert list(expected[1].data.columns) == ["kwh"]
        pd.testing.assert_series_equal(got[1].data, expected[1].data["kwh"], check_exact=True,
                                       check_freq=True, check_flags=True)
    else:
        pd.testing.assert_frame_equal(got[1].data, expected[1].data, check_exact=True,
                                      check_freq=True, check_flags=True)
    assert got[1].data.index.dtype == expected[1].data.index.dtype
    assert got[1].quality == expected[1].quality
