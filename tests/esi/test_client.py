"""The ESI client against the fake ESI: every route, and every fault ESI is known for."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from engine.esi.client import EsiClient
from engine.esi.errors import EsiBadResponse, EsiNotFound, EsiUnavailable
from engine.esi.limits import RetryPolicy
from engine.model.entities import EntityRef
from engine.sources.http import HttpTimeouts
from tests.fakes.clock import FakeClock
from tests.fakes.esi import FakeEsi
from tests.fakes.waiting import until

from .conftest import USER_AGENT, make_client

GOONS = 1354830081
NED_CLAN = 1324429368
CALDARI_STATE = 500001
JITA = 30000142
NOT_AN_ENTITY = 2_000_000_000


def _first_killmail(esi: FakeEsi) -> tuple[int, str, dict[str, object]]:
    killmail_id = min(esi.killmails)
    hash_, body = esi.killmails[killmail_id]
    return killmail_id, hash_, body


# --- killmails ---


async def test_killmail_is_fetched_by_id_and_hash(client: EsiClient, esi: FakeEsi) -> None:
    killmail_id, hash_, body = _first_killmail(esi)
    assert await client.killmail(killmail_id, hash_) == body
    assert esi.requests[0].path == f"/killmails/{killmail_id}/{hash_}/"
    assert esi.requests[0].user_agent == USER_AGENT


async def test_unknown_killmail_is_not_found_and_not_retried(
    client: EsiClient, esi: FakeEsi
) -> None:
    with pytest.raises(EsiNotFound):
        await client.killmail(1, "a" * 40)
    assert esi.count("killmail") == 1


async def test_killmail_with_a_wrong_hash_is_not_found(client: EsiClient, esi: FakeEsi) -> None:
    killmail_id, _, _ = _first_killmail(esi)
    with pytest.raises(EsiNotFound, match="hash do not match"):
        await client.killmail(killmail_id, "0" * 40)
    assert esi.requests[0].status == 422
    # A LookupError too: the feeds skip such a kill instead of retrying it.
    with pytest.raises(LookupError):
        await client.killmail(killmail_id, "0" * 40)


async def test_a_hash_that_is_not_hex_never_reaches_the_network(
    client: EsiClient, esi: FakeEsi
) -> None:
    with pytest.raises(EsiNotFound):
        await client.killmail(123, "../../universe/names")
    assert esi.count() == 0


# --- names ---


async def test_names_resolve_with_singular_categories(client: EsiClient) -> None:
    names = await client.names([GOONS, NED_CLAN, CALDARI_STATE, JITA])
    assert sorted(names, key=lambda n: n.id) == [
        EntityRef("faction", CALDARI_STATE, "Caldari State"),
        EntityRef("system", JITA, "Jita"),
        EntityRef("corporation", NED_CLAN, "NED-Clan"),
        EntityRef("alliance", GOONS, "Goonswarm Federation"),
    ]


async def test_names_go_in_batches_of_at_most_a_thousand(client: EsiClient, esi: FakeEsi) -> None:
    ids = list(range(90_000_001, 90_002_501))
    for entity_id in ids:
        esi.names[entity_id] = ("character", f"Pilot {entity_id}")
    names = await client.names(ids)
    assert len(names) == 2500
    assert [len(body) for body in esi.bodies("names")] == [1000, 1000, 500]


async def test_a_bad_id_is_isolated_by_splitting_and_the_rest_resolved(
    client: EsiClient, esi: FakeEsi
) -> None:
    good = sorted(cid for cid, (category, _) in esi.names.items() if category == "corporation")
    batch = [*good[:5], NOT_AN_ENTITY, *good[5:7]]  # sorted: the bad id is the last of 8
    names = await client.names(batch)
    assert {n.id for n in names} == set(good[:7])
    # 8 → 404; first 4 ok, last 4 → 404; 2 ok, 2 → 404; 1 ok, 1 → 404: seven calls, not eight.
    assert [len(body) for body in esi.bodies("names")] == [8, 4, 4, 2, 2, 1, 1]
    assert client.is_invalid(NOT_AN_ENTITY)


async def test_a_bad_id_is_never_asked_again(client: EsiClient, esi: FakeEsi) -> None:
    await client.names([GOONS, NOT_AN_ENTITY])
    calls = esi.count("names")
    assert await client.names([NOT_AN_ENTITY]) == []
    assert esi.count("names") == calls
    await client.names([NOT_AN_ENTITY, NED_CLAN])
    assert esi.bodies("names")[-1] == [NED_CLAN]
    assert client.status().invalid_ids == 1


async def test_several_bad_ids_in_one_batch_are_all_isolated(
    client: EsiClient, esi: FakeEsi
) -> None:
    bad = [2_000_000_001, 2_000_000_002, 2_000_000_003]
    names = await client.names([GOONS, NED_CLAN, *bad])
    assert {n.id for n in names} == {GOONS, NED_CLAN}
    assert all(client.is_invalid(b) for b in bad)


async def test_no_ids_make_no_call(client: EsiClient, esi: FakeEsi) -> None:
    assert await client.names([]) == []
    assert await client.names([0, -5]) == []
    assert esi.count() == 0


# --- ids ---


async def test_ids_are_keyed_by_the_folded_name(client: EsiClient) -> None:
    found = await client.ids(["goonswarm federation", "JITA", "Caldari State", "No Such Pilot"])
    assert found == {
        "goonswarm federation": [EntityRef("alliance", GOONS, "Goonswarm Federation")],
        "jita": [EntityRef("system", JITA, "Jita")],
        "caldari state": [EntityRef("faction", CALDARI_STATE, "Caldari State")],
    }


async def test_a_name_that_is_two_things_gives_both(client: EsiClient, esi: FakeEsi) -> None:
    esi.names[95_000_001] = ("character", "Fraternity.")
    found = await client.ids(["Fraternity."])
    assert sorted(found["fraternity."], key=lambda r: r.category) == [
        EntityRef("alliance", 99003581, "Fraternity."),
        EntityRef("character", 95_000_001, "Fraternity."),
    ]


async def test_ids_go_in_batches_of_at_most_five_hundred(client: EsiClient, esi: FakeEsi) -> None:
    await client.ids([f"Pilot {n}" for n in range(1200)] + ["pilot 1"])
    assert [len(body) for body in esi.bodies("ids")] == [500, 500, 200]


# --- prices ---


async def test_prices_come_whole_with_missing_averages(client: EsiClient) -> None:
    prices = await client.prices()
    assert len(prices) > 3000
    by_type = {p.type_id: p for p in prices}
    assert by_type[34].average_price is not None
    assert any(p.average_price is None and p.adjusted_price for p in prices)


# --- etiquette: error limit ---


async def test_error_limit_headers_count_down_and_calls_stop_at_the_floor(
    http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeEsi(now=clock.now, error_limit=15, error_window=60) as esi:
        client = make_client(http, esi, clock, error_floor=10)
        for n in range(5):
            with pytest.raises(EsiNotFound):
                await client.killmail(n + 1, "a" * 40)
        assert client.status().error_limit_remain == 10
        assert clock.sleeps == []
        started = clock.now()
        killmail_id, hash_, _ = _first_killmail(esi)
        await client.killmail(killmail_id, hash_)
        # It waited for the window to reset instead of spending the last errors.
        assert clock.sleeps == [pytest.approx(60.0, abs=1.0)]
        assert esi.requests[-1].at >= started + 59
        assert esi.requests[-1].status == 200
        assert all(r.status != 420 for r in esi.requests)


async def test_a_420_waits_for_the_reset_then_succeeds(
    client: EsiClient, esi: FakeEsi, clock: FakeClock
) -> None:
    clock.time += 20  # 40 s left in the fake's window
    esi.fault("prices", "420")
    assert len(await client.prices()) > 3000
    assert [r.status for r in esi.requests] == [420, 200]
    assert clock.sleeps == [pytest.approx(40.0)]
    assert client.status().errors["error_limited"] == 1


async def test_when_someone_else_spent_the_error_budget_the_420_is_waited_out(
    client: EsiClient, esi: FakeEsi, clock: FakeClock
) -> None:
    esi.spend_errors(100)
    assert await client.names([NED_CLAN]) == [EntityRef("corporation", NED_CLAN, "NED-Clan")]
    assert [r.status for r in esi.requests] == [420, 200]
    assert clock.sleeps == [pytest.approx(60.0)]
    assert esi.errors_left == 100  # a new window


# --- etiquette: token bucket and 429 ---


async def test_a_429_waits_for_retry_after_then_succeeds(
    client: EsiClient, esi: FakeEsi, clock: FakeClock
) -> None:
    esi.retry_after = "7"
    esi.fault("names", "429")
    assert await client.names([GOONS])
    assert [r.status for r in esi.requests] == [429, 200]
    assert clock.sleeps == [7.0]


async def test_an_empty_bucket_is_waited_out_without_a_single_429(
    http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeEsi(now=clock.now, ratelimit="3/15m") as esi:
        client = make_client(http, esi, clock)
        for _ in range(5):
            await client.names([GOONS])
        assert [r.status for r in esi.requests] == [200] * 5
        # Tokens 3, 2, 1 spent without waiting; then one refill (300 s) before each call.
        assert clock.sleeps == [pytest.approx(300.0), pytest.approx(300.0)]


# --- etiquette: 5xx, timeouts, broken bodies ---


async def test_server_errors_are_retried_with_backoff(
    client: EsiClient, esi: FakeEsi, clock: FakeClock
) -> None:
    esi.fault("names", "503", "502")
    assert await client.names([GOONS]) == [EntityRef("alliance", GOONS, "Goonswarm Federation")]
    assert [r.status for r in esi.requests] == [503, 502, 200]
    assert clock.sleeps == [1.0, 2.0]


async def test_retries_are_bounded(client: EsiClient, esi: FakeEsi) -> None:
    esi.fault("prices", "500", "500", "500", "500")
    with pytest.raises(EsiUnavailable) as raised:
        await client.prices()
    assert raised.value.reason == "server_error"
    assert esi.count("prices") == 3


async def test_a_hung_request_gives_up_at_the_timeout(
    http: aiohttp.ClientSession, esi: FakeEsi, clock: FakeClock
) -> None:
    client = make_client(
        http,
        esi,
        clock,
        timeouts=HttpTimeouts(connect=1.0, read=0.2),
        retry=RetryPolicy(attempts=1),
    )
    esi.fault("prices", "hang")
    started = time.monotonic()
    with pytest.raises(EsiUnavailable) as raised:
        await client.prices()
    assert raised.value.reason == "timeout"
    assert time.monotonic() - started < 2.0


async def test_a_hang_is_retried_and_the_next_answer_used(
    http: aiohttp.ClientSession, esi: FakeEsi, clock: FakeClock
) -> None:
    client = make_client(http, esi, clock, timeouts=HttpTimeouts(connect=1.0, read=0.2))
    esi.fault("names", "hang")
    assert await client.names([GOONS])
    assert client.status().errors == {"timeout": 1}


@pytest.mark.parametrize("fault", ["truncated", "invalid", "cut"])
async def test_a_broken_body_is_retried(client: EsiClient, esi: FakeEsi, fault: str) -> None:
    esi.fault("prices", fault)  # type: ignore[arg-type]
    assert len(await client.prices()) > 3000
    assert esi.count("prices") == 2
    assert client.status().errors == {"malformed": 1}


async def test_a_body_broken_every_time_is_a_bad_response(client: EsiClient, esi: FakeEsi) -> None:
    esi.fault("names", "truncated", "truncated", "truncated")
    with pytest.raises(EsiBadResponse) as raised:
        await client.names([GOONS])
    assert raised.value.reason == "malformed"


async def test_a_wrong_shape_is_a_bad_response(client: EsiClient, esi: FakeEsi) -> None:
    esi.prices = b'{"type_id": 34}'
    with pytest.raises(EsiBadResponse):
        await client.prices()


async def test_error_messages_carry_no_huge_bodies(client: EsiClient, esi: FakeEsi) -> None:
    esi.error_body = b"<html>" + b"x" * 100_000 + b"token=SECRET</html>"
    esi.fault("prices", "500", "500", "500")
    with pytest.raises(EsiUnavailable) as raised:
        await client.prices()
    assert len(str(raised.value)) < 300
    assert "SECRET" not in str(raised.value)


# --- etiquette: circuit breaker ---


async def test_breaker_opens_and_then_calls_cost_nothing(
    http: aiohttp.ClientSession, esi: FakeEsi, clock: FakeClock
) -> None:
    client = make_client(http, esi, clock, retry=RetryPolicy(attempts=1))
    esi.down = True
    for _ in range(5):
        with pytest.raises(EsiUnavailable, match="server_error"):
            await client.names([GOONS])
    assert client.status().breaker == "open"
    for _ in range(20):
        with pytest.raises(EsiUnavailable) as raised:
            await client.names([GOONS])
        assert raised.value.reason == "circuit_open"
    assert esi.count() == 5
    status = client.status()
    assert status.errors == {"server_error": 5, "circuit_open": 20}
    assert status.breaker_opened == 1


async def test_breaker_lets_one_trial_through_after_the_cool_down_and_closes(
    http: aiohttp.ClientSession, esi: FakeEsi, clock: FakeClock
) -> None:
    client = make_client(http, esi, clock, retry=RetryPolicy(attempts=1), breaker_cool_down=30)
    esi.down = True
    for _ in range(5):
        with pytest.raises(EsiUnavailable):
            await client.prices()
    esi.down = False
    clock.time += 30
    esi.hold("prices")
    trial = asyncio.create_task(client.prices())
    await until(lambda: esi.count("prices") == 6)
    assert client.status().breaker == "half_open"
    with pytest.raises(EsiUnavailable, match="circuit_open"):
        await client.names([GOONS])  # one trial at a time; the rest fail fast
    esi.release()
    assert len(await trial) > 3000
    assert client.status().breaker == "closed"
    assert await client.names([GOONS])


async def test_a_failed_trial_opens_the_breaker_again(
    http: aiohttp.ClientSession, esi: FakeEsi, clock: FakeClock
) -> None:
    retry = RetryPolicy(attempts=3, rand=lambda: 0.5)
    client = make_client(http, esi, clock, retry=retry, breaker_cool_down=30)
    esi.down = True
    for _ in range(5):
        with pytest.raises(EsiUnavailable):
            await client.prices()
    assert esi.count() == 15
    clock.time += 30
    with pytest.raises(EsiUnavailable, match="server_error"):
        await client.prices()
    assert esi.count() == 16  # the trial is one attempt, not three
    with pytest.raises(EsiUnavailable, match="circuit_open"):
        await client.prices()
    assert client.status().breaker_opened == 2


async def test_not_found_answers_do_not_open_the_breaker(client: EsiClient) -> None:
    for n in range(8):
        with pytest.raises(EsiNotFound):
            await client.killmail(n + 1, "b" * 40)
    assert client.status().breaker == "closed"
    assert client.status().errors == {"not_found": 8}


async def test_status_reports_calls_errors_and_the_error_window(
    client: EsiClient, esi: FakeEsi
) -> None:
    esi.fault("names", "503")
    await client.names([GOONS])
    status = client.status()
    assert status.calls == 2
    assert status.errors == {"server_error": 1}
    assert status.breaker == "closed"
    assert status.error_limit_remain == 99
    assert status.error_limit_reset_in is not None
    assert 0 < status.error_limit_reset_in <= 60
