"""regrade models package."""
