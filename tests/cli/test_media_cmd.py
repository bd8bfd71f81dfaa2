"""``modelyard segment`` and ``modelyard image`` on the embedded default (segmentation really runs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from modelyard.cli import _register_all, app
from modelyard.testing.shapes import scene

if not any(c.callback is not None and c.callback.__name__ == "segment" for c in app.registered_commands):
    _register_all()
runner = CliRunner()


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.frombuffer(im.tobytes(), dtype=np.uint8).reshape(im.height, im.width, -1)


def test_segment_writes_the_mask_and_overlay(tmp_path: Path) -> None:
    sc = scene(5)
    source = tmp_path / "scene.png"
    Image.fromarray(sc.rgb).save(source)
    box = ",".join(str(int(v)) for v in sc.box)
    out, overlay = tmp_path / "mask.png", tmp_path / "overlay.png"
    result = runner.invoke(app, ["segment", str(source), "--box", box, "--out", str(out), "--overlay", str(overlay)])
    assert result.exit_code == 0, result.output
    assert "not SAM" in result.output
    mask = _pixels(out)[..., 0] > 0
    assert mask.shape == sc.mask.shape
    assert (mask & sc.mask).sum() / (mask | sc.mask).sum() > 0.9
    assert _pixels(overlay).shape == (*sc.mask.shape, 3)


@pytest.mark.parametrize(("args", "message"), [(["--box", "1,2,3"], "expected 4"), (["--box", "5,5,1,1"], "x0 < x1")])
def test_segment_rejects_bad_boxes(tmp_path: Path, args: list[str], message: str) -> None:
    source = tmp_path / "scene.png"
    Image.fromarray(scene(1).rgb).save(source)
    result = runner.invoke(app, ["segment", str(source), *args, "--out", str(tmp_path / "m.png")])
    assert result.exit_code == 1 and message in result.output


def test_image_writes_a_png_and_says_it_is_simulated(tmp_path: Path) -> None:
    out = tmp_path / "fox.png"
    result = runner.invoke(app, ["image", "a red fox", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "SIMULATED" in result.output
    with Image.open(out) as im:
        assert im.format == "PNG"
