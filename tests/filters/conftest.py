"""The universe, distances and the recorded kills, enriched, shared by the filter tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.model import EnrichedKill
from tests.filters.support import load_enriched

# "Now" for age_minutes: a fixed instant after the newest fixture kill.
NOW = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


@pytest.fixture(scope="session")
def universe() -> Universe:
    return Universe.load()


@pytest.fixture(scope="session")
def distances(universe: Universe) -> Distances:
    return Distances(universe)


@pytest.fixture(scope="session")
def kills(universe: Universe, data_dir: Path) -> dict[int, EnrichedKill]:
    return load_enriched(Enricher(universe), data_dir / "killmails.jsonl")
