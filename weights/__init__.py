"""The model registry: names users pick, mapped to the predictors that implement them."""
from weights.registry import DEFAULT_MODEL, MODELS, ModelEntry, build_predictor

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelEntry", "build_predictor"]
