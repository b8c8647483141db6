#!/usr/bin/env bash
# free-port.sh - print a free TCP port on 127.0.0.1 in the high range, so each test run gets its own.
exec python3 - <<'PY'
import random, socket
for _ in range(200):
    port = random.randint(20000, 60000)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
else:
    raise SystemExit("no free port found")
PY
