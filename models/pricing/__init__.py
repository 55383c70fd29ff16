"""Resale price band and time-to-sell models: LightGBM boosters and a conformal band, no pickle.

`PricingPredictor.load(model_dir)` is what serving and batch pricing use.
"""

from models.pricing.predictor import PricingPredictor

__all__ = ["PricingPredictor"]
