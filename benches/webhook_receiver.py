#!/usr/bin/env python3
"""A webhook receiver that answers every POST at once (204), for
benches/webhooks.sh: HTTP/1.1 with keep-alive on one asyncio loop, no
signature check (the worker's cost is what is measured, not ours).

    webhook_receiver.py PORT_FILE

Binds 127.0.0.1 on a free port and writes it to PORT_FILE. `GET /count`
answers how many deliveries it has accepted so far.
"""
import asyncio
import sys

accepted = 0


class Receiver(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        global accepted
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < head_end + 4 + length:
                return
            self.buffer = self.buffer[head_end + 4 + length:]
            if head.startswith("GET /count"):
                body = str(accepted).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
            else:
                accepted += 1
                self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")


async def main(port_file):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", 0)
    with open(port_file, "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
