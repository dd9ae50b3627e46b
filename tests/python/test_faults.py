"""Faults in the ingest, injected against the real MariaDB: the run heals or fails loudly.

No Spark here (fast); the dbt-side faults are in ``test_faults_e2e.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.config import PROJECT_DIR, SourceConfig
from ingest.pipeline import IngestError, lake_dir, run_ingest
from loyalty.lock import home_lock
from loyalty.reconcile import reconcile
from tests.python.conftest import (
    DB_HOST,
    DB_PORT,
    SourceDatabase,
    connect,
    run_cli,
)

D = Decimal
FAST_RETRY = {"LOYALTY_INGEST_BACKOFF_MS": "50", "LOYALTY_INGEST_ATTEMPTS": "3"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def completed_lake_ids(home: Path) -> list[int]:
    """transaction_ids of rows in completed loads: what dbt staging reads (before dedupe)."""
    dataset = lake_dir(home)
    completed = set()
    for path in (dataset / "_dlt_loads").glob("*"):
        for line in path.read_text().splitlines():
            if line.strip() and json.loads(line)["status"] == 0:
                completed.add(json.loads(line)["load_id"])
    ids: list[int] = []
    for path in (dataset / "transactions").glob("*.parquet"):
        table = pq.read_table(path, columns=["transaction_id", "_dlt_load_id"])
        for row in table.to_pylist():
            if row["_dlt_load_id"] in completed:
                ids.append(row["transaction_id"])
    return sorted(ids)


def fill(database: SourceDatabase, rows: int) -> None:
    """Bulk-generate ``rows`` transactions inside MariaDB (seq_1_to_N engine)."""
    database.execute(
        "insert into transactions"
        " select seq, seq % 5000, date '2024-01-01' + interval (seq % 500) day,"
        " if(seq % 10 = 0, null, (seq % 100000) / 100)"
        f" from seq_1_to_{rows}"
    )


# --- unreachable or refusing source ----------------------------------------------------------


def test_refused_connection_is_retried_with_backoff_then_fails_naming_the_source(
    database: SourceDatabase, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    config = SourceConfig(
        host="127.0.0.1", port=port, database=database.name, user="root", password=""
    )
    with caplog.at_level(logging.WARNING), pytest.raises(IngestError) as raised:
        run_ingest(config, home, env=FAST_RETRY)
    message = str(raised.value)
    assert f"root@127.0.0.1:{port}/{database.name}.transactions after 3 attempts" in message
    assert "Can't connect" in message or "Connection refused" in message
    assert "\n" not in message
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2
    assert not (home / "lake" / "raw_mysql" / "transactions").exists()


class DelayedProxy:
    """A TCP proxy to MariaDB that starts listening only once ``start`` is set.

    Until then the port refuses connections, like a server that is restarting.
    """

    def __init__(self, start: threading.Event) -> None:
        self.port = free_port()
        self.start = start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DelayedProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _serve(self) -> None:
        self.start.wait(timeout=60)
        with socket.socket() as server:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", self.port))
            server.listen(16)
            server.settimeout(0.1)
            while not self._stop.is_set():
                try:
                    client, _ = server.accept()
                except OSError:
                    continue
                upstream = socket.create_connection((DB_HOST, DB_PORT))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()


class _ComeBackAfterFirstFailure(logging.Handler):
    """Sets ``event`` at the first "retrying in" warning: the server restarts during backoff."""

    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying in" in record.getMessage():
            self.event.set()


def test_server_that_comes_back_during_backoff_is_loaded_on_retry(
    database: SourceDatabase, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database.insert([(1, 1, dt.date(2024, 1, 1), D("1.00")), (2, 2, dt.date(2024, 1, 2), None)])
    first_failure = threading.Event()
    handler = _ComeBackAfterFirstFailure(first_failure)
    logging.getLogger("ingest.pipeline").addHandler(handler)
    try:
        with DelayedProxy(first_failure) as proxy, caplog.at_level(logging.WARNING):
            config = SourceConfig(
                host="127.0.0.1", port=proxy.port, database=database.name, user="root", password=""
            )
            # The retry loop is the same for both backends; ConnectorX's native client does not
            # get a connection through this little Python proxy, so pyarrow reads the rows here.
            env = {"LOYALTY_INGEST_BACKOFF_MS": "1000", "LOYALTY_INGEST_BACKEND": "pyarrow"}
            result = run_ingest(config, home, env=env)
    finally:
        logging.getLogger("ingest.pipeline").removeHandler(handler)
    assert result.rows_loaded == 2
    assert any("attempt 1/3 failed" in r.getMessage() for r in caplog.records)


@pytest.fixture
def password_user(database: SourceDatabase) -> Iterator[tuple[str, str]]:
    """A MySQL user with a real password, allowed to read the test database."""
    user, password = f"lp_{database.name[-8:]}", f"Pw-{os.urandom(6).hex()}-secret"
    conn = connect()
    try:
        cursor = conn.cursor()
        cursor.execute(f"create user '{user}'@'%' identified by '{password}'")
        cursor.execute(f"grant select on `{database.name}`.* to '{user}'@'%'")
        cursor.execute(f"create user '{user}'@'localhost' identified by '{password}'")
        cursor.execute(f"grant select on `{database.name}`.* to '{user}'@'localhost'")
    finally:
        conn.close()
    try:
        yield user, password
    finally:
        conn = connect()
        try:
            conn.cursor().execute(f"drop user if exists '{user}'@'%', '{user}'@'localhost'")
        finally:
            conn.close()


def files_containing(root: Path, needle: str) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            hits.append(path)
    return hits


def test_password_never_appears_in_output_logs_or_dlt_state(
    database: SourceDatabase, home: Path, password_user: tuple[str, str]
) -> None:
    user, password = password_user
    database.insert([(1, 1, dt.date(2024, 1, 1), D("1.00"))])
    env = {**database.env(), "DB_USER": user, "DB_PASSWORD": password, "LOYALTY_HOME": str(home)}
    ok = run_cli(["-v", "ingest"], env)
    assert ok.returncode == 0, ok.stderr[-2000:]
    wrong_db = run_cli(["-v", "ingest"], {**env, "DB_NAME": "no_such_db_here"})
    wrong_pw = run_cli(["-v", "ingest"], {**env, "DB_PASSWORD": password + "x", **FAST_RETRY})
    assert wrong_pw.returncode == 1
    assert "Access denied" in wrong_pw.stderr
    for done in (ok, wrong_db, wrong_pw):
        assert password not in done.stdout + done.stderr
    assert (home / "dlt").is_dir()
    assert files_containing(home, password) == []


def test_second_run_on_the_same_home_is_refused_with_a_clear_message(
    database: SourceDatabase, home: Path
) -> None:
    with home_lock(home):
        done = run_cli(["ingest"], {**database.env(), "LOYALTY_HOME": str(home)})
    assert done.returncode == 1
    assert f"another loyalty run (pid {os.getpid()}) is using LOYALTY_HOME={home}" in done.stderr
    assert not (home / "lake").exists()


def test_lake_and_state_files_are_readable_by_the_owner_only(
    database: SourceDatabase, home: Path
) -> None:
    database.insert([(1, 1, dt.date(2024, 1, 1), D("1.00"))])
    done = run_cli(["ingest"], {**database.env(), "LOYALTY_HOME": str(home)})
    assert done.returncode == 0, done.stderr[-2000:]
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files)
    loose = [p for p in files if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert loose == []


# --- killed mid-load ----------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["load", "extract"])
def test_ingest_killed_mid_run_then_rerun_has_every_row_exactly_once(
    database: SourceDatabase, home: Path, phase: str
) -> None:
    fill(database, 300_000)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "LOYALTY_"))},
        **database.env(),
        "LOYALTY_HOME": str(home),
        "LOYALTY_ENV_FILE": os.devnull,
        "LOYALTY_INGEST_CHUNK_SIZE": "5000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "loyalty", "ingest"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lake_files = home / "lake" / "raw_mysql" / "transactions"
    work = home / "dlt"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if phase == "load" and lake_files.is_dir() and any(lake_files.iterdir()):
            break
        if (
            phase == "extract"
            and work.is_dir()
            and any(p.suffix in {".parquet", ".gz"} or "extract" in str(p) for p in work.rglob("*"))
        ):
            break
        time.sleep(0.01)
    assert process.poll() is None, "the ingest finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    source_ids = [r[0] for r in database.rows()]
    for _ in range(2):  # the first rerun may only finish the interrupted package
        done = run_cli(
            ["ingest"],
            {**database.env(), "LOYALTY_HOME": str(home), "LOYALTY_INGEST_CHUNK_SIZE": "50000"},
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert completed_lake_ids(home) == source_ids


# --- source changes between runs --------------------------------------------------------------


def test_reconciliation_detects_deleted_and_corrected_rows(
    database: SourceDatabase, home: Path
) -> None:
    as_of = dt.date(2024, 12, 31)
    database.insert(
        [(i, i % 7, dt.date(2024, 1 + i % 12, 1 + i % 28), D(i) / 4) for i in range(1, 400)]
        + [(400, 1, dt.date(2024, 6, 1), None), (401, 1, dt.date(2022, 1, 1), D("5.00"))]
    )
    run_ingest(database.config, home)
    clean = reconcile(database.config, lake_dir(home), as_of, 12)
    assert not clean.drifted
    assert clean.source.rows == 400
    assert clean.start == dt.date(2023, 12, 31)

    database.execute("delete from transactions where transaction_id = 10")
    deleted = reconcile(database.config, lake_dir(home), as_of, 12)
    assert deleted.drifted
    assert deleted.source.rows == deleted.lake.rows - 1

    run_ingest(database.config, home, full_refresh=True)
    database.execute("update transactions set amount = amount + 0.01 where transaction_id = 11")
    corrected = reconcile(database.config, lake_dir(home), as_of, 12)
    assert corrected.drifted
    assert corrected.source.rows == corrected.lake.rows
    assert corrected.source.amount_sum - corrected.lake.amount_sum == D("0.01")

    env = {**database.env(), "LOYALTY_HOME": str(home), "LOYALTY_AS_OF_DATE": as_of.isoformat()}
    done = run_cli(["reconcile"], env)
    assert done.returncode == 1
    assert "DIFFERENT" in done.stdout
    assert "--full-refresh" in done.stdout
    run_ingest(database.config, home, full_refresh=True)
    assert run_cli(["reconcile"], env).returncode == 0


def test_zero_dates_arrive_as_null_dates(database: SourceDatabase, home: Path) -> None:
    conn = connect(database.name)
    try:
        cursor = conn.cursor()
        cursor.execute("set session sql_mode = ''")
        cursor.execute("insert into transactions values (1, 5, '0000-00-00', 10.00)")
        conn.commit()
    finally:
        conn.close()
    run_ingest(database.config, home)
    table = pa.concat_tables(
        pq.read_table(p) for p in (lake_dir(home) / "transactions").glob("*.parquet")
    )
    assert table.column("transaction_date").to_pylist() == [None]
