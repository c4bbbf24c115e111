"""Tables on the pages: a pandas DataFrame in ``st.dataframe`` with column configs, and its CSV.

    tables.show(present.frame(rows), "cache_stats", {"hit_rate": tables.rate("hit rate")})

Every table gets a small "CSV" download button under it: the dataframe toolbar's own download
needs a hover and the browser's file picker, a button works the same everywhere (and headless).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

Columns = Mapping[str, Any]


def frame(
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame, columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """Rows (dicts) as a DataFrame, optionally keeping only ``columns`` in that order (an empty
    table still has them, so its headers show)."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if columns is not None and df.empty and not len(df.columns):
        return pd.DataFrame(columns=list(columns))
    if columns is not None:
        cols = [c for c in columns if c in df.columns]
        df = df[cols] if cols else df
    return df


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The table as UTF-8 CSV (what the download button serves)."""
    return df.to_csv(index=False).encode("utf-8")


def show(
    df: pd.DataFrame,
    key: str,
    columns: Columns | None = None,
    *,
    file_name: str | None = None,
    where: Any = None,
    **kwargs: Any,
) -> Any:
    """``st.dataframe`` (full width, no index, ``columns`` = column_config) plus a CSV download.

    Returns what ``st.dataframe`` returns (the selection state with ``on_select``)."""
    box = where if where is not None else st
    out = box.dataframe(
        df, hide_index=True, column_config=dict(columns or {}), key=key, width="stretch", **kwargs
    )
    if not df.empty:
        box.download_button(
            "CSV",
            csv_bytes(df),
            file_name=file_name or f"{key}.csv",
            mime="text/csv",
            key=f"{key}_csv",
            icon=":material/download:",
            type="tertiary",
            on_click="ignore",  # a download needs no rerun
            help=f"Download this table ({len(df)} rows) as CSV",
        )
    return out


# ---- column configs used on several pages -------------------------------------------------------
def ms(label: str, fmt: str = "%.1f ms", help: str | None = None) -> Any:
    return st.column_config.NumberColumn(label, format=fmt, help=help)


def num(label: str, fmt: str = "%d", help: str | None = None) -> Any:
    return st.column_config.NumberColumn(label, format=fmt, help=help)


def rate(label: str, help: str | None = None) -> Any:
    """A 0-1 ratio drawn as a progress bar with a percentage."""
    return st.column_config.ProgressColumn(label, min_value=0.0, max_value=1.0, format="percent", help=help)


def text(label: str, width: str | None = "medium", help: str | None = None) -> Any:
    return st.column_config.TextColumn(label, width=width, help=help)  # type: ignore[arg-type]


def when(label: str, help: str | None = None) -> Any:
    return st.column_config.DatetimeColumn(label, format="YYYY-MM-DD HH:mm:ss", help=help)
