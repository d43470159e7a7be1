"""How close computed loss values come to zKillboard's totalValue, given a price list.

Run: ``python -m tools.compare_values PRICES.json [FILE.jsonl ...]`` where PRICES.json is a
saved ``GET /markets/prices/`` reply (``[{"type_id", "average_price", "adjusted_price"}]``;
average price, else adjusted). Prints the median and quartiles of computed / zkb over every
kill with a positive zkb value. Prices are today's and kills span years, so old kills drift.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import orjson

from engine.enrich.values import loss_value
from engine.model import KillmailRejected, parse_killmail

__all__ = ["TablePrices", "main"]

DEFAULT = Path(__file__).resolve().parent.parent / "tests" / "data" / "killmails.jsonl"


class TablePrices:
    def __init__(self, rows: list[dict[str, float]]) -> None:
        self._table: dict[int, float] = {}
        for row in rows:
            price = row.get("average_price") or row.get("adjusted_price")
            if price:
                self._table[int(row["type_id"])] = float(price)

    def price(self, type_id: int) -> float | None:
        return self._table.get(type_id)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.exit("usage: python -m tools.compare_values PRICES.json [FILE.jsonl ...]")
    prices = TablePrices(orjson.loads(Path(args[0]).read_bytes()))
    ratios: list[float] = []
    unpriced = 0
    for path in [Path(a) for a in args[1:]] or [DEFAULT]:
        for line in path.read_bytes().splitlines():
            try:
                kill = parse_killmail(line)
            except KillmailRejected:
                continue
            if kill.zkb is None or not kill.zkb.total_value:
                continue
            value = loss_value(kill.victim, prices)
            if value is None:
                unpriced += 1
            else:
                ratios.append(value / kill.zkb.total_value)
    if len(ratios) < 2:
        sys.exit("too few kills with both values")
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    print(f"{len(ratios)} kills with both values ({unpriced} without any price)")
    print(f"computed / zkb: median {median:.3f}, quartiles {q1:.3f} - {q3:.3f}")


if __name__ == "__main__":
    main()
