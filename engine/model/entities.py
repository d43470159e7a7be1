"""Named things and prices as ESI gives them: values shared by the ESI client and the store.

They live in ``model`` because ``engine.esi`` (which fetches them), ``engine.store`` (which
keeps them) and the filter language (which turns typed names into IDs) all speak them, and
none of those may import another.
"""

from __future__ import annotations

import msgspec

__all__ = ["EntityRef", "MarketPrice", "name_key"]


def name_key(name: str) -> str:
    """How a typed name is compared with EVE's: surrounding whitespace dropped, case folded."""
    return name.strip().casefold()


class EntityRef(msgspec.Struct, frozen=True):
    """One named thing in EVE: a character, corporation, alliance, faction, system, type...

    ``category`` is singular, whichever ESI route said it: ``character``, ``corporation``,
    ``alliance``, ``faction``, ``system``, ``constellation``, ``region``, ``inventory_type``,
    ``station``, ``agent`` (``/universe/names/`` says ``solar_system`` and ``/universe/ids/``
    says ``systems``; both become ``system``).
    """

    category: str
    id: int
    name: str


class MarketPrice(msgspec.Struct, frozen=True):
    """CCP's price estimates for one type (ESI ``/markets/prices/``); either may be absent."""

    type_id: int
    average_price: float | None = None
    adjusted_price: float | None = None

    @property
    def best(self) -> float | None:
        """The average price, else the adjusted price; zero means "no price", not "free"."""
        if self.average_price is not None and self.average_price > 0:
            return self.average_price
        if self.adjusted_price is not None and self.adjusted_price > 0:
            return self.adjusted_price
        return None
