"""Scale-out: one ingester publishes enriched kills to a Redis Stream, N bot processes consume it.

The modules are imported one by one, never from here: `shards` needs nothing, while `stream`,
`publisher` and `consumer` need the `redis` package, which single-process Killwatch never
imports.
"""
