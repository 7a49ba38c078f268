"""The static on-device page: a folder any static host serves, where the browser runs the bundle itself.

``phonedge web BUNDLE -o SITE`` copies the page (web/site), the JS runtime (web/src), ONNX Runtime's
WebAssembly build (web/node_modules/onnxruntime-web) and the bundle into SITE, and Silero VAD's ONNX file
with its MIT licence when the ``silero-vad`` package is installed (the page's speech detector; without it
the page uses the energy detector). The microphone's audio never leaves the device. Multi-threaded
WebAssembly needs cross-origin isolation: SITE/_headers sets the two headers on hosts that read that file
(Netlify, Cloudflare Pages); elsewhere configure them (web/README.md). Without them the page runs on one thread.
"""

from __future__ import annotations

import functools
import shutil
from importlib import resources
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

from .errors import PhonedgeError
from .manifest import MANIFEST_NAME, read_manifest
from .site_vad import SILERO_LICENCE_NAME, SILERO_SITE_NAME, silero_for_site

# What the page needs of onnxruntime-web's dist folder: the WebAssembly-only ES module and its runtime.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
_CHECKOUT_WEB = Path(__file__).resolve().parents[1] / "web"


def find_web_dir(web_dir: Optional[Path] = None) -> Path:
    """The web/ folder of a phonedge checkout, with its npm dependencies installed."""
    web = Path(web_dir) if web_dir is not None else _CHECKOUT_WEB
    if not (web / "src" / "index.js").is_file() or not (web / "site" / "index.html").is_file():
        raise PhonedgeError(f"{web} is not phonedge's web/ folder: 'phonedge web' needs a phonedge checkout "
                            "(or --web-dir pointing at its web/ folder)")
    if not (web / "node_modules" / "onnxruntime-web" / "dist" / ORT_FILES[0]).is_file():
        raise PhonedgeError(f"{web}/node_modules lacks onnxruntime-web: run 'npm ci' in {web} (make web-deps does)")
    return web


def write_site(bundle: Path, out: Path, *, web_dir: Optional[Path] = None, overwrite: bool = False) -> Path:
    """Write the on-device page for BUNDLE into the folder OUT; returns OUT."""
    bundle, out = Path(bundle), Path(out)
    manifest = read_manifest(bundle)
    web = find_web_dir(web_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise PhonedgeError(f"{out} exists and is not empty; choose another folder or pass --overwrite")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("index.html", "app.js"):
        shutil.copyfile(web / "site" / name, out / name)
    # The microphone tap and the style are the server's live page's own (one file each for both pages).
    for name in ("worklet.js", "page.css"):
        (out / name).write_bytes((resources.files("phonedge.serve") / "static" / name).read_bytes())
    shutil.copytree(web / "src", out / "phonedge")
    (out / "ort").mkdir()
    for name in ORT_FILES:
        shutil.copyfile(web / "node_modules" / "onnxruntime-web" / "dist" / name, out / "ort" / name)
    (out / "bundle").mkdir()
    for name in (MANIFEST_NAME, manifest.graph.file):
        shutil.copyfile(bundle / name, out / "bundle" / name)
    silero = silero_for_site()
    if silero is not None:
        model, licence = silero
        shutil.copyfile(model, out / "bundle" / SILERO_SITE_NAME)
        (out / "bundle" / SILERO_LICENCE_NAME).write_text(licence, encoding="utf-8")
    lines = ["/*"] + [f"  {key}: {value}" for key, value in ISOLATION_HEADERS.items()]
    (out / "_headers").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def site_detector(site: Path) -> str:
    """The speech detector the page at SITE runs: "silero" when Silero VAD's file is there, else "energy"."""
    return "silero" if (Path(site) / "bundle" / SILERO_SITE_NAME).is_file() else "energy"


class IsolatedHandler(SimpleHTTPRequestHandler):
    """Static files with the cross-origin isolation headers and the MIME types the page needs."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript", ".js": "text/javascript",
                      ".wasm": "application/wasm"}

    def end_headers(self) -> None:
        """Add the isolation headers to every answer."""
        for key, value in ISOLATION_HEADERS.items():
            self.send_header(key, value)
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        """Quiet: no line per request."""


def site_server(site: Path, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A local static server for SITE with the isolation headers (call serve_forever; port 0: any free one)."""
    return ThreadingHTTPServer((host, port), functools.partial(IsolatedHandler, directory=str(site)))
