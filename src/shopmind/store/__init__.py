"""The storage port and its embedded DuckDB adapter, migrations, the quarantine and workspaces."""

from shopmind.store._audiences import save_audience, saved_audiences
from shopmind.store._claims import unverified_orders
from shopmind.store._decisions import (
    OUTCOMES,
    log_decisions,
    log_outcomes,
    served_since,
    trigger_performance,
)
from shopmind.store._disk import free_bytes, out_of_space
from shopmind.store._erasure import (
    ERASED_TABLES,
    Erasure,
    compact_store,
    erase_profile,
    erasure_token,
    resolve_person,
)
from shopmind.store._keys import KEYS_FILE, KINDS, ApiKey, KeyKind, KeyRing
from shopmind.store._migrations import LATEST_VERSION, MIGRATIONS, Migration
from shopmind.store._signatures import IDENTITY_FILE, IdentitySigner
from shopmind.store._store import (
    FACT_TABLES,
    QUARANTINE_SCHEMA,
    Store,
    StoreStatus,
    TableSummary,
    WriteResult,
)
from shopmind.store._url import open_store
from shopmind.store._workspace import PRIVACY_FILE, Workspace

__all__ = [
    "ERASED_TABLES",
    "FACT_TABLES",
    "IDENTITY_FILE",
    "KEYS_FILE",
    "KINDS",
    "LATEST_VERSION",
    "MIGRATIONS",
    "OUTCOMES",
    "PRIVACY_FILE",
    "QUARANTINE_SCHEMA",
    "ApiKey",
    "Erasure",
    "IdentitySigner",
    "KeyKind",
    "KeyRing",
    "Migration",
    "Store",
    "StoreStatus",
    "TableSummary",
    "Workspace",
    "WriteResult",
    "compact_store",
    "erase_profile",
    "erasure_token",
    "free_bytes",
    "log_decisions",
    "log_outcomes",
    "open_store",
    "out_of_space",
    "resolve_person",
    "save_audience",
    "saved_audiences",
    "served_since",
    "trigger_performance",
    "unverified_orders",
]
