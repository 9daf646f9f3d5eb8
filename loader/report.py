"""The report site (reports/): pictures of the marts, built into static pages.

A build runs every query in reports/queries/ as the analysts' role (so a page can show only what an
analyst may read), writes each result as JSON beside the pages, writes one page per device from
reports/device.md, and builds the site with MkDocs. Charts are Vega-Lite specs in the pages (fenced
``vegalite`` blocks, see `vegalite_fence`); reports/assets/charts.js hands them their data and Vega
Embed draws them. The chart libraries come from npm into reports/node_modules and are copied into the
site, so pages open without a network.

This module is also the MkDocs macros module (`define_env`): the figures and tables on a page are
filled in from the same JSON at build time.
"""

from __future__ import annotations

import datetime
import decimal
import html
import json
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import psycopg
import yaml
from psycopg import sql

from loader.connection import connect
from loader.errors import LoaderError
from loader.npm_packages import STATE_DIR, npm_folder
from loader.settings import IS_CHECKOUT, PROJECT_ROOT, ConnectionSettings, dbt_project_var

REPORT_DIR = PROJECT_ROOT / "reports"
# The site goes beside the report's sources in a checkout, else into the current folder.
DEFAULT_SITE_DIR = REPORT_DIR / "build" if IS_CHECKOUT else Path("report")
NPM_FILES = ("package.json", "package-lock.json")
CHART_LIBRARIES = ("vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js")
DEVICE_QUERIES = "device"
DATA_FOLDER = "data"
MISSING = "\N{EN DASH}"


@dataclass
class QueryTiming:
    name: str
    seconds: float
    rows: int


@dataclass
class ReportBuild:
    site_dir: Path
    devices: int
    pages: int
    site_bytes: int
    seconds: float
    query_seconds: float
    timings: list[QueryTiming] = field(default_factory=list)


def build_report(
    settings: ConnectionSettings,
    site_dir: Path,
    report_dir: Path = REPORT_DIR,
    progress: Callable[[str], None] = lambda message: None,
) -> ReportBuild:
    """Query the database as the analysts' role and build the site into `site_dir`, which is replaced:
    it must be new, empty, or an earlier report's."""
    if site_dir.is_dir() and any(site_dir.iterdir()) and not (site_dir / DATA_FOLDER / "devices.json").is_file():
        raise LoaderError(f"{site_dir} holds files but no earlier report: give a new or empty folder (--out).")
    started = time.monotonic()
    libraries = _chart_libraries(report_dir)
    with tempfile.TemporaryDirectory(prefix="report-pages-") as scratch:
        pages = Path(scratch) / "pages"
        shutil.copytree(report_dir / "pages", pages)
        progress("Querying the marts as " + dbt_project_var("report_role"))
        timings = _write_datasets(settings, report_dir / "queries", pages / DATA_FOLDER)
        devices = json.loads((pages / DATA_FOLDER / "devices.json").read_text())
        _fill_empty_device_datasets(devices, report_dir / "queries" / DEVICE_QUERIES, pages / DATA_FOLDER)
        progress(f"Writing {len(devices)} device pages")
        _write_device_pages(devices, (report_dir / "device.md").read_text(), pages / "devices")
        assets = pages / "assets"
        for library in libraries:
            shutil.copy(library, assets / library.name)
        progress(f"Building the site into {site_dir}")
        device_nav = [{_device_title(device): f"devices/{device['device_id']}.md"} for device in devices]
        _build_site(report_dir / "mkdocs.yml", pages, site_dir, device_nav)
    files = [path for path in site_dir.rglob("*") if path.is_file()]
    return ReportBuild(
        site_dir=site_dir,
        devices=len(devices),
        pages=sum(1 for path in files if path.suffix == ".html" and path.name != "404.html"),
        site_bytes=sum(path.stat().st_size for path in files),
        seconds=time.monotonic() - started,
        query_seconds=sum(timing.seconds for timing in timings),
        timings=timings,
    )


def _chart_libraries(report_dir: Path) -> list[Path]:
    """The chart libraries' files (npm packages of reports/package.json)."""
    marker = Path("node_modules") / CHART_LIBRARIES[-1]
    folder = npm_folder(report_dir, NPM_FILES, marker, STATE_DIR / "report", "the report")
    return [folder / "node_modules" / library for library in CHART_LIBRARIES]


def _write_datasets(settings: ConnectionSettings, queries: Path, data_dir: Path) -> list[QueryTiming]:
    """Run each query as the report role; fleet queries go to data/<name>.json, device queries to
    data/device/<device_id>/<name>.json (so a device page loads only its own rows)."""
    role = dbt_project_var("report_role")
    templates = jinja2.Environment(undefined=jinja2.StrictUndefined)
    timings = []
    # One transaction, so the role and search path end with it (the embedded server's clients share
    # one session, where a plain SET would outlive this connection).
    with connect(settings) as connection, connection.transaction():
        _act_as(connection, role, settings)
        for path in sorted(queries.rglob("*.sql")):
            per_device = path.parent.name == DEVICE_QUERIES
            name = f"{DEVICE_QUERIES}/{path.stem}" if per_device else path.stem
            query = templates.from_string(path.read_text()).render(var=dbt_project_var)
            started = time.monotonic()
            try:
                cursor = connection.execute(query.encode())
            except psycopg.Error as exc:
                raise LoaderError(f"Report query {path} failed: {_first_line(exc)}") from None
            columns = [column.name for column in cursor.description or []]
            rows = [dict(zip(columns, (_json_value(value) for value in row), strict=True)) for row in cursor]
            timings.append(QueryTiming(name, time.monotonic() - started, len(rows)))
            if per_device:
                by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for row in rows:
                    by_device[row["device_id"]].append(row)
                for device_id, device_rows in by_device.items():
                    _write_json(data_dir / DEVICE_QUERIES / device_id / f"{path.stem}.json", device_rows)
            else:
                _write_json(data_dir / f"{path.stem}.json", rows)
    return timings


def _fill_empty_device_datasets(devices: list[dict[str, Any]], queries: Path, data_dir: Path) -> None:
    """An empty dataset for each device a device query returned no rows for (a page then says so)."""
    for device in devices:
        for query in queries.glob("*.sql"):
            path = data_dir / DEVICE_QUERIES / device["device_id"] / f"{query.stem}.json"
            if not path.exists():
                _write_json(path, [])


def _act_as(connection: psycopg.Connection, role: str, settings: ConnectionSettings) -> None:
    try:
        for statement, name in (("set local role {}", role), ("set local search_path to {}", settings.schema)):
            connection.execute(sql.SQL(statement).format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise LoaderError(
            f"The report reads as role {role}, which {settings.user} cannot act as ({_first_line(exc)}): "
            f"build the dbt project first (it creates the role), or `grant {role} to {settings.user}`."
        ) from None


def _first_line(exc: psycopg.Error) -> str:
    return (str(exc).strip().splitlines() or ["unknown error"])[0]


def _json_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


def _write_json(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, separators=(",", ":"), default=str))


def _write_device_pages(devices: list[dict[str, Any]], template: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for device in devices:
        front_matter = yaml.safe_dump({"title": _device_title(device), "device_id": device["device_id"]})
        (folder / f"{device['device_id']}.md").write_text(f"---\n{front_matter}---\n{template}")


def _device_title(device: dict[str, Any]) -> str:
    """A device's name, else (a device the assets list lacks) its id."""
    return device["device_name"] or device["device_id"]


def _build_site(config_file: Path, pages: Path, site_dir: Path, device_nav: list[dict[str, str]]) -> None:
    """MkDocs build; the device pages join the Devices section of the navigation."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    try:
        config = load_config(str(config_file), docs_dir=str(pages), site_dir=str(site_dir.resolve()), strict=True)
        config["nav"] = [
            {title: [{"All devices": target}, *device_nav]} if target == "devices/index.md" else {title: target}
            for entry in config["nav"]
            for title, target in entry.items()
        ]
        build(config)
    except MkDocsException as exc:
        raise LoaderError(f"Building the report site failed: {exc}") from None


# --- MkDocs side: the macros the pages call, and the fence that turns a chart spec into a chart ----


def vegalite_fence(source: str, language: str, css_class: str, options: dict, md: Any, **kwargs: Any) -> str:
    """A ```vegalite block: a Vega-Lite spec in YAML whose `dataset` names a query's JSON
    (`fleet_monthly`, or `device/capacity` for the page's device). charts.js draws it."""
    try:
        spec = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise LoaderError(f"A chart spec is not valid YAML: {exc}") from None
    dataset = spec.pop("dataset")
    spec.setdefault("$schema", "https://vega.github.io/schema/vega-lite/v6.json")
    return (
        f'<div class="chart" data-dataset="{html.escape(dataset)}" '
        f"data-spec='{html.escape(json.dumps(spec), quote=True)}'><p class=\"chart-loading\">Loading chart…</p></div>"
    )


def define_env(env: Any) -> None:
    """The macros a report page calls (mkdocs-macros)."""

    def rows(dataset: str) -> list[dict[str, Any]]:
        path = Path(env.conf["docs_dir"]) / DATA_FOLDER / f"{_dataset_path(dataset, env.page)}.json"
        return json.loads(path.read_text()) if path.exists() else []

    @env.macro
    def figure(label: str, dataset: str, column: str, unit: str = "", digits: int = 1) -> str:
        """A headline figure: the first row's `column`, labelled."""
        found = rows(dataset)
        value = _formatted(found[0].get(column) if found else None, digits)
        shown = f"{value}{(' ' + unit) if unit and value != MISSING else ''}"
        return (
            f'<div class="figure"><div class="figure-value" data-figure="{column}">{html.escape(shown)}</div>'
            f'<div class="figure-label">{html.escape(label)}</div></div>'
        )

    @env.macro
    def table(
        dataset: str,
        columns: dict[str, str],
        digits: int = 1,
        link_devices: bool = False,
        longest: str | None = None,
        limit: int | None = None,
    ) -> str:
        """A table of `columns` ({column: heading}); with link_devices the device name links its page;
        with `longest` only the `limit` rows largest in that column."""
        found = rows(dataset)
        if longest:
            found = sorted(found, key=lambda row: row[longest] or 0, reverse=True)
        found = found[:limit]
        if not found:
            return '<p class="table-empty">Nothing to show.</p>'
        lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
        for row in found:
            cells = []
            for column in columns:
                cell = _formatted(row.get(column), digits).replace("|", "\\|")
                if link_devices and column == "device_name":
                    cell = f"[{cell}]({_device_link(env.page, row['device_id'])})"
                cells.append(cell)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _dataset_path(dataset: str, page: Any) -> str:
    """A dataset's path under data/: a device page's `device/<query>` is its own device's rows."""
    if dataset.startswith(f"{DEVICE_QUERIES}/"):
        return f"{DEVICE_QUERIES}/{page.meta['device_id']}/{dataset.split('/', 1)[1]}"
    return dataset


def _device_link(page: Any, device_id: str) -> str:
    return f"{device_id}.md" if page.file.src_uri.startswith("devices/") else f"devices/{device_id}.md"


def _formatted(value: Any, digits: int) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, str) and len(value) >= 19 and value[10] == "T":
        return value[:16].replace("T", " ")
    return str(value)


def iter_pages(site_dir: Path) -> Iterator[Path]:
    """The site's pages a reader opens (for the browser tests and the build summary)."""
    return (path for path in sorted(site_dir.rglob("*.html")) if path.name != "404.html")
