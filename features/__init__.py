"""Turning raw records and photos into model inputs: one code path for training and serving.

The data contracts live here too (`schema`, `tables`, `images`, `photos`), so every reader of an
outcomes table or a photo dataset goes through the same checks.
"""
