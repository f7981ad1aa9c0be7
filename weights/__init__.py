"""The model registry: names users pick, mapped to the predictors that implement them."""
from weights.registry import (DEFAULT_MODEL, MODELS, ModelEntry, WeightsNotFound,
                              build_predictor, checkpoint_path, weights_dir)

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelEntry", "WeightsNotFound", "build_predictor",
           "checkpoint_path", "weights_dir"]
