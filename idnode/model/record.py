"""A handle record: an identifier and its values, kept sorted by index."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from idnode.model.errors import InvalidValue
from idnode.model.identifier import Identifier
from idnode.model.permissions import AdminRef
from idnode.model.values import HS_ADMIN, HS_VLIST, HandleValue


@dataclass(frozen=True, slots=True)
class Record:
    """An identifier with its values; ``version`` counts committed writes (optimistic locking)."""

    identifier: Identifier
    values: tuple[HandleValue, ...]
    version: int = 0

    @staticmethod
    def sorted_values(values: Iterable[HandleValue]) -> tuple[HandleValue, ...]:
        """Values sorted by index; raise InvalidValue if an index appears twice."""
        ordered = sorted(values, key=lambda v: v.index)
        for before, after in itertools.pairwise(ordered):
            if before.index == after.index:
                raise InvalidValue(f"Index {after.index} appears more than once.")
        return tuple(ordered)

    def by_index(self) -> dict[int, HandleValue]:
        return {v.index: v for v in self.values}

    def admins(self) -> list[tuple[AdminRef, str]]:
        """The (reference, permissions) pairs of the record's HS_ADMIN values."""
        return [
            ((v.data["handle"], v.data["index"]), v.data["permissions"])
            for v in self.values
            if v.type == HS_ADMIN
        ]

    def vlist(self, index: int) -> list[AdminRef] | None:
        """The references of the HS_VLIST value at ``index``, or None if there is none."""
        value = self.by_index().get(index)
        if value is None or value.type != HS_VLIST:
            return None
        return [(ref["handle"], ref["index"]) for ref in value.data]

    def visible_values(self, *, admin: bool) -> list[HandleValue]:
        """Values a reader may see: public ones, or for an admin also the admin-readable ones."""
        return [v for v in self.values if v.public_read or (admin and v.admin_read)]

    def to_storage(self) -> list[list[Any]]:
        return [v.to_storage() for v in self.values]
