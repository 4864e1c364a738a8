"""A webhook receiver for trying Kassa's webhooks on your own machine (docs/test-mode.md).

    .venv/bin/python scripts/webhook_receiver.py --port 9000 --secret whsec_...

Listens on 127.0.0.1, checks each delivery's Standard Webhooks signature with the endpoint's
secret (when given), prints the event and answers 200 (401 when the signature is wrong, so
Kassa retries). Kassa must allow webhook URLs on this machine: `./dev run` and
`kassa serve --dev` do, or set KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def handler_for(secret: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            verdict = "signature not checked (no --secret)"
            status = 200
            if secret:
                try:
                    Webhook(secret).verify(body, headers)
                    verdict = "signature valid"
                except WebhookVerificationError as exc:
                    verdict, status = f"signature INVALID ({exc})", 401
            try:
                event: Any = json.loads(body)
            except ValueError:
                say(f"POST {self.path}: {len(body)} bytes that are not JSON; {verdict}")
            else:
                say(f"POST {self.path}: {event.get('type')} {event.get('id')}; {verdict}")
                say(json.dumps(event, indent=2, ensure_ascii=False))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", help="the endpoint's whsec_... secret, to check signatures")
    args = parser.parse_args()
    server = HTTPServer(("127.0.0.1", args.port), handler_for(args.secret))
    say(f"Listening on http://127.0.0.1:{args.port}/ (Ctrl-C stops)")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
