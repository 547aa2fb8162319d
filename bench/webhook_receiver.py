#!/usr/bin/env python3
"""A webhook receiver for the benchmark: HTTP/1.1 keep-alive on asyncio, answers 204 at
once, and records for each request its arrival time and its event's timestamp.

    python3 bench/webhook_receiver.py      # prints "port N", then serves until SIGTERM

On SIGTERM it writes one JSON line to stdout: {"count", "latencies_ms"} (arrival minus
the event's timestamp, per request).
"""

import asyncio
import datetime
import json
import re
import signal
import sys
import time

TIMESTAMP = re.compile(rb'"timestamp":"([^"]+)"')
arrivals = []


class Receiver(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            m = re.search(rb"content-length:\s*(\d+)", head)
            length = int(m.group(1)) if m else 0
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            body, self.buffer = self.buffer[head_end + 4:end], self.buffer[end:]
            now_ms = time.time() * 1000
            t = TIMESTAMP.search(body)
            if t:
                at = datetime.datetime.fromisoformat(t.group(1).decode().replace("Z", "+00:00"))
                arrivals.append(now_ms - at.timestamp() * 1000)
            self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", 0)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    await stop
    print(json.dumps({"count": len(arrivals), "latencies_ms": arrivals}), flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
