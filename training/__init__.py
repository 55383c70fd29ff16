"""Pipelines: data loading, synthetic data, train, evaluate, register, promote, retrain.

Only the command line and the pipelines import this package; runtime code never does.
"""
