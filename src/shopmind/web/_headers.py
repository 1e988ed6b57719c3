"""Headers on every dashboard answer: its pages and exports hold personal data, so no cache
keeps them (``no-store``), no browser guesses another type for them (``nosniff``) and no other
site frames them (clickjacking: ``frame-ancestors 'none'`` and, for older browsers,
``X-Frame-Options``). Its static files keep their long cache and get ``nosniff`` only.

A plain ASGI middleware: the collection API's requests pass by with one prefix test."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PRIVATE = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
STATIC = {"X-Content-Type-Options": "nosniff"}


class DashboardHeaders:
    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        extra = STATIC if path.startswith(self.prefix + "/static/") else PRIVATE

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
