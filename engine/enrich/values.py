"""What a loss was worth, from market prices, for kills that come without zKillboard's value.

The value is the ship plus every item the victim carried, destroyed and dropped alike, each
at ``price × (quantity_destroyed + quantity_dropped)``, with the contents of containers (and
of containers in containers) counted too. zKillboard values a loss the same way.

Choices:
- A blueprint copy (``singleton == 2``) is worth nothing: it cannot be sold on the market, and
  the market price of its type is the original's. (zKillboard values it at 0.01 ISK.)
- An item without a price counts 0 (a type with no market, a new type); the value is then a
  lower bound.
- When no price is known for the ship or anything it carried, the value is None (prices not
  loaded yet, or a kill made only of unpriced types), never a misleading 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol

from engine.model import Item, Victim

__all__ = ["BLUEPRINT_COPY", "PriceLookup", "loss_value"]

BLUEPRINT_COPY: Final = 2  # Item.singleton value ESI gives a blueprint copy


class PriceLookup(Protocol):
    """A price per unit for a type, in ISK, or None when there is none."""

    def price(self, type_id: int) -> float | None: ...


def loss_value(victim: Victim, prices: PriceLookup) -> float | None:
    """The ship and everything it carried, in ISK; None when nothing has a price."""
    ship_price = prices.price(victim.ship_type_id)
    items_value, items_priced = _items_value(victim.items, prices)
    if ship_price is None and not items_priced:
        return None
    return (ship_price or 0.0) + items_value


def _items_value(items: Iterable[Item], prices: PriceLookup) -> tuple[float, bool]:
    total = 0.0
    priced = False
    for item in items:
        if item.singleton != BLUEPRINT_COPY:
            unit = prices.price(item.type_id)
            if unit is not None:
                priced = True
                total += unit * (item.quantity_destroyed + item.quantity_dropped)
        if item.items:
            inner, inner_priced = _items_value(item.items, prices)
            total += inner
            priced = priced or inner_priced
    return total, priced
