"""lossland: maps the loss landscapes that different optimizers find (Yu & Morozov)."""

from lossland.errors import LosslandError

__all__ = ["LosslandError"]
