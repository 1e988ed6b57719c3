"""Settings, read from SHOPMIND_* environment variables or given explicitly."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shopmind.core._timezone import DEFAULT_SHOP_TZ

#: what DuckDB's memory_limit accepts: a number and a unit (1000- or 1024-based), or a share of the RAM
_MEMORY = re.compile(r"\s*\d+(\.\d+)?\s*(b|kb|mb|gb|tb|kib|mib|gib|tib|%)\s*", re.IGNORECASE)


class Settings(BaseSettings):
    """Where the workspace lives and how the shop behaves.

    ``SHOPMIND_WORKSPACE=/srv/shop`` selects the workspace folder (one shop, one store).
    """

    model_config = SettingsConfigDict(env_prefix="SHOPMIND_", extra="forbid", frozen=True)

    workspace: Path = Field(default=Path(".shopmind"), description="the workspace folder")
    shop_timezone: str = Field(default=DEFAULT_SHOP_TZ, description="IANA zone for business rules")
    currency: str = Field(default="KRW", min_length=3, max_length=3, description="default currency")
    max_event_bytes: int = Field(default=32 * 1024, gt=0, description="largest accepted event")
    clock_shift_file: Path | None = Field(
        default=None,
        description="a file holding seconds to move the server's clock forward by (tests and replays: "
        "windows slide and the nightly run comes as if that much time had passed)",
    )
    future_tolerance_seconds: int = Field(
        default=300,
        ge=0,
        description="how far past the receive time an event time may lie before it is clamped",
    )
    max_unit_price: float = Field(
        default=1_000_000_000.0,
        gt=0,
        allow_inf_nan=False,
        description="largest unit price an event may carry",
    )
    max_quantity: int = Field(
        default=100_000, gt=0, description="largest quantity of one line an event may carry"
    )
    max_order_value: float = Field(
        default=10_000_000_000.0,
        gt=0,
        allow_inf_nan=False,
        description="largest order value an event may carry",
    )
    duckdb_memory_limit: str | None = Field(
        default=None,
        description="the most memory the store's DuckDB may take, e.g. '6GB' or '40%' of the RAM "
        "(default: DuckDB's 80%); bigger sorts, joins and aggregations spill to the temp directory",
    )
    duckdb_temp_directory: Path | None = Field(
        default=None,
        description="where DuckDB spills what does not fit its memory limit (default: beside the "
        "store, shop.duckdb.tmp); a disk with room for the largest job's intermediate results",
    )

    model_sample_customers: int = Field(
        default=1_000_000,
        ge=1,
        description="past this many profiles the churn and purchase models learn from a seeded sample "
        "of about this many customers per backtest window, drawn by the engine (every customer is "
        "still scored); read by shopmind.pipeline._model_sample",
    )

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _amount_of_memory(cls, value: str | None) -> str | None:
        if value is not None and not _MEMORY.fullmatch(value):
            raise ValueError("must be an amount of memory such as 6GB, 500MiB or 40% (of the RAM)")
        return value
