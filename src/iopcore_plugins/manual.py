"""The ``manual`` screening provider: staff collect specimens and type in the results.

>>> from datetime import date
>>> from iopcore.core.screening import ScreeningOrder, SubstanceResult
>>> lab = ManualScreening()
>>> order = ScreeningOrder(id="S-1", participant_id="P-1", ordered_for=date(2027, 1, 5))
>>> lab.place_order(order)
'S-1'
>>> lab.enter("S-1", [SubstanceResult(substance="cocaine", result="negative")])
>>> [r.order_id for r in lab.collect_results()], lab.collect_results()
(['S-1'], [])
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from iopcore.core.errors import StorageError
from iopcore.core.screening import ScreeningOrder, ScreeningResult, SubstanceResult
from iopcore.plugins.hookspecs import hookimpl
from iopcore.plugins.records import ScreeningProvider


class ManualScreening:
    """Orders wait for staff to enter results; results are handed over once."""

    def __init__(self) -> None:
        self._orders: dict[str, ScreeningOrder] = {}
        self._ready: list[ScreeningResult] = []

    def place_order(self, order: ScreeningOrder) -> str:
        self._orders[order.id] = order
        return order.id

    def enter(
        self,
        order_id: str,
        results: Iterable[SubstanceResult],
        collected_at: datetime | None = None,
    ) -> None:
        """Staff enter the result of an order they collected."""
        order = self._orders.get(order_id)
        if order is None:
            raise StorageError(f"no open manual screening order {order_id!r}; place it first")
        self._ready.append(
            ScreeningResult(
                order_id=order_id,
                participant_id=order.participant_id,
                results=tuple(results),
                collected_at=collected_at,
                resulted_at=collected_at,
            )
        )
        del self._orders[order_id]

    def collect_results(self) -> list[ScreeningResult]:
        ready, self._ready = self._ready, []
        return ready


@hookimpl
def iopcore_screening_providers() -> list[ScreeningProvider]:
    return [
        ScreeningProvider(
            name="manual",
            create=ManualScreening,
            description="staff collect specimens and enter results",
        )
    ]
