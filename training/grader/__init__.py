"""Training and evaluation of the condition grader (`regrade train grader`, `evaluate grader`)."""
