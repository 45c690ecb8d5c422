"""Retake docs/img/explorer.png from a trained run (headless Debian Chromium via Playwright).

    PYTHONPATH=src python docs/img/explorer_screenshot.py runs/mnist-seed0 [--out docs/img/explorer.png]

Shows seed 0 with c1 = 3 and c2 at the top of its slider, and the traversal grid of c2 (the same
view the browser test checks), then saves a full-page screenshot.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

from infogan.explore import Explorer, make_server
from infogan.run import load_model

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--out", default=str(Path(__file__).with_name("explorer.png")))
    p.add_argument("--view", default="seed=0&c1=3&c2=1.5", help="the page's URL state")
    p.add_argument("--grid", default="c2", help="code whose traversal grid is shown")
    args = p.parse_args()
    cfg, G, _, path, step = load_model(args.run)
    server = make_server(Explorer(G, cfg.latent, run=Path(args.run).resolve().name, step=step, checkpoint=path.name))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{server.url}#{args.view}")
        page.locator("#image[data-version='1']").wait_for(state="attached")
        page.select_option("#grid-code", args.grid)
        page.click("#show-grid")
        page.locator("#grid[data-version='1']").wait_for(state="attached")
        page.screenshot(path=args.out, full_page=True)
        browser.close()
    server.shutdown()
    print(args.out)


if __name__ == "__main__":
    main()
