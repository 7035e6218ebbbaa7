"""The limits every write of a record obeys, whichever front end it came through.

A write may not create an identifier longer than ``max_handle_bytes`` (UTF-8), bring in a value whose
data is larger than ``max_value_bytes``, or leave a record with more than ``max_values_per_record``
values (the node's signature not counted). Limits apply to what a write brings in: a value stored
before a limit was lowered may stay, and a record already over the count may shrink but not grow.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from idnode.config import Settings
from idnode.model.errors import IdnodeError, InvalidHandle, InvalidValue
from idnode.model.record import Record
from idnode.model.values import HandleValue
from idnode.signing import SIGNATURE_INDEX


def value_bytes(value: HandleValue) -> int:
    """The size of a value's data as the node stores and returns it: the UTF-8 of a string (for base64
    and hex, the encoded text), the JSON of a structured format (admin, vlist, site, key)."""
    data = value.data
    return len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(orjson.dumps(data))


def _counted(values: tuple[HandleValue, ...]) -> int:
    return sum(1 for v in values if v.index != SIGNATURE_INDEX)


@dataclass(frozen=True, slots=True)
class RecordLimits:
    """See the module docstring."""

    max_handle_bytes: int
    max_values_per_record: int
    max_value_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> RecordLimits:
        return cls(settings.max_handle_bytes, settings.max_values_per_record, settings.max_value_bytes)

    def problem(self, current: Record | None, record: Record) -> IdnodeError | None:
        """Why storing ``record`` over ``current`` (None: the identifier is new) breaks a limit, or None."""
        if current is None:
            size = len(str(record.identifier).encode("utf-8", "surrogatepass"))
            if size > self.max_handle_bytes:
                return InvalidHandle(
                    f"The handle is {size} bytes long in UTF-8; this node takes at most "
                    f"{self.max_handle_bytes}."
                )
        count = _counted(record.values)
        if count > self.max_values_per_record and count > (
            0 if current is None else _counted(current.values)
        ):
            return InvalidValue(
                f"The record would hold {count} values; this node keeps at most {self.max_values_per_record}."
            )
        before = {} if current is None else current.by_index()
        for value in record.values:
            old = before.get(value.index)
            if old is not None and old.same_content(value):
                continue
            size = value_bytes(value)
            if size > self.max_value_bytes:
                return InvalidValue(
                    f"Value {value.index} ({value.type}) holds {size} bytes; "
                    f"this node takes at most {self.max_value_bytes} per value."
                )
        return None

    def require(self, current: Record | None, record: Record) -> None:
        """Raise the ``problem`` of storing ``record`` over ``current``, if any."""
        problem = self.problem(current, record)
        if problem is not None:
            raise problem
