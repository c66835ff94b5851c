"""Static charts for printed briefings, drawn offline with matplotlib (Agg) as inline SVG."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Sequence
from datetime import date
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import font_manager

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Micro Hei")


def cjk_font_file() -> str | None:
    """The file fontconfig gives for the first CJK family (``fc-match``), None without fontconfig."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:  # constant arguments, no shell
        found = subprocess.run([fc_match, "-f", "%{file}", CJK_FONTS[0]], capture_output=True,  # noqa: S603
                               text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    path = found.stdout.strip()
    return path if path and Path(path).is_file() else None


@cache
def register_cjk_font() -> None:
    """Add the CJK font file straight to matplotlib's font list, once per process: matplotlib's font cache on
    disk may have been built before the font was installed, and then draws Chinese labels as empty boxes."""
    path = cjk_font_file()
    if path is None or any(f.fname == path for f in font_manager.fontManager.ttflist):
        return
    try:
        font_manager.fontManager.addfont(path)
    except (OSError, RuntimeError, ValueError):  # not a font FreeType can read: the charts fall back
        return


def _font_family() -> list[str]:
    register_cjk_font()
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return [name for name in CJK_FONTS if name in installed] + ["DejaVu Sans"]


def _svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def trend_svg(days: Sequence[date], reported: Sequence[int], closed: Sequence[int], *,
              labels: tuple[str, str]) -> str:
    """A line chart of incidents reported and closed per day."""
    with plt.rc_context({"font.family": _font_family(), "svg.fonttype": "path"}):
        fig, ax = plt.subplots(figsize=(7.2, 2.4), dpi=100)
        ax.plot(list(days), list(reported), color="#1f77b4", label=labels[0], linewidth=1.6)
        ax.plot(list(days), list(closed), color="#2ca02c", label=labels[1], linewidth=1.6)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(frameon=False, fontsize=8)
        ax.tick_params(labelsize=7)
        fig.autofmt_xdate()
        return _svg(fig)


def bars_svg(names: Sequence[str], values: Sequence[float], *, colour: str = "#1f77b4") -> str:
    """A horizontal bar chart (largest on top)."""
    with plt.rc_context({"font.family": _font_family(), "svg.fonttype": "path"}):
        fig, ax = plt.subplots(figsize=(7.2, 0.3 * max(len(names), 2) + 0.6), dpi=100)
        ax.barh(list(reversed(names)), list(reversed(values)), color=colour)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
        return _svg(fig)
