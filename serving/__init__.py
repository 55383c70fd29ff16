"""The regrade service.

- `serving.api`: the HTTP layer (BentoML service, routes, auth, upload guard, request and
  answer models, error statuses).
- `serving.assess`: from a validated request to a decision (predictors, guardrails, routing).
- `serving.runtime`: what a worker loads at start-up (models, policy, ledger, case store).
- `serving.settings`: the typed settings.
- `serving.errors`: the intake's errors.
- `serving.store`: the case database (imports nothing else from `serving`).
"""
