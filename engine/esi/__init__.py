"""ESI, EVE's public API: killmail bodies, names and IDs, market prices, and its etiquette.

``client`` talks to ESI (through the rules of ``limits``); ``names`` and ``prices`` cache what
it answers, in memory and behind store protocols the store package implements. This package
imports only ``engine.model`` and the shared HTTP etiquette of ``engine.sources.http``.
"""

from engine.esi.client import DEFAULT_ESI_URL, EsiClient, EsiName, EsiStatus
from engine.esi.errors import EsiBadResponse, EsiError, EsiNotFound, EsiRejected, EsiUnavailable
from engine.esi.limits import CircuitBreaker, ErrorLimitGate, RateLimitBuckets, RetryPolicy
from engine.esi.names import IdResolver, IdStore, NameResolver, NameStore
from engine.esi.prices import PriceBook, PriceStore

__all__ = [
    "DEFAULT_ESI_URL",
    "CircuitBreaker",
    "ErrorLimitGate",
    "EsiBadResponse",
    "EsiClient",
    "EsiError",
    "EsiName",
    "EsiNotFound",
    "EsiRejected",
    "EsiStatus",
    "EsiUnavailable",
    "IdResolver",
    "IdStore",
    "NameResolver",
    "NameStore",
    "PriceBook",
    "PriceStore",
    "RateLimitBuckets",
    "RetryPolicy",
]
