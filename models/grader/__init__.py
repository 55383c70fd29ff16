"""The condition grader: calibrated A/B/C grades from 1..N photos, counterfeit flag, review routing.

Modules: `backbones` (timm factory), `heads` (network, ordinal head), `preprocess` (config and
transforms), `calibration`, `counterfeit`, `artifact` (save/load), `predictor` (`GraderPredictor`).
"""
