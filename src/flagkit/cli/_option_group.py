"""Several click options handed to a command as one value."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def option_group(name: str, build: Callable[..., Any], options: Sequence[Decorator]) -> Decorator:
    """A decorator adding ``options`` to a command, whose values (named as ``build``'s
    parameters) reach the command as one argument, ``name=build(**values)``."""
    names = tuple(inspect.signature(build).parameters)

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)  # keeps the options already attached (``__click_params__``)
        def command(**values: Any) -> Any:
            grouped = {key: values.pop(key) for key in names}
            return func(**{name: build(**grouped)}, **values)

        decorated: Callable[..., Any] = command
        for option in reversed(options):
            decorated = option(decorated)
        return decorated

    return decorate
