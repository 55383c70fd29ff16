"""The HTTP layer: the BentoML service, the people's routes, auth, the upload guard, the request
and answer models, and the mapping of errors to HTTP statuses."""
