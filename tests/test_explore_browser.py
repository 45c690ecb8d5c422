"""The explorer in a real browser: Debian's Chromium, headless, driven by Playwright.

Skipped (with the reason) where /usr/bin/chromium or the ``playwright`` package is missing;
``.ci/run`` installs both. Playwright's own browser download is not used. The screenshot is left
in tests/artifacts/ (gitignored).
"""

import base64
import threading
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

IMAGE_BYTES = """async (id) => {
  const r = await fetch(document.getElementById(id).src);
  const b = new Uint8Array(await r.arrayBuffer());
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}"""


@pytest.fixture
def sync_api():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does)")
    try:
        from playwright import sync_api
    except ImportError:
        pytest.skip("the playwright package is missing (pip install playwright; it is in the test extra)")
    return sync_api


@pytest.fixture
def explorer_url(tiny_run):
    from infogan.explore import Explorer, make_server
    from infogan.run import load_model

    cfg, G, _, path, step = load_model(tiny_run)
    server = make_server(Explorer(G, cfg.latent, run="tiny test run", step=step, checkpoint=path.name))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.url
    server.shutdown()
    server.server_close()


def wait_version(page, img, n):
    """Until <img id=img> has shown its n-th PNG (a selector wait: the page's CSP forbids eval)."""
    page.locator(f"#{img}[data-version='{n}']").wait_for(state="attached", timeout=30_000)


@pytest.mark.slow
def test_slider_changes_image_in_chromium(sync_api, explorer_url):
    ARTIFACTS.mkdir(exist_ok=True)
    errors = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860}, accept_downloads=True)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(explorer_url)
            wait_version(page, "image", 1)
            assert "tiny test run at step 4" in page.inner_text("#run-info")
            # one control per code: a select for c1 (10 categories), sliders for c2 and c3
            assert page.locator("#code-c1 option").count() == 10
            assert page.get_attribute("#code-c2", "min") == "-2" and page.get_attribute("#code-c2", "max") == "2"
            assert "trained on [-1, 1]" in page.inner_text("#codes")

            src0, png0 = page.get_attribute("#image", "src"), page.evaluate(IMAGE_BYTES, "image")
            page.focus("#code-c2")
            page.keyboard.press("End")  # the slider to its maximum, as a user would
            wait_version(page, "image", 2)
            src1, png1 = page.get_attribute("#image", "src"), page.evaluate(IMAGE_BYTES, "image")
            assert src1 != src0 and png1 != png0, "moving the c2 slider did not change the image"
            assert page.inner_text("output[for=code-c2]") == "2.00"
            assert "c2=2" in page.evaluate("location.hash")

            page.select_option("#code-c1", "3")
            wait_version(page, "image", 3)
            assert page.evaluate(IMAGE_BYTES, "image") != png1

            # the download is the image on screen
            with page.expect_download() as dl:
                page.click("#download")
            assert Path(dl.value.path()).read_bytes() == base64.b64decode(page.evaluate(IMAGE_BYTES, "image"))
            assert dl.value.suggested_filename.startswith("infogan_seed0_c1_3_c2_2")

            # traversal grid of c2: 4 rows x 10 columns by default
            page.select_option("#grid-code", "c2")
            page.click("#show-grid")
            wait_version(page, "grid", 1)
            w, h = page.evaluate("[document.getElementById('grid').naturalWidth, document.getElementById('grid').naturalHeight]")
            assert w > 2 * h

            # new noise: another seed, another image
            before = page.evaluate(IMAGE_BYTES, "image")
            page.click("#new-noise")
            wait_version(page, "image", 4)
            assert page.input_value("#seed") != "0" and page.evaluate(IMAGE_BYTES, "image") != before

            wait_version(page, "grid", 2)  # the grid follows the new seed too
            page.screenshot(path=str(ARTIFACTS / "explorer.png"), full_page=True)

            # a seed the server would refuse is stopped in the page, with a message
            page.fill("#seed", "-5")
            assert "seed must be an integer" in page.inner_text("#status")
        finally:
            browser.close()
    assert not errors, errors
    assert (ARTIFACTS / "explorer.png").stat().st_size > 10_000


@pytest.mark.slow
def test_effects_panel_in_chromium(sync_api, explorer_url):
    """Opening "what each code does" fills the ranked table and shows the effects picture."""
    errors = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(explorer_url)
            wait_version(page, "image", 1)
            assert page.locator("#effects-table tbody tr").count() == 0  # nothing computed until opened
            page.click("#effects-panel summary")
            wait_version(page, "effects", 1)
            rows = page.locator("#effects-table tbody tr")
            assert rows.count() == 3
            assert sorted(rows.nth(i).locator("td").nth(1).inner_text() for i in range(3)) == ["c1", "c2", "c3"]
            assert [rows.nth(i).locator("td").first.inner_text() for i in range(3)] == ["1", "2", "3"]
            assert page.evaluate("document.getElementById('effects').naturalWidth") > 100
            assert "draws" in page.inner_text("#effects-caption")
        finally:
            browser.close()
    assert not errors, errors
