"""sessions_app.streaming's pieces that need no database (the turns themselves are tested
through the API in test_api_turns.py and with real processes in test_streaming_processes.py)."""

import asyncio

from sessions_app.streaming import TurnRun


def test_a_reader_wakes_when_the_reply_changes():
    async def scenario():
        changed = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, changed.set_result, None)
        return await TurnRun.wait(changed, 5.0), changed.done()

    assert asyncio.run(scenario()) == (True, True)


def test_a_reader_waits_no_longer_than_its_timeout():
    async def scenario():
        loop = asyncio.get_running_loop()
        changed = loop.create_future()
        started = loop.time()
        woke = await TurnRun.wait(changed, 0.02)
        return woke, loop.time() - started, changed.done()

    woke, waited, done = asyncio.run(scenario())
    assert (woke, done) == (False, False)
    assert 0.015 <= waited < 1.0


def test_a_reader_that_goes_away_leaves_the_reply_to_the_others():
    async def scenario():
        loop = asyncio.get_running_loop()
        changed = loop.create_future()
        gone = loop.create_task(TurnRun.wait(changed, 5.0))
        staying = loop.create_task(TurnRun.wait(changed, 5.0))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        changed.set_result(None)
        return gone.cancelled(), await staying, changed.cancelled()

    assert asyncio.run(scenario()) == (True, True, False)


def test_an_already_changed_reply_needs_no_wait():
    async def scenario():
        changed = asyncio.get_running_loop().create_future()
        changed.set_result(None)
        return await TurnRun.wait(changed, 0.0)

    assert asyncio.run(scenario()) is True
