"""The playground's page ships inside the package: each of its files is matched
by pyproject's package-data (so it is in the wheel), and the server finds it there."""

import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "native" / "playground"


def test_every_static_file_of_the_page_is_package_data():
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "native.playground" in config["tool"]["setuptools"]["packages"]
    patterns = config["tool"]["setuptools"]["package-data"]["native.playground"]
    files = [p.name for p in STATIC.iterdir() if p.suffix in (".html", ".css", ".js", ".svg", ".png")]
    assert {"index.html", "app.js", "i18n.js", "app.css"} <= set(files)
    unmatched = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert unmatched == [], "add these to package-data, or the wheel's page is missing them"


def test_the_server_serves_exactly_the_package_static_files():
    from native.playground import server
    assert server.STATIC == STATIC.resolve()
    served = {p.name for p in server.STATIC.iterdir() if p.suffix in server.TYPES}
    assert served == {"index.html", "app.js", "i18n.js", "app.css", "favicon.svg"}


def test_the_page_references_only_its_own_files():
    """No CDN: every src/href of the page is one of its own /static/ files."""
    import re
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(r.startswith("/static/") and (STATIC / r[len("/static/"):]).exists() for r in refs)
    for name in ("app.js", "i18n.js", "app.css"):
        assert "http://" not in (STATIC / name).read_text() and "https://" not in (STATIC / name).read_text()
