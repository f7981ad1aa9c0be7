"""Clickmask's inference engine: click models, sessions, annotations. Never imports Qt."""
from engine.clicks import Click
from engine.predictor import Predictor
from engine.session import DEFAULT_PROB_THRESH, InteractiveSession

__all__ = ["Click", "Predictor", "InteractiveSession", "DEFAULT_PROB_THRESH"]
