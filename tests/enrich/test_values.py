"""Loss values computed from prices, on real recorded kills, and where the Enricher takes them."""

from __future__ import annotations

import pytest

from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.enrich.values import loss_value
from engine.model import Killmail
from tests.enrich.kills import load_kills

ORCA_WITH_CONTAINERS = 52844772  # Pochven, no zkb block
HERON_WITH_A_BPC = 132588538  # no zkb block
KEEPSTAR = 131126432  # zkb totalValue 191,585,667,614.45


class Prices:
    """A price table: the PriceLookup the Enricher is given in production is a price book."""

    def __init__(self, table: dict[int, float]) -> None:
        self.table = table

    def price(self, type_id: int) -> float | None:
        return self.table.get(type_id)


@pytest.fixture(scope="module")
def universe() -> Universe:
    return Universe.load()


@pytest.fixture(scope="module")
def kills(data_dir) -> dict[int, Killmail]:
    return load_kills(data_dir)


def test_a_loss_counts_the_ship_and_items_inside_containers_and_ships_in_the_hold(kills):
    prices = Prices({
        28606: 1_000_000_000.0,  # the Orca itself
        11489: 1_000_000.0,  # a Giant Secure Container in its cargo, destroyed
        222: 10.0,  # 25,850 Antimatter Charge S inside that container
        37455: 5_000_000.0,  # two Griffin Navy Issues in the ship hangar, one dropped
        2456: 1_000.0,  # Hobgoblin II: 3 + 2 in the drone bay, 28 in the container,
        #                 one in each Griffin's drone bay
    })
    value = loss_value(kills[ORCA_WITH_CONTAINERS].victim, prices)
    assert value == 1_000_000_000 + 1_000_000 + 258_500 + 10_000_000 + 35_000


def test_a_blueprint_copy_is_worth_nothing(kills):
    # The Heron carried one Capital Kinetic Shield Reinforcer II Blueprint, a copy (singleton 2).
    prices = Prices({605: 500_000.0, 31751: 1_000_000_000.0})
    assert loss_value(kills[HERON_WITH_A_BPC].victim, prices) == 500_000.0


def test_items_without_a_price_count_nothing_but_a_priced_item_still_gives_a_value(kills):
    # No price for the Heron; its two Nanofiber Internal Structure I have one, and so does a
    # Damage Control II it did not carry.
    prices = Prices({2603: 1_000.0, 2048: 300_000.0})
    assert loss_value(kills[HERON_WITH_A_BPC].victim, prices) == 2_000.0


def test_without_any_price_there_is_no_value_rather_than_zero(kills):
    assert loss_value(kills[ORCA_WITH_CONTAINERS].victim, Prices({})) is None


def test_the_enricher_prefers_zkbs_value(universe, kills):
    enricher = Enricher(universe, prices=Prices({35834: 1.0}))
    kill = enricher.enrich(kills[KEEPSTAR])
    assert (kill.value, kill.value_source) == (191585667614.45, "zkb")


def test_the_enricher_computes_a_value_when_zkb_has_none(universe, kills):
    enricher = Enricher(universe, prices=Prices({605: 500_000.0}))
    kill = enricher.enrich(kills[HERON_WITH_A_BPC])
    assert (kill.value, kill.value_source) == (500_000.0, "computed")


def test_the_enricher_has_no_value_without_prices_or_zkb(universe, kills):
    for enricher in (Enricher(universe), Enricher(universe, prices=Prices({}))):
        kill = enricher.enrich(kills[HERON_WITH_A_BPC])
        assert (kill.value, kill.value_source) == (None, None)


def test_prices_refreshed_in_place_apply_from_the_next_kill(universe, kills):
    prices = Prices({})
    enricher = Enricher(universe, prices=prices)
    assert enricher.enrich(kills[HERON_WITH_A_BPC]).value is None
    prices.table[605] = 750_000.0
    assert enricher.enrich(kills[HERON_WITH_A_BPC]).value == 750_000.0
