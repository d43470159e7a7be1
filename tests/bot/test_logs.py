from __future__ import annotations

import logging

import orjson

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


PASSWORD = 'pa"ss\\word'


def _fields_record(message: str, *args: object, exc: bool = False, **extra: object):
    record = _record(message, *args, exc=exc)
    record.__dict__.update(extra)
    return record


def test_json_is_one_object_per_line_with_extra_fields_as_keys():
    from bot.logs import JsonFormatter

    line = JsonFormatter([]).format(
        _fields_record("killmail %d stored", 123, killmail_id=123, value=1.5e9, too_old=False)
    )
    assert "\n" not in line
    event = orjson.loads(line)
    assert event["msg"] == "killmail 123 stored"
    assert event["level"] == "error"
    assert event["logger"] == "t"
    assert (event["killmail_id"], event["value"], event["too_old"]) == (123, 1.5e9, False)
    assert event["ts"].endswith("Z")


def test_json_masks_secrets_that_json_would_escape_and_keeps_the_traceback_on_the_line():
    from bot.logs import JsonFormatter

    line = JsonFormatter([TOKEN, PASSWORD]).format(
        _fields_record("connect with %s", PASSWORD, exc=True, url=f"pg://u:{PASSWORD}@h")
    )
    assert "\n" not in line
    event = orjson.loads(line)
    assert TOKEN not in line
    assert PASSWORD not in orjson.dumps(event).decode()
    assert PASSWORD not in event["msg"]
    assert PASSWORD not in event["url"]
    assert "RuntimeError: login failed with **********" in event["exc"]


def test_keyvalue_quotes_what_needs_it_and_escapes_newlines():
    from bot.logs import KeyValueFormatter

    line = KeyValueFormatter([TOKEN]).format(
        _fields_record("posting to %s", "channel:1", exc=True, destination="channel:1",
                       note='say "hi"', missing=None, ok=True)
    )
    assert "\n" not in line
    assert " level=error logger=t " in line
    assert 'msg="posting to channel:1"' in line
    assert "destination=channel:1 " in line
    assert 'note="say \\"hi\\""' in line
    assert " missing= " in line
    assert " ok=true " in line
    assert "\\nRuntimeError: login failed with **********" in line
    assert TOKEN not in line


def test_per_kill_lines_stay_quiet_unless_asked(capsys):
    import logging

    from bot.logs import KILLS_LOGGER, setup_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("DEBUG", log_format="json")
        logging.getLogger(KILLS_LOGGER).info("killmail 1 stored")
        logging.getLogger("engine.x").info("something else")
        setup_logging("WARNING", log_format="json", kills=True)
        logging.getLogger(KILLS_LOGGER).info("killmail 2 stored")
        logging.getLogger("engine.x").info("quiet now")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name in (KILLS_LOGGER, "discord", "sqlalchemy", "alembic", "apscheduler"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    lines = [orjson.loads(line)["msg"] for line in capsys.readouterr().err.splitlines()]
    assert lines == ["something else", "killmail 2 stored"]
