"""The emergency command centre's webhook: one signed HTTP POST per try (httpx).

A 2xx answer acknowledges; its JSON ``ack`` (or ``id``) is the centre's reference. Every
other answer, a timeout or a connection error is a failure the relay retries.
"""

from __future__ import annotations

import httpx

from gateway.core.handoff import Answer


class WebhookPoster:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)

    def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Answer(False, error=f"{type(exc).__name__}: {exc}"[:500])
        if not 200 <= response.status_code < 300:
            return Answer(False, error=f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            data = response.json()
        except ValueError:
            data = {}
        ref = data.get("ack") or data.get("id") if isinstance(data, dict) else None
        return Answer(True, ack_ref=str(ref) if ref is not None else None)

    def close(self) -> None:
        self._client.close()
