"""regrade serving package."""
