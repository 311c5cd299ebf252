"""The public facades, :class:`flagkit.Client` and :class:`flagkit.AsyncClient`: options,
read path, lifecycle. They wire the layers below together and hold no protocol logic."""
