"""What TimescaleDB's background worker does on a real server, done on demand.

A native server's worker runs every policy by itself: it refreshes continuous aggregates, compresses
(and recompresses) chunks older than their `compress_after` and drops chunks past retention. The
embedded server has no background worker, so a test that builds in several steps calls
`run_policy_jobs` between them, and sees what a real server would show by then. On plain PostgreSQL
there are no policies and it does nothing.
"""

from __future__ import annotations

import psycopg

from loader.settings import ConnectionSettings

# The order a worker that had caught up would leave things in: rollups refreshed from uncompressed
# rows, then everything old enough compressed, then what is past retention dropped.
POLICY_PROCEDURES = ("policy_refresh_continuous_aggregate", "policy_compression", "policy_retention")

JOBS_QUERY = """
select job_id
from timescaledb_information.jobs
where proc_name = any(%s)
order by array_position(%s, proc_name::text), job_id
"""


def is_timescaledb(settings: ConnectionSettings) -> bool:
    """Whether the database has the timescaledb extension."""
    with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
        row = connection.execute("select exists (select 1 from pg_extension where extname = 'timescaledb')").fetchone()
    return bool(row and row[0])


def run_policy_jobs(settings: ConnectionSettings) -> int:
    """Run every refresh, compression and retention policy job once, now. Returns the jobs run."""
    if not is_timescaledb(settings):
        return 0
    with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
        procedures = list(POLICY_PROCEDURES)
        jobs = [row[0] for row in connection.execute(JOBS_QUERY, [procedures, procedures])]
        for job in jobs:
            connection.execute(f"call run_job({int(job)})")
    return len(jobs)


def compressed_chunk_count(settings: ConnectionSettings, hypertable: str) -> int:
    """How many chunks of `hypertable` (a name, or a continuous aggregate's view name) are compressed."""
    with psycopg.connect(settings.conninfo, autocommit=True, prepare_threshold=None) as connection:
        row = connection.execute(
            """
            select count(*)
            from timescaledb_information.chunks as chunks
            left join timescaledb_information.continuous_aggregates as aggregates
                on aggregates.materialization_hypertable_name = chunks.hypertable_name
            where chunks.is_compressed and %s in (chunks.hypertable_name, aggregates.view_name)
            """,
            [hypertable],
        ).fetchone()
    return int(row[0]) if row else 0
