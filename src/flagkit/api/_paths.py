"""URL paths of the two API eras.

* project-scoped (current, the default): ``/api/projects/<project_id>/feature_flags/...``
  and ``/api/projects/<project_id>/persons/...``;
* legacy: ``/api/feature_flag/...`` and ``/api/person/...``, where the project is chosen by
  ``?token=<project API key>`` (or is the key owner's current project).
"""

from __future__ import annotations

from urllib.parse import quote

import attrs


def _seg(value: object) -> str:
    # Ids are ints or uuids; quoting keeps a stray "/" or "?" from changing the route.
    return quote(str(value), safe="@")


@attrs.frozen
class Paths:
    """Builds paths for one project in one API era."""

    project_id: str | None = None
    legacy: bool = False

    @classmethod
    def for_project(cls, project_id: int | str | None, *, legacy: bool = False) -> Paths:
        """Project-scoped paths, or legacy ones when ``legacy`` or no project id is known."""
        if project_id is None or str(project_id).strip() == "":
            return cls(project_id=None, legacy=True)
        return cls(project_id=str(project_id).strip(), legacy=legacy)

    @property
    def _flags_root(self) -> str:
        if self.legacy or self.project_id is None:
            return "/api/feature_flag/"
        return f"/api/projects/{_seg(self.project_id)}/feature_flags/"

    @property
    def _persons_root(self) -> str:
        if self.legacy or self.project_id is None:
            return "/api/person/"
        return f"/api/projects/{_seg(self.project_id)}/persons/"

    def flags(self) -> str:
        """The flag collection (list, create)."""
        return self._flags_root

    def flag(self, flag_id: int | str) -> str:
        """One flag (get, update)."""
        return f"{self._flags_root}{_seg(flag_id)}/"

    def flag_action(self, flag_id: int | str, action: str) -> str:
        """An action on one flag, e.g. ``activity`` or ``dashboard``."""
        return f"{self._flags_root}{_seg(flag_id)}/{action}/"

    def flags_action(self, action: str) -> str:
        """An action on the collection, e.g. ``local_evaluation`` or ``my_flags``."""
        return f"{self._flags_root}{action}/"

    def role_access(self, flag_id: int | str, access_id: int | str | None = None) -> str:
        """A flag's role-access collection, or one entry of it."""
        base = f"{self._flags_root}{_seg(flag_id)}/role_access/"
        return base if access_id is None else f"{base}{_seg(access_id)}/"

    def persons(self) -> str:
        """The person collection."""
        return self._persons_root

    def person(self, person_id: int | str) -> str:
        """One person."""
        return f"{self._persons_root}{_seg(person_id)}/"


__all__ = ["Paths"]
