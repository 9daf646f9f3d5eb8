"""The report site, built from a generated field fleet and opened in a real browser (Debian's
chromium, driven by Playwright): every chart drawn with its data, no error block, the figures equal
to the marts'. A screenshot of each page goes to out/report-screenshots/ (REPORT_SCREENSHOTS_DIR)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.dbt import run_dbt
from loader.generate import FleetSpec
from loader.report import iter_pages
from tests.conftest import Backend, FleetCache, backend_named
from tests.helpers import invoke, load_args

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# Four calendar months of field telemetry, so each device has a fade fit (three trusted months).
FLEET = FleetSpec(devices=3, days=100, interval_s=600, seed=7, profile="field", inject_bad_input=True)
SCREENSHOTS = Path(os.environ.get("REPORT_SCREENSHOTS_DIR", Path(__file__).parents[1] / "out" / "report-screenshots"))
# A chart whose dataset may be empty on a listed device's page: a device may have had no anomaly.
MAY_BE_EMPTY = {"device/anomalies"}


def report_args(backend: Backend, site: Path) -> list[str]:
    return ["report", "build", "--out", str(site), "--database-url", backend.settings.conninfo]


@contextmanager
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def chromium_page() -> Iterator[object]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed (apt install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            # Pages must open without a network: any request off this machine fails the test.
            outside: list[str] = []
            page.on("request", lambda request: outside.append(request.url) if "127.0.0.1" not in request.url else None)
            yield page, outside
        finally:
            browser.close()


def charts_on(page: object) -> list[dict[str, str]]:
    page.wait_for_function(  # type: ignore[attr-defined]
        "[...document.querySelectorAll('.chart')].every(c => c.dataset.rows !== undefined || c.dataset.error)",
        timeout=30_000,
    )
    return page.eval_on_selector_all(  # type: ignore[attr-defined]
        ".chart",
        "charts => charts.map(c => ({dataset: c.dataset.dataset, rows: c.dataset.rows || '', "
        "error: c.dataset.error || '', marks: String(c.querySelectorAll('svg .mark-group, svg path, svg "
        "line, svg rect, svg symbol').length)}))",
    )


def test_every_report_page_draws_its_charts_with_data_and_shows_the_marts_figures(
    request: pytest.FixtureRequest, fleets: FleetCache, tmp_path: Path
) -> None:
    backend = backend_named(request, "timescaledb")
    invoke(load_args(backend.settings, str(fleets.get(FLEET))), expected_exit=3)  # the injected bad input
    run_dbt(backend.settings, tmp_path, "build")
    site = tmp_path / "site"
    built = invoke(report_args(backend, site))
    assert "Report: 8 pages (4 devices)" in built.output  # 3 listed devices and one the assets list lacks

    with backend.connect() as conn:
        worst_soh, device_id, device_soh = conn.execute(
            "select min(soh_apparent_pct) over (), device_id::text, soh_apparent_pct from analytics.fct_device_health"
            " where soh_apparent_pct is not null order by device_id limit 1"
        ).fetchone()
        quarantined = conn.execute("select count(*) from analytics.dq_quarantined_responses").fetchone()[0]
    assert quarantined >= 3

    pages = [path.relative_to(site).as_posix() for path in iter_pages(site)]
    assert {
        "index.html",
        "devices/index.html",
        "data-quality.html",
        "pipeline.html",
        f"devices/{device_id}.html",
    } <= set(pages)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, list[dict[str, str]]] = {}
    with served(site) as url, chromium_page() as (page, outside):
        for name in pages:
            response = page.goto(url + name)  # type: ignore[attr-defined]
            assert response is not None and response.ok, name
            drawn[name] = charts_on(page)
            assert page.locator(".chart-error").count() == 0, (name, drawn[name])  # type: ignore[attr-defined]
            page.screenshot(
                path=str(SCREENSHOTS / (name.replace("/", "-").removesuffix(".html") + ".png")), full_page=True
            )  # type: ignore[attr-defined]
            if name == "index.html":
                figure = page.locator("[data-figure=worst_soh_pct]").inner_text()  # type: ignore[attr-defined]
                assert figure == f"{worst_soh:,.1f} %"
            if name == f"devices/{device_id}.html":
                figure = page.locator("[data-figure=soh_apparent_pct]").inner_text()  # type: ignore[attr-defined]
                assert figure == f"{device_soh:,.1f} %"
            if name == "data-quality.html":
                assert page.locator("table").last.locator("tbody tr").count() == quarantined  # type: ignore[attr-defined]
        assert outside == []

    # The injected bad input includes a device the assets list lacks, with a few points only: its page
    # may show empty charts (named as such), every other page none.
    unlisted = {
        d["device_id"]
        for d in json.loads((site / "data" / "devices.json").read_text())
        if d["device_name"] == d["device_id"]
    }
    assert len(unlisted) == 1
    for name, charts in drawn.items():
        if name == "devices/index.html":
            assert charts == []
            continue
        assert charts, f"{name} has no charts"
        listed_device = name.removeprefix("devices/").removesuffix(".html") not in unlisted
        for chart in charts:
            rows = (site / "data" / dataset_file(name, chart["dataset"])).read_text()
            expected = len(json.loads(rows))
            assert chart["rows"] == str(expected), (name, chart)
            if expected:
                assert int(chart["marks"]) > 0, (name, chart)
            elif listed_device and chart["dataset"] not in MAY_BE_EMPTY:
                pytest.fail(f"{name}: chart of {chart['dataset']} has no data")


def dataset_file(page: str, dataset: str) -> str:
    if dataset.startswith("device/"):
        device_id = page.removeprefix("devices/").removesuffix(".html")
        return f"device/{device_id}/{dataset.removeprefix('device/')}.json"
    return f"{dataset}.json"


def test_report_reads_as_the_analyst_role_and_names_the_query_it_may_not_run(
    sample_built_postgres: Backend, tmp_path: Path
) -> None:
    backend = sample_built_postgres
    invoke(report_args(backend, tmp_path / "site"))
    with backend.connect() as conn:
        conn.execute("revoke select on analytics.fct_fleet_monthly from battery_analyst")
    failed = invoke(report_args(backend, tmp_path / "site"), expected_exit=1)
    assert "Report query" in failed.output and "fleet_monthly.sql failed" in failed.output
    assert "permission denied for table fct_fleet_monthly" in failed.output
    assert "Traceback" not in failed.output


def test_report_build_refuses_a_folder_that_holds_something_else(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    failed = invoke(["report", "build", "--out", str(tmp_path), "--database-url", "postgresql://nobody@127.0.0.1:1/x"],
                    expected_exit=1)  # fmt: skip
    assert f"{tmp_path} holds files but no earlier report" in failed.output
    assert (tmp_path / "notes.txt").read_text() == "mine"
