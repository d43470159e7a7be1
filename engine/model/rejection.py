"""Why a payload could not become a killmail: a closed set of reasons the pipeline counts."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["KillmailRejected", "RejectReason"]


class RejectReason(StrEnum):
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    EMPTY_PACKAGE = "empty_package"
    MISSING_BODY = "missing_body"
    MISSING_KILLMAIL_ID = "missing_killmail_id"
    INVALID_KILLMAIL_ID = "invalid_killmail_id"
    ID_MISMATCH = "id_mismatch"
    INVALID_HASH = "invalid_hash"
    MISSING_TIME = "missing_time"
    INVALID_TIME = "invalid_time"
    MISSING_SYSTEM = "missing_system"
    INVALID_SYSTEM = "invalid_system"
    MISSING_VICTIM = "missing_victim"
    MISSING_VICTIM_SHIP = "missing_victim_ship"
    INVALID_VICTIM = "invalid_victim"
    INVALID_ATTACKERS = "invalid_attackers"
    INVALID_ITEMS = "invalid_items"
    INVALID_ZKB = "invalid_zkb"
    INVALID_ENVELOPE = "invalid_envelope"


class KillmailRejected(ValueError):
    """A payload that cannot be a killmail; `reason` is for counting, `detail` for the log."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
