"""The README's exported figure, made by the page itself: `.venv/bin/python -m scripts.figure OUT.png [URL]`.

Opens the explorer in Chromium at URL (default http://127.0.0.1:8000, a running server with the shipped
model), clicks each query pixel of PINS on seed SEED and pins it, then clicks "save figure" (PNG,
WIDTH px wide) and keeps the file the page downloads. Needs Debian's chromium.
"""

from __future__ import annotations

import sys

from scripts.chromium import opened_page

SEED = 8  # class 0, the page's default: Smileys & Emotion
PINS = [(22, 27), (36, 27), (26, 47), (40, 17)]  # left eye, right eye, mouth, brow: output pixels of 64×64
WIDTH = 1200
SCALE = "log"  # one spike would leave every other map dark on the relative scale


def click_pixel(page: object, x: int, y: int, image_size: int) -> None:
    box = page.locator("#image-stack").bounding_box()
    page.mouse.click(
        box["x"] + (x + 0.5) * box["width"] / image_size, box["y"] + (y + 0.5) * box["height"] / image_size
    )


def main() -> int:
    out = sys.argv[1]
    base = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8000"
    url = f"{base}/?seed={SEED}&layer=attn2&direction=row&scale={SCALE}&hover=off"
    with opened_page(url, f'#heatmap[data-seed="{SEED}"][data-painted]') as page:
        image_size = int(page.get_attribute("#sample", "width"))
        for x, y in PINS:
            click_pixel(page, x, y, image_size)
            page.wait_for_selector(f'#heatmap[data-x="{x}"][data-y="{y}"]')
            page.click("#pin")
            page.wait_for_selector(f'#panels canvas[data-kind="pin"][data-x="{x}"][data-y="{y}"][data-painted]')
        page.select_option("#save-format", "png")
        page.fill("#save-width", str(WIDTH))
        with page.expect_download(timeout=120_000) as download:
            page.click("#save-figure")
        download.value.save_as(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
