"""Reliability: malformed input, the OpenAPI fuzzed, faults injected (issue #25)."""
