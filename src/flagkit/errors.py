"""Exceptions raised by flagkit.

Evaluation never raises; these come from loading definitions, the admin API and the CLI.
Messages never contain API keys.
"""

from __future__ import annotations


class FlagkitError(Exception):
    """Base class of every flagkit exception."""


class DefinitionsError(FlagkitError):
    """A definitions body is not JSON, or not a JSON object."""
