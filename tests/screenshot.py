"""A comment as a reviewer sees it on GitHub: cmarkgfm's HTML in GitHub's Markdown CSS
(`github-markdown-css` 5.9.0, vendored under tests/data with its license), `diff` blocks
coloured as GitHub colours them, photographed by headless Chromium (Debian's `chromium`)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import cmarkgfm
from cmarkgfm.cmark import Options

CSS = Path(__file__).parent / "data" / "github-markdown-css" / "github-markdown-light.css"
WIDTH = 980
_DIFF = re.compile(r'<pre lang="diff"><code>(.*?)</code></pre>', re.S)
_CLASS = {"+": "pl-mi1", "-": "pl-md", "!": "pl-mc"}
_HEIGHT = re.compile(r'data-height="(\d+)"')


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def page_html(markdown: str, title: str, *, unfold: bool = False) -> str:
    """The comment's HTML page; `unfold` opens the `<details>` as a reviewer who clicked."""
    body = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    if unfold:
        body = body.replace("<details>", "<details open>")
    body = _DIFF.sub(_colour, body)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS.read_text()}\n"
        "body{margin:0;background:#fff}"
        ".frame{margin:16px;border:1px solid #d0d7de;border-radius:6px}"
        ".frame>.head{background:#f6f8fa;border-bottom:1px solid #d0d7de;padding:8px 16px;"
        "font:14px -apple-system,'Segoe UI',sans-serif;color:#59636e}"
        ".markdown-body{padding:16px 24px}</style></head><body><div class='frame'>"
        f"<div class='head'><b>github-actions</b> bot commented · {html.escape(title)}</div>"
        f"<article class='markdown-body'>{body}</article></div>"
        "<script>document.body.setAttribute('data-height',"
        "Math.ceil(document.querySelector('.frame').getBoundingClientRect().bottom))"
        "</script></body></html>"
    )


def _colour(match: re.Match[str]) -> str:
    lines = []
    for line in match.group(1).split("\n"):
        css = _CLASS.get(line[:1])
        lines.append(f'<span class="{css}">{line}</span>' if css else line)
    joined = "\n".join(lines)
    return f'<pre lang="diff"><code>{joined}</code></pre>'


def _chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run(
        [binary, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


def screenshot(markdown: str, title: str, png: Path, *, unfold: bool = False) -> Path:
    """`png`: the comment rendered at GitHub's conversation width, as tall as it is."""
    binary = chromium()
    if binary is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(page_html(markdown, title, unfold=unfold), encoding="utf-8")
        size = f"--window-size={WIDTH},2000"
        dom = _chromium(binary, Path(tmp) / "p1", size, "--dump-dom", page.as_uri())
        found = _HEIGHT.search(dom.stdout)
        height = int(found.group(1)) if found else 2000
        png.parent.mkdir(parents=True, exist_ok=True)
        shot = _chromium(
            binary,
            Path(tmp) / "p2",
            f"--window-size={WIDTH},{height + 16}",
            f"--screenshot={png}",
            page.as_uri(),
        )
        if not png.is_file():
            raise RuntimeError(f"chromium made no screenshot: {shot.stderr[-2000:]}")
    return png
