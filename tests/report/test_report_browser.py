"""The report in a real browser: headless Chromium opens index.html from disk.

HTML that parses in Python can still fail to render (a truncated data URI, an image a
browser refuses, CSS that hides a table, SVG it cannot lay out), so this asks Chromium
itself: after the page has loaded, does every <img> have pixels and every figure a
drawing, and are the table rows there? It also saves a screenshot next to the page
(run_dir/screenshot.png) for a human look.

Chromium is a required tool here, not optional: without it the test fails and prints the
command that installs it (Debian/Ubuntu: `sudo apt-get install -y chromium`; bin/setup
runs it when it runs as root).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from iqa_audit.report.html import write_report

from .test_report import METRICS, SEEDS, SETTINGS, synthetic_results, typed

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TIMEOUT_S = 60

# Appended to a copy of the page (never to the report itself, which has no scripts): once
# everything has loaded, write what the browser sees into attributes of <body>, which
# --dump-dom then prints.
PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter((i) => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);
  const rows = (sel) => document.querySelectorAll(sel + " tbody tr").length;
  const b = document.body.dataset;
  b.imagesTotal = imgs.length;
  b.imagesOk = ok.length;
  b.imagesBroken = imgs.filter((i) => !ok.includes(i)).map((i) => i.alt).join("|");
  b.outcomeRows = rows("table.outcomes");
  b.editorRows = rows("table.editors");
  b.scripts = document.scripts.length;
  const figures = Array.from(document.querySelectorAll("figure.plot svg"));
  b.figures = figures.length;
  b.figuresDrawn = figures.filter((f) => f.getBoundingClientRect().width > 0 && f.getBBox().width > 0).length;
  b.heatmapWidth = Math.round(document.querySelector("#heatmaps svg").getBoundingClientRect().width);
  b.hits = document.querySelectorAll("#heatmaps svg a").length;
  b.probed = "yes";
});
</script>"""


def find_browser() -> str:
    configured = os.environ.get("IQA_AUDIT_CHROMIUM")
    for name in ((configured,) if configured else ()) + BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "headless Chromium is needed to check the HTML report and was not found (looked for "
        f"{', '.join(BROWSERS)} on PATH, and $IQA_AUDIT_CHROMIUM). Install it: `{install_command()}` "
        "(Debian/Ubuntu; bin/setup does this when run as root), or point IQA_AUDIT_CHROMIUM at a "
        "Chrome/Chromium binary.",
        pytrace=False,
    )


def install_command() -> str:
    """The exact command that installs Chromium here (Debian/Ubuntu)."""
    return "apt-get install -y chromium" if os.geteuid() == 0 else "sudo apt-get install -y chromium"


def run_browser(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        *args,
    ]
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=TIMEOUT_S)
    except FileNotFoundError as e:
        pytest.fail(f"could not start {browser}: {e}. Install Chromium: `{install_command()}`.", pytrace=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{browser} did not finish within {TIMEOUT_S} s: {' '.join(cmd)}", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"{browser} exited with {done.returncode}: {done.stderr[-2000:]}", pytrace=False)
    return done


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    results = synthetic_results(base / "store", name="browser")
    page = write_report(typed(results), base / "run")
    return results, page


def test_chromium_shows_every_image_and_table_row(rendered, tmp_path):
    results, page = rendered
    browser = find_browser()
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = run_browser(browser, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body, f"no <body> in Chromium's DOM dump: {done.stdout[:500]!r} {done.stderr[-1000:]!r}"
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    assert attrs.get("probed") == "yes", f"the page's load event never ran: {attrs}"
    total, ok = int(attrs["images-total"]), int(attrs["images-ok"])
    expected_images = (
        len(SETTINGS) * len(SEEDS) * 4 * (2 + 1)  # strips: 4 steps, a thumbnail per run, run 0's crop
        + 2 * 2
    )  # editor rows: first and last step
    assert total == expected_images and ok == total, f"broken images: {attrs.get('images-broken')}"
    # A heatmap figure per setting, a curve figure per metric, a stability figure: inline SVG,
    # each laid out with something drawn in it.
    assert int(attrs["figures"]) == int(attrs["figures-drawn"]) == len(SETTINGS) + len(METRICS) + 1
    cells = results["cells"]
    assert int(attrs["outcome-rows"]) == len(cells)
    assert int(attrs["editor-rows"]) == len({(c["setting"], c["seed"]) for c in cells if c["kind"] == "editor"})
    assert int(attrs["scripts"]) == 1  # only the probe: the report itself runs nothing, injected text included
    assert int(attrs["hits"]) == sum(1 for c in cells if c["kind"] == "gap") + len(SETTINGS) * len(METRICS) * len(SEEDS)
    assert int(attrs["heatmap-width"]) > 200  # the figure is drawn at a readable size


def test_chromium_screenshot_of_the_report(rendered, tmp_path):
    _, page = rendered
    browser = find_browser()
    shot = page.parent / "screenshot.png"
    run_browser(browser, tmp_path / "profile", "--window-size=1400,4000", f"--screenshot={shot}", page.as_uri())
    assert shot.is_file(), "Chromium wrote no screenshot"
    im = np.asarray(PILImage.open(shot).convert("L"))
    assert im.shape == (4000, 1400)
    # Something is drawn: a blank or error page is nearly one colour.
    top = im[:1500]
    assert top.std() > 20 and (top < 100).mean() > 0.005
