"""HTTP plumbing shared by every layer that talks to PostHog: client construction, key
redaction and retry timing. Imports nothing else from flagkit."""
