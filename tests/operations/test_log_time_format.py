"""The text log format's cached timestamp must print exactly what logging's own formatter prints."""

from __future__ import annotations

import logging

from twostep.logs import TextFormatter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def record_at(created: float) -> logging.LogRecord:
    record = logging.LogRecord("twostep.test", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    return record


def test_text_log_lines_match_the_standard_formatter_within_and_across_seconds() -> None:
    cached, standard = TextFormatter(), logging.Formatter(FORMAT)
    for created in (1_795_000_000.001, 1_795_000_000.5, 1_795_000_000.999, 1_795_000_001.0, 1_795_000_060.25,
                    1_795_000_000.75):
        record = record_at(created)
        assert cached.format(record) == standard.format(record)
