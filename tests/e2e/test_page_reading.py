"""Reading and comparing on the page: scales and the colour bar, the top-mass set, top cells, pinned
queries, every layer side by side, contrast, figure export, copy link, the gallery, and axe-core."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from xml.etree import ElementTree

import httpx
import numpy as np
import pytest
from PIL import Image

from models.reading import top_cells, top_mass_mask

pytestmark = pytest.mark.e2e

AXE_VERSION = "4.10.3"
AXE_CACHE = Path.home() / ".cache" / "sagan-attn" / f"axe-core-{AXE_VERSION}.min.js"


def row_of(server_url: str, seed: int, **params: object) -> np.ndarray:
    response = httpx.get(f"{server_url}/api/models/tiny/samples/{seed}/attention", params=params)
    response.raise_for_status()
    return np.asarray(response.json()["values"], dtype=np.float64)


def matrix_of(server_url: str, seed: int, layer: str) -> np.ndarray:
    response = httpx.get(f"{server_url}/api/models/tiny/samples/{seed}/attention.f32", params={"layer": layer})
    response.raise_for_status()
    side = int(response.headers["X-Query-Grid"])
    keys = int(response.headers["X-Key-Grid"])
    return np.frombuffer(response.content, dtype="<f4").reshape(side * side, keys * keys).astype(np.float64)


def test_scales_colour_bar_top_cells_and_top_mass(page, server_url: str, canvas_pixels) -> None:
    values = row_of(server_url, 5, x=20, y=41)  # (32, 32) on the key grid
    keys = values.size
    page.goto(f"{server_url}/?seed=5&x=20&y=41&scale=uniform&mass=50")
    page.wait_for_selector('#heatmap[data-scale="uniform"][data-x="20"]')
    page.wait_for_selector('#map-outline[data-mass="50"]')
    assert float(page.inner_text("#colorbar-high")) == pytest.approx(values.max() * keys, rel=0.01)
    assert float(page.inner_text("#colorbar-low")) == 0
    assert "uniform" in page.inner_text("#colorbar-label")
    assert int(page.get_attribute("#map-outline", "data-cells")) == int(top_mass_mask(values, 50).sum())
    outline = canvas_pixels(page, "#map-outline")
    assert outline.max() == 255, "the top-mass contour is drawn"
    shown = [int(item.get_attribute("data-index")) for item in page.locator("#top-cells li").all()]
    assert shown == [cell.index for cell in top_cells(values, 5, 64)]

    page.select_option("#scale", "log")
    page.wait_for_selector('#heatmap[data-scale="log"]')
    high = float(page.inner_text("#colorbar-high"))
    assert high == pytest.approx(np.log10(values.max() * keys), rel=0.01)
    assert float(page.inner_text("#colorbar-low")) == pytest.approx(high - 4, abs=0.01)

    page.select_option("#scale", "absolute")
    page.wait_for_selector('#heatmap[data-scale="absolute"]')
    shared = matrix_of(server_url, 5, "attn2").max()
    assert float(page.inner_text("#colorbar-high")) == pytest.approx(shared, rel=0.01)
    lut = np.asarray(httpx.get(f"{server_url}/api/colormaps/viridis").json()["lut"], dtype=np.uint8)
    expected = lut[np.floor(np.clip(values / shared, 0, 1) * 255 + 0.5).astype(int)]
    difference = np.abs(canvas_pixels(page, "#heatmap").astype(int) - expected.astype(int))
    assert (difference.max(axis=2) <= 4).mean() > 0.97, "absolute scale colours follow the shared maximum"
    assert parse_qs(urlparse(page.url).query)["scale"] == ["absolute"]


def test_pinned_queries_and_every_layer_equal_the_api_rows(
    page, server_url: str, same_map, canvas_pixels, heatmap_png
) -> None:
    pins = [(10, 12), (40, 50), (3, 60)]
    page.goto(f"{server_url}/?seed=6&x=22&y=9&pins=" + ";".join(f"{x},{y}" for x, y in pins))
    for x, y in pins:
        page.wait_for_selector(f'#panels canvas[data-kind="pin"][data-x="{x}"][data-y="{y}"][data-painted]')
    assert page.locator("#pin-markers .pin-marker").count() == 3
    shown = [canvas_pixels(page, f'#panels canvas[data-kind="pin"][data-x="{x}"][data-y="{y}"]') for x, y in pins]
    for drawn, (x, y) in zip(shown, pins, strict=True):
        same_map(drawn, heatmap_png(server_url, "tiny", 6, x=x, y=y, layer="attn2"))
    spread = max(np.abs(a.astype(int) - b.astype(int)).max() for a in shown for b in shown)
    assert spread > 8, "distant pins should show different maps"

    page.click("#pin")
    page.wait_for_selector('#panels canvas[data-kind="pin"][data-x="22"][data-y="9"][data-painted]')
    assert parse_qs(urlparse(page.url).query)["pins"] == ["10,12;40,50;3,60;22,9"]
    page.click("#panels figure:first-child button")
    page.wait_for_function("document.querySelectorAll('#panels canvas[data-kind=pin]').length === 3")

    page.check("#compare-layers")
    for layer in ["attn1", "attn2"]:
        selector = f'#panels canvas[data-kind="layer"][data-layer="{layer}"][data-painted]'
        page.wait_for_selector(selector)
        same_map(canvas_pixels(page, selector), heatmap_png(server_url, "tiny", 6, x=22, y=9, layer=layer))


def test_contrast_divides_by_the_average_row_and_names_the_formula(page, server_url: str, canvas_pixels) -> None:
    matrix = matrix_of(server_url, 9, "attn2")  # (N, M)
    query = (17 // 2) * 32 + 30 // 2
    ratio = matrix[query] / matrix.mean(axis=0)
    page.goto(f"{server_url}/?seed=9&x=30&y=17&contrast=ratio")
    page.wait_for_selector('#heatmap[data-contrast="ratio"][data-x="30"]')
    assert "A / ā" in page.inner_text("#contrast-formula")
    assert float(page.inner_text("#colorbar-high")) == pytest.approx(ratio.max(), rel=0.05)
    lut = np.asarray(httpx.get(f"{server_url}/api/colormaps/viridis").json()["lut"], dtype=np.uint8)
    expected = lut[np.floor(np.clip(ratio / ratio.max(), 0, 1) * 255 + 0.5).astype(int)].reshape(32, 32, 3)
    difference = np.abs(canvas_pixels(page, "#heatmap").astype(int) - expected.astype(int))
    assert np.median(difference.max(axis=2)) <= 6
    listed = [
        int(index) for index in page.eval_on_selector_all("#top-cells li", "items => items.map(i => i.dataset.index)")
    ]
    top_ratios = np.sort(ratio)[::-1][: len(listed)]
    assert ratio[listed] == pytest.approx(top_ratios, rel=0.05), "top cells rank by the contrast shown"
    page.select_option("#contrast", "difference")
    page.wait_for_selector('#heatmap[data-contrast="difference"]')
    assert "A − ā" in page.inner_text("#contrast-formula")
    peak = np.abs(matrix[query] - matrix.mean(axis=0)).max()
    assert float(page.inner_text("#colorbar-high")) == pytest.approx(peak, rel=5e-3), "a locked contrast is exact"


def test_figure_export_and_copy_link(browser, server_url: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server_url)
    page = context.new_page()
    page.goto(f"{server_url}/?seed=11&pins=5,5;50,40&scale=uniform")
    page.wait_for_selector('#panels canvas[data-x="50"][data-painted]')
    page.click("#copy-link")
    page.wait_for_function("document.getElementById('status').textContent === 'Link copied.'")
    assert page.evaluate("navigator.clipboard.readText()") == page.url

    page.fill("#save-width", "800")
    with page.expect_download() as download:
        page.click("#save-figure")
    page.wait_for_selector('#save-figure[data-result="saved"]')
    href = page.get_attribute("#save-figure", "data-href")
    query = parse_qs(urlparse(href).query)
    assert (query["seed"], query["pins"], query["scale"], query["width"], query["height"]) == (
        ["11"],
        ["5,5;50,40"],
        ["uniform"],
        ["800"],
        ["400"],
    )
    saved = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "tiny-11-attn2-row.png"
    assert Image.open(io.BytesIO(saved)).size == (800, 400)
    assert saved == httpx.get(f"{server_url}{href}").content

    page.select_option("#save-format", "svg")
    with page.expect_download() as download:
        page.click("#save-figure")
    page.wait_for_function("document.getElementById('save-figure').dataset.href.includes('figure.svg')")
    svg = ElementTree.fromstring(Path(download.value.path()).read_bytes())
    assert download.value.suggested_filename == "tiny-11-attn2-row.svg"
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    text = "".join(svg.itertext())
    assert "seed 11" in text and "attn2" in text, text[:300]
    assert "width" not in parse_qs(urlparse(page.get_attribute("#save-figure", "data-href")).query)
    assert "mass" not in parse_qs(urlparse(page.get_attribute("#save-figure", "data-href")).query)

    page.fill("#mass", "50")
    page.dispatch_event("#mass", "change")
    with page.expect_download() as download:
        page.click("#save-figure")
    page.wait_for_function(
        "new URL(document.getElementById('save-figure').dataset.href, location).searchParams.get('mass') === '50'"
    )
    assert "holding 50 % of each pin's attention" in "".join(
        ElementTree.fromstring(Path(download.value.path()).read_bytes()).itertext()
    )
    context.close()


def test_the_gallery_opens_a_sample_and_history_walks_back(page, server_url: str) -> None:
    page.goto(f"{server_url}/?seed=13")
    page.wait_for_selector('#heatmap[data-seed="13"]')
    page.click("#gallery summary")
    page.wait_for_selector('#gallery-grid button[data-seed="12"]')
    assert page.locator("#gallery-grid button").count() == 12
    page.click("#gallery-next")
    page.click('#gallery-grid button[data-seed="26"]')
    page.wait_for_selector('#heatmap[data-seed="26"]')
    page.wait_for_selector('#sample[data-seed="26"]')
    assert page.evaluate("document.getElementById('sample').naturalWidth") == 64
    page.go_back()
    page.wait_for_selector('#heatmap[data-seed="13"]')
    page.go_forward()
    page.wait_for_selector('#heatmap[data-seed="26"]')


def axe_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """axe-core's browser build, packed once from the npm registry and cached."""
    if not AXE_CACHE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is needed once to fetch axe-core")
        folder = tmp_path_factory.mktemp("axe")
        subprocess.run(
            [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(folder)],
            check=True,
            capture_output=True,
            timeout=180,
        )
        with tarfile.open(folder / f"axe-core-{AXE_VERSION}.tgz") as archive:
            source = archive.extractfile("package/axe.min.js").read()
        AXE_CACHE.parent.mkdir(parents=True, exist_ok=True)
        AXE_CACHE.write_bytes(source)
    return AXE_CACHE.read_text()


def test_axe_finds_no_moderate_serious_or_critical_violations(
    page, server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    source = axe_source(tmp_path_factory)
    page.goto(f"{server_url}/?seed=2&pins=10,10;40,40&mass=60&bad=1&x=999")
    page.wait_for_selector('#panels canvas[data-x="40"][data-painted]')
    page.click("#gallery summary")
    page.wait_for_selector('#gallery-grid button[data-seed="0"]')
    page.click("#adds summary")
    page.wait_for_selector('#adds-layers[data-seed="2"]')
    page.select_option("#save-format", "svg")
    page.add_script_tag(content=source)
    result = page.evaluate(
        "axe.run(document).then((r) => r.violations.map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target)})))"
    )
    bad = [violation for violation in result if violation["impact"] in ("moderate", "serious", "critical")]
    assert not bad, json.dumps(bad, indent=1)
