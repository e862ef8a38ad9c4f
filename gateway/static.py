"""Which file a page request names, and what it is served as. Pure.

The gateway serves the files of one folder (the installed page, or one given) and
nothing else: no directory listings, no dot files, and no path that leaves the
folder, however it is spelled (``/../``, ``%2e%2e``, ``%2f``, a backslash).
"""

import mimetypes
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

INDEX = "index.html"

#: Types the page's files are served as (the system's table may lack or differ on some).
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


def relative_path(raw_path: str) -> PurePosixPath | None:
    """The file a request's raw (still percent-encoded) path names, relative to the
    served folder, or None when it is refused. ``/`` names the index."""
    path = raw_path.split("?", 1)[0].split("#", 1)[0]
    try:
        decoded = unquote(path, errors="strict") if "%" in path else path
    except UnicodeDecodeError:
        return None
    if not decoded.startswith("/") or "\\" in decoded or "\0" in decoded:
        return None
    parts = decoded[1:].split("/")
    if parts == [""]:
        return PurePosixPath(INDEX)
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None  # (an empty part: a double slash or a folder's trailing slash)
    return PurePosixPath(*parts)


def resolve(root: Path, relative: PurePosixPath) -> Path | None:
    """The file under ``root``, or None if there is none there (a folder, a missing
    file, or a link that leads out of ``root``)."""
    base = root.resolve()
    try:
        target = (base / relative).resolve()
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def content_type(path: Path) -> str:
    known = _TYPES.get(path.suffix.lower())
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"
