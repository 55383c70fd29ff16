"""The retraining loop: fixed holdouts, retrain from the store, champion vs challenger, promotion
rule, monitoring (docs/loop.md)."""
