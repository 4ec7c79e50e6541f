"""project/log_filters.py: asyncio's report of an unclosed model client is dropped."""

import logging


def test_unclosed_aiohttp_sessions_are_not_reported_and_other_asyncio_errors_are(caplog):
    logger = logging.getLogger("asyncio")
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        logger.error("Unclosed client session\nclient_session: <ClientSession>")
        logger.error("Unclosed connector\nconnections: []")
        logger.error("Task exception was never retrieved")

    assert [r.getMessage() for r in caplog.records] == ["Task exception was never retrieved"]
