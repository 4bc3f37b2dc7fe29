"""The path finder registry's contract, for every conf/finder/*.yaml found on disk.

A new finder is tested here without writing a test: its endpoints stay fixed exactly, P pairs
together equal each pair alone, it reports its profile on the common grid (height = its max,
length = the summed steps between grid points, both recomputed here from its points), and on
the paper's 2-D toy landscape a trained finder's path is no higher than the straight line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from lossland.core.errors import LosslandError
from lossland.paths.finders import build_finder
from lossland.paths.finders.fourier import t_grid
from lossland.paths.toy import END, START, squared_landscape

CONF = Path(__file__).resolve().parents[1] / "conf"
FILES = sorted((CONF / "finder").glob("*.yaml"))
SHARED = OmegaConf.to_container(OmegaConf.load(CONF / "paths.yaml").finder)
TOY = {"steps": 300, "lr": 1e-2}  # the toy module's Adam settings; small steps for the rest
QUICK = {"steps": 25}
VARIANTS = [(f.stem, {}) for f in FILES] + [("neb", {"n_images": 7})]  # a band off the grid


def settings(name: str, **over) -> dict:
    own = OmegaConf.to_container(OmegaConf.load(CONF / "finder" / f"{name}.yaml"))
    merged = SHARED | own
    return merged | {k: v for k, v in over.items() if k in own}  # linear has no steps or lr


def finder(name: str, extra: dict, **over):
    return build_finder(settings(name, **over) | extra)[1]


def bumpy(w: torch.Tensor) -> torch.Tensor:
    """A smooth landscape in any dimension: two wells at x_0 = +-1, a bump between them."""
    x0, rest = w[:, 0], w[:, 1:]
    return (x0**2 - 1) ** 2 + 0.5 * rest.pow(2).sum(1) + 2 * torch.exp(-w.pow(2).sum(1) / 0.1)


def endpoints(n_pairs: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    w_i = torch.randn(n_pairs, dim, generator=g, dtype=torch.float64) * 0.3
    w_j = torch.randn(n_pairs, dim, generator=g, dtype=torch.float64) * 0.3
    w_i[:, 0], w_j[:, 0] = -1.0, 1.0
    return w_i, w_j


def test_registry_has_the_four_entries_each_named_as_its_file():
    assert {f.stem for f in FILES} >= {"fourier", "linear", "bezier", "neb"}
    for f in FILES:
        assert OmegaConf.load(f).name == f.stem


@pytest.mark.parametrize(("name", "extra"), VARIANTS)
def test_profile_height_and_length_on_the_common_grid(name, extra):
    """Recomputed from the finder's own points: the profile is the loss there, the height its
    max, the length the summed distances; the ends are w_i and w_j exactly (float64)."""
    w_i, w_j = endpoints(2, 5)
    t = t_grid(11, torch.float64)
    for r, a, b in zip(finder(name, extra, **QUICK)(bumpy, w_i, w_j, t), w_i, w_j, strict=True):
        points = r.points()
        assert points.shape == (11, 5) and torch.equal(r.t, t)
        assert torch.equal(points[0], a) and torch.equal(points[-1], b)
        torch.testing.assert_close(r.profile, bumpy(points), rtol=1e-12, atol=1e-12)
        assert r.height == float(r.profile.max())
        steps = (points[1:] - points[:-1]).norm(dim=1).sum()
        assert r.length == pytest.approx(float(steps), rel=1e-12)
        line = torch.lerp(a, b, t[:, None])
        torch.testing.assert_close(r.straight_profile, bumpy(line), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("name", "extra"), VARIANTS)
def test_pairs_together_equal_each_pair_alone(name, extra):
    """3 pairs in one call against 3 calls (float64; Adam and SGD are elementwise, so only the
    summation order of shared reductions may differ: 1e-9)."""
    w_i, w_j = endpoints(3, 4)
    t = t_grid(9, torch.float64)
    make = lambda: finder(name, extra, **QUICK)  # noqa: E731 - a fresh finder per call
    together = make()(bumpy, w_i, w_j, t)
    for p, joint in enumerate(together):
        (alone,) = make()(bumpy, w_i[p : p + 1], w_j[p : p + 1], t)
        torch.testing.assert_close(joint.theta, alone.theta, rtol=1e-9, atol=1e-12)
        assert joint.height == pytest.approx(alone.height, rel=1e-9)


@pytest.mark.parametrize(("name", "extra"), VARIANTS)
def test_no_higher_than_the_straight_line_on_the_toy_landscape(name, extra):
    """Paper Fig. 3's landscape (f^2, as the toy module scores it), M = 50: a trained finder
    lowers the barrier well below the straight line's; the straight line is its own."""
    w_i = torch.tensor([START], dtype=torch.float64)
    w_j = torch.tensor([END], dtype=torch.float64)
    t = t_grid(50, torch.float64)
    (line,) = finder("linear", {})(squared_landscape, w_i, w_j, t)
    (r,) = finder(name, extra, **TOY)(squared_landscape, w_i, w_j, t)
    assert r.height <= line.height
    if "steps" in settings(name):
        assert r.height < 0.5 * line.height  # measured: 0.34 to 0.44 of 1.21


def test_a_setting_the_finder_does_not_take_is_one_line():
    with pytest.raises(LosslandError, match="finder=bezier has no setting stpes: use "):
        build_finder(settings("bezier") | {"stpes": 3})
    with pytest.raises(LosslandError, match="cannot import its _target_"):
        build_finder(settings("linear") | {"_target_": "lossland.paths.finders.nowhere.Finder"})
