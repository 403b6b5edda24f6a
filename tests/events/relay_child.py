"""A relay process that stalls mid-batch: it publishes ``hang_after`` events, says so, and hangs
before marking them, so a test can SIGKILL it exactly there.

Usage: ``python -m tests.events.relay_child DATABASE_URL NATS_URL HANG_AFTER``
"""

from __future__ import annotations

import asyncio
import sys

from etl_orchestrator.events.relay import OutboxEvent, OutboxRelay


class StallingRelay(OutboxRelay):
    def __init__(self, *args, hang_after: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hang_after = hang_after
        self.sent = 0

    async def _publish(self, event: OutboxEvent) -> bool:
        duplicate = await super()._publish(event)
        self.sent += 1
        if self.sent == self.hang_after:
            print(f"published {self.sent}", flush=True)
            await asyncio.sleep(3600)
        return duplicate


async def main(database_url: str, nats_url: str, hang_after: str) -> None:
    await StallingRelay(database_url, nats_url, hang_after=int(hang_after)).publish_pending()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
