"""The registry of recovery types: each type registers itself once with `@action_type("<name>")`.

A recovery type is a class with a `plan(ctx)` and an `execute(ctx)` method (the `ActionType` protocol).
Decorating it with `@action_type("docker_compose_restart")` puts one instance of it in `ACTION_TYPES` under
that name; registering a name twice raises `DuplicateActionTypeError`. The registry is the one list of
runnable recovery types: tests tie it to `contracts.model.RECOVERY_TYPES` (which the gates check actions
against) and to the types the recovery.actions schema names, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

from infracore_verify.recovery.actions.context import (
    ActionOutcome,
    RecoveryContext,
    RecoveryUnsupportedTypeError,
    StepRecord,
)

LEGACY_FIX = "convert it to one capability_retry action per capability"
LEGACY_TYPES = ("capability_rerun",)
"""Types the ops bindings used to have and that are refused with the fix."""


class ActionType(Protocol):
    """One recovery type: how it plans (a dry run, nothing runs) and how it executes."""

    def plan(self, ctx: RecoveryContext) -> list[StepRecord]:
        """Return the steps the action would take, running none of them."""
        ...

    def execute(self, ctx: RecoveryContext) -> ActionOutcome:
        """Run the action and return its outcome; raise RecoveryError for a binding or environment problem."""
        ...


_Type = TypeVar("_Type", bound=ActionType)


class DuplicateActionTypeError(ValueError):
    """A recovery type name was registered twice."""


class ActionRegistry:
    """Recovery type name -> its `ActionType`, in registration order."""

    def __init__(self) -> None:
        """Start empty."""
        self._types: dict[str, ActionType] = {}

    def register(self, name: str) -> Callable[[type[_Type]], type[_Type]]:
        """Return a class decorator that registers an instance of the class under `name` (once only)."""

        def decorate(cls: type[_Type]) -> type[_Type]:
            if name in self._types:
                raise DuplicateActionTypeError(
                    f"recovery type {name!r} is already registered by {type(self._types[name]).__qualname__}; "
                    f"{cls.__qualname__} needs another name"
                )
            self._types[name] = cls()
            return cls

        return decorate

    def names(self) -> tuple[str, ...]:
        """Return the registered names in registration order."""
        return tuple(self._types)

    def __iter__(self) -> Iterator[str]:
        """Iterate over the registered names in registration order."""
        return iter(self._types)

    def __contains__(self, name: object) -> bool:
        """Return True when `name` is registered."""
        return name in self._types

    def __len__(self) -> int:
        """Return the number of registered types."""
        return len(self._types)

    def get(self, name: str) -> ActionType | None:
        """Return the type registered under `name`, or None."""
        return self._types.get(name)

    def for_context(self, ctx: RecoveryContext) -> ActionType:
        """Return the type of ctx's action; raise RecoveryUnsupportedTypeError for a legacy or unknown one."""
        rtype = str(ctx.recovery.get("type", ""))
        if rtype in LEGACY_TYPES:
            raise RecoveryUnsupportedTypeError(
                f"{ctx.where('type')}: {rtype!r} is a legacy recovery type and is not supported; {LEGACY_FIX}"
            )
        handler = self._types.get(rtype)
        if handler is None:
            raise RecoveryUnsupportedTypeError(
                f"{ctx.where('type')}: unsupported recovery type {rtype!r}; use one of {', '.join(self._types)}"
            )
        return handler


ACTION_TYPES = ActionRegistry()
"""Every recovery type the suite can run (filled when `infracore_verify.recovery.actions` is imported)."""

action_type = ACTION_TYPES.register
"""Register a recovery type class: `@action_type("alert_only")`."""
