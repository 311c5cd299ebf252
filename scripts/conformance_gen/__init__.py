"""Case designs and the posthog oracle behind tests/conformance (dev-only, runs in the refvenv)."""
