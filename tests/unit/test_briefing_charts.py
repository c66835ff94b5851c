"""The briefing's charts draw Chinese labels with the CJK font even when matplotlib's font cache was built
before the font was installed: the font file fontconfig gives is registered with matplotlib directly."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib import font_manager

from reports import charts

ROOT = Path(__file__).resolve().parents[2]
FONT = charts.cjk_font_file()

#: Runs in a fresh interpreter on the stale cache: says whether matplotlib knew any CJK font before the charts
#: module ran, and which warnings drawing two charts with Chinese labels gave.
CHILD = """
import json, warnings
from datetime import date
from matplotlib import font_manager
cjk = {"Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Micro Hei"}
knew = any(f.name in cjk for f in font_manager.fontManager.ttflist)
from reports import charts
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    svg = charts.trend_svg([date(2026, 12, 1), date(2026, 12, 2)], [3, 4], [2, 3], labels=("上报数", "结案数"))
    svg += charts.bars_svg(["燃气公司", "排水管理处"], [3.0, 1.0])
print(json.dumps({"knew": knew, "warnings": [str(w.message) for w in caught], "svg": len(svg)}))
"""


def _stale_cache(folder: Path) -> None:
    """A matplotlib font cache in ``folder`` as built before the CJK font was installed."""
    stale = copy.deepcopy(font_manager.fontManager)
    stale.ttflist = [f for f in stale.ttflist
                     if f.fname != FONT and f.name not in charts.CJK_FONTS and "CJK" not in f.name]
    font_manager.json_dump(stale, folder / f"fontlist-v{font_manager.FontManager.__version__}.json")


@pytest.mark.skipif(FONT is None or "CJK" not in Path(FONT).name, reason="no Noto Sans CJK on this machine")
def test_chinese_labels_find_their_glyphs_on_a_font_cache_older_than_the_font(tmp_path):
    _stale_cache(tmp_path)
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, cwd=ROOT,
                           timeout=120, check=True)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["knew"] is False  # the cache really was stale: the test shows the fix, not the cache
    missing = [w for w in result["warnings"] if "missing" in w.lower() and "glyph" in w.lower()]
    assert missing == [] and result["svg"] > 0
