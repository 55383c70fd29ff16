"""`python -m training` runs the `regrade` command line."""

from training.cli import main

main()
