"""Where the handler's Lambda asset is: in the installed wheel, or in the source tree."""

from __future__ import annotations

from pathlib import Path


def handler_asset_dir() -> Path:
    """The handler folder: inside the installed wheel, else in the source tree."""
    packaged = Path(__file__).parent / "_lambda" / "handler"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "lambda" / "handler"
