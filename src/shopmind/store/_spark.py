"""Apache Spark as the engine that reads a shop's facts when they outgrow one machine.

``spark_session`` starts (or joins) a Spark session set up the way shopmind's expressions need it:
the session time zone is UTC (DuckDB's store runs in UTC too, so a timestamp's day and hour are
computed from the same instant on both engines; shop-local days come from explicit conversion in
the expressions, never from the session zone), Arrow transfers on, the web UI off, and few shuffle
partitions on a local master (Spark's default of 200 makes a small job spend most of its time
scheduling empty tasks).

pyspark is an optional dependency (the ``spark`` extra) and imported only here, when called.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopmind.core import StoreError

if TYPE_CHECKING:
    from shopmind.store._store import Store

__all__ = [
    "FACT_INPUTS",
    "SparkFacts",
    "SparkUnavailableError",
    "java_runtime",
    "run_ids",
    "scores_to_lake",
    "spark_session",
]

#: shuffle partitions on a local master: one or two per core keeps the tasks busy without
#: scheduling hundreds of empty ones
_LOCAL_SHUFFLE_PARTITIONS = 4

#: ``SparkFacts.batches`` splits by the first 8 hex digits of an md5
_DRAW_SCALE = 16**8

#: the lake's tables a job reads as facts; the lake's ``scores`` are results, which the jobs
#: read from (and write to) the serving store, as of the run
FACT_INPUTS = ("events", "orders", "order_lines", "products", "profiles")

JAVA_HINT = "Spark needs a Java runtime: apt-get install default-jre-headless"


class SparkUnavailableError(StoreError):
    """Spark cannot start here: pyspark is not installed or no Java runtime is found."""


def java_runtime(environ: dict[str, str] | None = None) -> str:
    """The ``java`` that Spark will launch (``JAVA_HOME/bin/java``, else the one on ``PATH``);
    raises ``SparkUnavailableError`` naming the package to install when there is none."""
    env = os.environ if environ is None else environ
    home = env.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        if java.is_file() and os.access(java, os.X_OK):
            return str(java)
        raise SparkUnavailableError(f"{JAVA_HINT} (JAVA_HOME={home} holds no bin/java)")
    found = shutil.which("java", path=env.get("PATH", ""))
    if found is None:
        raise SparkUnavailableError(f"{JAVA_HINT} (no java on PATH)")
    return found


def _machine_memory() -> int | None:
    """Bytes of memory this process may use: the machine's, or its container's limit when lower
    (cgroup v2 ``memory.max``, v1 ``memory.limit_in_bytes``); None when the system does not say."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            physical = min(physical, int(text))
    return physical


def _asked_for_driver_memory() -> bool:
    """Whether the driver's memory was chosen Spark's own ways: ``SPARK_DRIVER_MEMORY``,
    ``--driver-memory`` in ``PYSPARK_SUBMIT_ARGS``, or ``spark.driver.memory`` in the
    ``spark-defaults.conf`` of ``SPARK_CONF_DIR`` (else ``SPARK_HOME/conf``)."""
    if os.environ.get("SPARK_DRIVER_MEMORY") or "--driver-memory" in os.environ.get(
        "PYSPARK_SUBMIT_ARGS", ""
    ):
        return True
    conf_dir = os.environ.get("SPARK_CONF_DIR") or (
        os.path.join(os.environ["SPARK_HOME"], "conf") if os.environ.get("SPARK_HOME") else None
    )
    if conf_dir is None:
        return False
    try:
        lines = Path(conf_dir, "spark-defaults.conf").read_text().splitlines()
    except OSError:
        return False
    return any(line.split()[:1] == ["spark.driver.memory"] for line in lines)


def _local_driver_memory() -> str | None:
    """The heap of a local Spark (driver and executors are one JVM): a quarter of the memory this
    process may use (the container's limit when lower than the machine's), 1 to 16 GB, unless one
    was asked for Spark's own ways (``_asked_for_driver_memory``; ``spark.driver.memory`` in
    ``spark_session``'s ``conf`` overrides this too). Spark's own default of 1 GB thrashes well
    before a shop's size calls for Spark: the preferences of 10M events (700,000 members) did not
    finish in 36 minutes with it, and took 7 to 10.5 minutes with 6 GB (``bench/bench_scale.py``)."""
    if _asked_for_driver_memory():
        return None
    memory = _machine_memory()
    if memory is None:
        return None
    return f"{min(16, max(1, memory // 4 // 2**30))}g"


def spark_session(master: str = "local[*]", **conf: str | int | float | bool) -> Any:
    """A ``pyspark.sql.SparkSession`` on ``master`` (``local[2]``, ``spark://host:7077``,
    ``yarn``...), set up for shopmind: UTC session time zone, Arrow on, UI off, and on a local
    master 4 shuffle partitions and a heap of a quarter of the machine's (or container's) memory,
    1 to 16 GB (Spark's default of 1 GB thrashes on millions of events). ``conf`` adds or overrides
    Spark settings; a key may be written with underscores for dots (``spark_driver_memory="2g"``)
    or as a full name.

    An active session is reused (Spark allows one per process); its runtime settings (time zone,
    Arrow, shuffle partitions) are set again so a caller always gets the zone shopmind relies on.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailableError("the Spark engine needs pyspark: pip install 'shopmind[spark]'") from None
    # the driver's JVM runs here whatever the master: a clear message instead of py4j's
    # "Java gateway process exited before sending its port number"
    java_runtime()
    settings: dict[str, str] = {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",  # its bars would tear the CLI's own
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        # the JVM's default zone too: functions that ignore the session zone then agree with it
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    }
    if master.startswith("local"):
        # the launcher's own address lookup (else it warns that the host name is a loopback one)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings["spark.sql.shuffle.partitions"] = str(_LOCAL_SHUFFLE_PARTITIONS)
        settings["spark.default.parallelism"] = str(_LOCAL_SHUFFLE_PARTITIONS)
        # no lookup of the machine's name (slow or wrong on hosts without DNS for it)
        settings["spark.driver.host"] = "127.0.0.1"
        settings["spark.driver.bindAddress"] = "127.0.0.1"
        # the workers run Ibis's Python UDFs (JSON reads): they need this interpreter, with pandas
        # and pyarrow, not the first `python3` on the PATH (a cluster's executors bring their own)
        if "PYSPARK_PYTHON" not in os.environ:
            settings["spark.pyspark.python"] = sys.executable
        memory = _local_driver_memory()
        if memory:
            settings["spark.driver.memory"] = memory
    for key, value in conf.items():
        name = key if "." in key else key.replace("_", ".")
        settings[name] = str(value).lower() if isinstance(value, bool) else str(value)
    builder = SparkSession.builder.master(master).appName("shopmind")
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # py4j's and Spark's own errors: name what failed to start
        raise SparkUnavailableError(f"cannot start Spark on {master}: {exc}") from exc
    for key in (
        "spark.sql.session.timeZone",
        "spark.sql.execution.arrow.pyspark.enabled",
        "spark.sql.shuffle.partitions",
    ):
        if key in settings:
            session.conf.set(key, settings[key])
    session.sparkContext.setLogLevel("ERROR")  # Spark's INFO lines would bury the CLI's report
    return session


class SparkFacts:
    """A shop's facts in an open Parquet layout (``DIR/<table>/[day=YYYY-MM-DD/]part-*.parquet``,
    see docs/data-layout.md), read by Spark: ``table(name)`` is an Ibis table on Spark, so the
    jobs' feature expressions compile to Spark SQL and run where the data is.

    A table the lake does not hold (the catalogue, weather, the runs' segment members...) is
    shipped from the serving store with ``ship``: those are small beside the events, and an Ibis
    expression must read all its tables from one engine.

    ``session``: a running SparkSession to use (tests share one); else one is started on
    ``master`` with ``conf`` when first needed. ``close`` drops the views; it stops the session
    only if this object started it."""

    def __init__(
        self,
        directory: str | Path,
        *,
        master: str = "local[*]",
        session: Any = None,
        conf: dict[str, str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise StoreError(f"--data {self.directory}: no such directory (a Parquet lake: DIR/<table>/...)")
        self.master = master
        self._conf = dict(conf or {})
        self._session = session
        self._own_session = False  # see session: only a session this object started is stopped
        self._backend: Any = None
        self._views: set[str] = set()
        #: the Ibis tables ``pin`` cached, by expression: one copy per run, whichever job asks
        self._pinned: dict[Any, Any] = {}
        #: the scores ``facts_on_spark`` appended to the lake after its block
        self.scores_written = 0
        # one prefix per instance: two lakes read in one session never see each other's views
        self._prefix = f"shopmind_{id(self):x}_"

    # -- the engine ----------------------------------------------------------------------------
    @property
    def session(self) -> Any:
        if self._session is None:
            from pyspark.sql import SparkSession

            self._own_session = SparkSession.getActiveSession() is None
            self._session = spark_session(self.master, **self._conf)
        return self._session

    def ibis(self) -> Any:
        """The Ibis PySpark backend on this session."""
        if self._backend is None:
            import ibis

            self._backend = ibis.pyspark.connect(self.session)
        return self._backend

    # -- the facts -----------------------------------------------------------------------------
    def tables(self) -> tuple[str, ...]:
        """The tables the lake holds: its sub-directories with at least one Parquet file."""
        return tuple(
            sorted(
                p.name
                for p in self.directory.iterdir()
                if p.is_dir() and not p.name.startswith((".", "_")) and next(p.rglob("*.parquet"), None)
            )
        )

    def has(self, name: str) -> bool:
        """Whether ``name`` is a fact table (``FACT_INPUTS``) this lake holds."""
        if name not in FACT_INPUTS:
            return False
        folder = self.directory / name
        return folder.is_dir() and next(folder.rglob("*.parquet"), None) is not None

    def table(self, name: str) -> Any:
        """An Ibis table over the lake's fact table ``name``, with the serving store's columns."""
        if not self.has(name):
            raise StoreError(
                f"the lake {self.directory} holds no fact table {name!r} (no {name}/*.parquet; "
                f"the facts are {', '.join(FACT_INPUTS)})"
            )
        view = self._prefix + name
        if view not in self._views:
            folder = str(self.directory / name)
            frame = self.session.read.option("basePath", folder).parquet(folder)
            # the hive partition column ``day`` is the folder's, not the store table's: the jobs'
            # expressions see the columns they see on DuckDB, and a job's own "day" never collides
            if "day" in frame.columns:
                frame = frame.drop("day")
            frame.createOrReplaceTempView(view)
            self._views.add(view)
        return self.ibis().table(view)

    def ship(self, name: str, rows: Any) -> Any:
        """An Ibis table on Spark holding ``rows`` (an Arrow table from the serving store), for a
        table the lake does not hold. Shipped again on every call: the store may have changed."""
        import pyarrow as pa
        from pyspark.sql.pandas.types import from_arrow_schema

        schema = from_arrow_schema(rows.schema)
        table = rows.to_pandas()
        # pandas 3 keeps text as Arrow-backed strings, which pyspark 3.5's Arrow path cannot take
        text = [f.name for f in rows.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        table = table.astype(dict.fromkeys(text, object))
        frame = self.session.createDataFrame(table, schema=schema)
        view = f"{self._prefix}shipped_{name}"
        frame.createOrReplaceTempView(view)
        self._views.add(view)
        return self.ibis().table(view)

    def pin(self, expr: Any) -> Any:
        """``expr`` (an Ibis table on this engine) computed once, on first use, and kept in the
        executors' memory (spilling to their disks) until ``close``: Spark recomputes a view in
        every query that reads it, and the jobs' purchases (orders joined with their lines and
        the profiles) are read by most queries of a run, some twice. Equal expressions built
        anew by another job share the copy."""
        key = expr.op()
        if key not in self._pinned:
            self._pinned[key] = expr.cache()
        return self._pinned[key]

    def batches(self, expr: Any, rows: int, *, key: str = "profile_id") -> Iterator[Any]:
        """The rows of ``expr`` as Arrow tables of about ``rows`` rows each: ``expr`` is pinned
        (computed once), counted, and brought back in parts by the first 32 bits of md5(``key``)
        (Spark brings a query's whole result to the driver at once: parts keep the driver's share
        bounded). An empty result gives no part."""
        pinned = self.pin(expr)
        total = int(pinned.count().execute())
        parts = max(1, -(-total // max(1, rows)))
        if parts == 1:
            if total:
                yield pinned.to_pyarrow()
            return
        draw = pinned[key].hexdigest("md5").substr(0, 8)
        edges = [f"{(_DRAW_SCALE * i) // parts:08x}" for i in range(parts)]
        for i, low in enumerate(edges):
            inside = draw >= low if i + 1 == parts else (draw >= low) & (draw < edges[i + 1])
            part = pinned.filter(inside).to_pyarrow()
            if part.num_rows:
                yield part

    def close(self) -> None:
        for cached in self._pinned.values():
            cached.release()
        self._pinned.clear()
        if self._session is not None:
            for view in self._views:
                self._session.catalog.dropTempView(view)
            if self._own_session:
                self._session.stop()
                self._session = None
        self._views.clear()
        self._backend = None

    def __enter__(self) -> SparkFacts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_ids(store: Store) -> set[str]:
    """The ids of the store's successful job runs (before and after a run: the new ones are its)."""
    return {rid for (rid,) in store.sql("SELECT run_id FROM job_runs WHERE status = 'ok'")}


def scores_to_lake(store: Store, directory: str | Path, runs: set[str], *, zone: str) -> int:
    """Append the scores of ``runs`` to the lake's ``scores`` (new part files, partitioned by the
    shop-local day of their as_of; nothing already there is rewritten); returns the rows written."""
    from shopmind.store._lake_writer import LakeWriter

    if not runs:
        return 0
    marks = ", ".join("?" for _ in runs)
    rows = store.query_arrow(
        "SELECT s.run_id, r.job, s.profile_id, s.name, s.value, s.as_of FROM scores s "
        f"JOIN job_runs r USING (run_id) WHERE s.run_id IN ({marks}) ORDER BY s.run_id, s.profile_id, s.name",
        sorted(runs),
    )
    with LakeWriter(directory, zone=zone) as writer:
        return writer.append("scores", rows)


@contextmanager
def facts_on_spark(
    store: Store,
    lake: str | Path,
    *,
    zone: str,
    export: bool = False,
    master: str = "local[*]",
    session: Any = None,
) -> Iterator[SparkFacts]:
    """For the block, ``store.table`` reads the facts from the lake through Spark (the jobs run
    their expressions there, their results are written to ``store``); afterwards the scores of
    the runs made in the block are appended to the lake (``facts.scores_written`` says how many).

    ``export``: first write the store's facts (``FACT_INPUTS``) to ``lake``, replacing those
    table folders (``shopmind run --engine spark`` without ``--data``)."""
    if export:
        from shopmind.store._lake_export import export_lake

        export_lake(store, lake, zone=zone, tables=FACT_INPUTS, replace=True)
    else:
        from shopmind.store._lake import LakeError, read_manifest

        written_in = (read_manifest(lake) or {}).get("zone") if Path(lake).is_dir() else None
        if written_in not in (None, zone):  # before the jobs run, not when their scores are appended
            raise LakeError(
                f"{lake} holds days in the zone {written_in}, not {zone}: run with --zone {written_in}"
            )
    before = run_ids(store)
    with SparkFacts(lake, master=master, session=session) as facts, store.use_facts(facts):
        yield facts
    facts.scores_written = scores_to_lake(store, lake, run_ids(store) - before, zone=zone)
