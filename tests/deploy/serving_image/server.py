"""A minimal stand-in model server for deploy tests: /health /ready /metadata /predict.

Its "model" is a fixed logistic formula, so the tests can record expected predictions without
training. MODEL_BIAS shifts the probabilities, which makes a smoke test fail on purpose.
"""

import json
import math
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("MODEL_VERSION", "0")
NAME = os.environ.get("MODEL_NAME", "model")
BIAS = float(os.environ.get("MODEL_BIAS", "0"))
STARTED = time.monotonic()
READY_AFTER = float(os.environ.get("READY_AFTER", "0.5"))


def probability(row, bias=0.0):
    z = 0.05 * (float(row["monthly_charges"]) - 60) - 0.04 * (float(row["tenure_months"]) - 24)
    return 1 / (1 + math.exp(-(z + bias)))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            self._send(200, {"status": "ok"})
        elif self.path == "/ready":
            ready = time.monotonic() - STARTED >= READY_AFTER
            self._send(200 if ready else 503, {"ready": ready})
        elif self.path == "/metadata":
            self._send(200, {"model": {"name": NAME, "version": VERSION}})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/predict":
            self._send(404, {"error": "not found"})
            return
        rows = json.loads(body)["records"]
        probs = [probability(r, BIAS) for r in rows]
        self._send(
            200,
            {
                "predictions": [int(p >= 0.5) for p in probs],
                "probabilities": probs,
                "version": VERSION,
            },
        )


def main():
    server = ThreadingHTTPServer(("0.0.0.0", 8000), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
