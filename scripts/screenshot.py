"""Screenshot of the explorer page for the README: `.venv/bin/python -m scripts.screenshot OUT.png [URL]`.

Needs a running server (default http://127.0.0.1:8000) and Debian's chromium.
"""

from __future__ import annotations

import sys

from scripts.chromium import opened_page


def main() -> int:
    out = sys.argv[1]
    url = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8000/?seed=8&x=22&y=27&layer=attn2&direction=row"
    with opened_page(url, "#heatmap[data-painted]") as page:
        page.wait_for_function("document.getElementById('sample').complete")
        page.screenshot(path=out, full_page=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
