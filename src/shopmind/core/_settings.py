"""Settings, read from SHOPMIND_* environment variables or given explicitly."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shopmind.core._timezone import DEFAULT_SHOP_TZ


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
