"""Training and evaluation of the resale price band and time-to-sell models."""
