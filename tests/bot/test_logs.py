from __future__ import annotations

import logging

from bot.logs import ScrubbingFormatter

TOKEN = "MTIzNDU2Nzg5.log-scrub-token"


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError(f"login failed with {TOKEN}")
        except RuntimeError:
            import sys

            exc_info = sys.exc_info()
    return logging.LogRecord("t", logging.ERROR, __file__, 1, message, args, exc_info)


def test_a_secret_in_a_message_or_its_arguments_is_masked():
    formatter = ScrubbingFormatter([TOKEN, ""])
    text = formatter.format(_record("token %s and again " + TOKEN, TOKEN))
    assert TOKEN not in text
    assert text.count("**********") == 2


def test_a_secret_in_a_traceback_is_masked():
    text = ScrubbingFormatter([TOKEN]).format(_record("boom", exc=True))
    assert "RuntimeError: login failed with **********" in text
    assert TOKEN not in text


def test_a_secret_containing_another_is_masked_whole():
    text = ScrubbingFormatter(["abc", "abcdef"]).format(_record("x abcdef y"))
    assert text.endswith("x ********** y")
