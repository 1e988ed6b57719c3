"""The storage port and its embedded DuckDB adapter, migrations, the quarantine and workspaces."""

from shopmind.store._audiences import save_audience, saved_audiences
from shopmind.store._decisions import (
    OUTCOMES,
    append_decisions,
    append_outcomes,
    log_decisions,
    log_outcomes,
    served_since,
    trigger_performance,
)
from shopmind.store._keys import KEYS_FILE, KINDS, ApiKey, KeyKind, KeyRing
from shopmind.store._migrations import LATEST_VERSION, MIGRATIONS, Migration
from shopmind.store._profiles import missing_profiles, record_profiles, stored_profiles
from shopmind.store._running import (
    SERVER_FILE,
    TOKEN_FILE,
    RunningServer,
    announce_server,
    retire_server,
    running_server,
)
from shopmind.store._server_jobs import (
    JOB_STATUSES,
    ServerJob,
    interrupt_server_jobs,
    record_server_job,
    server_jobs,
)
from shopmind.store._store import (
    FACT_TABLES,
    QUARANTINE_SCHEMA,
    Store,
    StoreStatus,
    TableSummary,
    WriteResult,
)
from shopmind.store._url import open_store
from shopmind.store._workspace import Workspace

__all__ = [
    "FACT_TABLES",
    "JOB_STATUSES",
    "KEYS_FILE",
    "KINDS",
    "LATEST_VERSION",
    "MIGRATIONS",
    "OUTCOMES",
    "QUARANTINE_SCHEMA",
    "SERVER_FILE",
    "TOKEN_FILE",
    "ApiKey",
    "KeyKind",
    "KeyRing",
    "Migration",
    "RunningServer",
    "ServerJob",
    "Store",
    "StoreStatus",
    "TableSummary",
    "Workspace",
    "WriteResult",
    "announce_server",
    "append_decisions",
    "append_outcomes",
    "interrupt_server_jobs",
    "log_decisions",
    "log_outcomes",
    "missing_profiles",
    "open_store",
    "record_profiles",
    "record_server_job",
    "retire_server",
    "running_server",
    "save_audience",
    "saved_audiences",
    "served_since",
    "server_jobs",
    "stored_profiles",
    "trigger_performance",
]
