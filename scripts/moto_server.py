"""moto's server, handling one request at a time.

DynamoDB makes every request atomic: a conditional write or a TransactWriteItems is
checked and applied as one step. moto does not under concurrent requests: it checks a
transaction's conditions and applies its writes one by one, and undoes a failed one by
restoring a copy of the whole table taken when it began, which also undoes whatever other
requests wrote meanwhile. One lock around each request gives moto DynamoDB's atomicity,
so the concurrency tests test our code, not moto's races. Connections stay threaded.

Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT (the same options as moto_server).
"""

import threading

import moto.server as server

_lock = threading.Lock()


class OneRequestAtATime(server.DomainDispatcherApplication):
    def __call__(self, environ, start_response):
        with _lock:
            return list(super().__call__(environ, start_response))


server.DomainDispatcherApplication = OneRequestAtATime

if __name__ == "__main__":
    server.main()
