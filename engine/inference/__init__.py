"""Predictors and inference helpers: the click models' wrappers and the weights-free GrabCut."""
