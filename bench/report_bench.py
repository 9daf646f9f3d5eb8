"""The report site: how long its build takes, what each query costs, and how big each page is.

Generates a field fleet, lands and builds it on a fresh embedded TimescaleDB (or `--database-url`, a
database already built), then builds the report and prints the build time, every query's time and
rows, and each page's size with the data it loads.

    python -m bench.report_bench --devices 10 --days 180 --interval 180
    python -m bench.report_bench --database-url postgresql://postgres:postgres@127.0.0.1:5433/template1?sslmode=disable
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.dbt_bench import _Embedded
from bench.loader_bench import land
from harness.dbt import run_dbt
from loader.generate import FleetSpec, generate_fleet
from loader.report import build_report, iter_pages
from loader.settings import ConnectionSettings, resolve_connection


@contextlib.contextmanager
def built_fleet(args: argparse.Namespace, work: Path) -> Iterator[ConnectionSettings]:
    if args.database_url:
        yield resolve_connection(args.database_url)
        return
    spec = FleetSpec(devices=args.devices, days=args.days, interval_s=args.interval, profile="field", seed=1)
    generate_fleet(spec, work / "fleet")
    with _Embedded() as settings:
        land(settings, work / "fleet", "loader load")
        started = time.monotonic()
        run_dbt(settings, work, "build")
        print(f"dbt build: {time.monotonic() - started:.1f} s")
        yield settings


def page_weight(site: Path, page: Path) -> tuple[int, int]:
    """The page's HTML bytes, and the bytes of the data it loads (a device page: its own folder)."""
    html = page.stat().st_size
    if page.parent.name == "devices" and page.name != "index.html":
        data = sum(path.stat().st_size for path in (site / "data" / "device" / page.stem).glob("*.json"))
    else:
        data = sum(path.stat().st_size for path in (site / "data").glob("*.json"))
    return html, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--days", type=float, default=180)
    parser.add_argument("--interval", type=float, default=180)
    parser.add_argument("--database-url", help="a database already landed and built: skip the fleet")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, built_fleet(args, Path(folder)) as settings:
        site = Path(folder) / "site"
        built = build_report(settings, site)
        print(
            f"report build: {built.seconds:.1f} s ({built.pages} pages, {built.devices} devices, "
            f"{built.site_bytes / 1e6:.1f} MB with the chart libraries); queries {built.query_seconds:.2f} s"
        )
        for timing in sorted(built.timings, key=lambda timing: -timing.seconds):
            print(f"  query {timing.name:28} {timing.seconds:6.3f} s {timing.rows:>8} rows")
        for page in iter_pages(site):
            html, data = page_weight(site, page)
            print(f"  page {page.relative_to(site).as_posix():52} {html / 1e3:7.1f} kB html {data / 1e3:8.1f} kB data")


if __name__ == "__main__":
    main()
