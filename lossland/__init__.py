"""lossland: maps the loss landscapes that different optimizers find (Yu & Morozov)."""

from lossland.core.errors import LosslandError

__all__ = ["LosslandError"]
