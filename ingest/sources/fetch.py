"""HTTP for the web source: one polite, bounded GET at a time.

- politeness: a pause of `delay_s` (or the host's robots.txt Crawl-delay, when larger) between the
  end of one request to a host and the start of the next;
- robots.txt: fetched once per host per crawl; 401/403 → nothing allowed; other 4xx → all allowed;
  unreachable or 5xx → all allowed, with a warning in the log;
- limits: `timeout_s` per request, `max_bytes` per response (read as a stream, stopped past the limit);
- redirects are not followed here: the crawler follows them, so it sees each hop.
"""

from __future__ import annotations

import logging
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Response:
    url: str
    status: int = 0
    headers: httpx.Headers | None = None
    body: bytes | None = None
    """Only for a 200 that `want` accepted."""
    error: str | None = None
    """Why there is no response (timeout, connection, too large)."""

    def header(self, name: str) -> str | None:
        return self.headers.get(name) if self.headers is not None else None


class Http:
    def __init__(self, *, user_agent: str, timeout_s: float, max_bytes: int, delay_s: float) -> None:
        self.user_agent = user_agent
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.delay_s = delay_s
        self._client = httpx.Client(headers={"User-Agent": user_agent}, timeout=timeout_s,
                                    follow_redirects=False)
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self._last: dict[str, float] = {}
        self.requests = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def allowed(self, url: str) -> bool:
        """Whether the host's robots.txt lets this crawler fetch `url`."""
        return self._robots_of(url).can_fetch(self.user_agent, url)

    def get(self, url: str, headers: dict[str, str] | None = None,
            want: Callable[[httpx.Headers], bool] = lambda h: True) -> Response:
        """GET without following redirects. The body is read only for a 200 whose headers `want`
        accepts, and only up to `max_bytes`."""
        self._wait(url)
        started = time.monotonic()
        try:
            with self._client.stream("GET", url, headers=headers or {}) as response:
                if response.status_code != 200 or not want(response.headers):
                    return Response(url, response.status_code, response.headers)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    return Response(url, 200, response.headers, error=self._too_large(int(declared)))
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        return Response(url, 200, response.headers, error=self._too_large(size))
                    if time.monotonic() - started > self.timeout_s * 6:
                        return Response(url, 200, response.headers,
                                        error=f"download took longer than {self.timeout_s * 6:g} s")
                    chunks.append(chunk)
                return Response(url, 200, response.headers, b"".join(chunks))
        except httpx.TimeoutException:
            return Response(url, error=f"no answer within {self.timeout_s:g} s (timeout)")
        except httpx.ConnectError as exc:
            return Response(url, error=f"cannot connect to {urlsplit(url).netloc}: {exc}")
        except httpx.HTTPError as exc:
            return Response(url, error=f"request failed: {type(exc).__name__}: {str(exc)[:200]}")
        finally:
            self._last[urlsplit(url).netloc] = time.monotonic()
            self.requests += 1

    def _too_large(self, size: int) -> str:
        return f"larger than the limit of {self.max_bytes} bytes ({size}+ bytes)"

    def _wait(self, url: str) -> None:
        host = urlsplit(url).netloc
        last = self._last.get(host)
        if last is None:
            return
        robots = self._robots.get(host)
        crawl_delay = robots.crawl_delay(self.user_agent) if robots is not None else None
        pause = max(self.delay_s, float(crawl_delay or 0)) - (time.monotonic() - last)
        if pause > 0:
            time.sleep(pause)

    def _robots_of(self, url: str) -> urllib.robotparser.RobotFileParser:
        parts = urlsplit(url)
        robots = self._robots.get(parts.netloc)
        if robots is not None:
            return robots
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        robots = urllib.robotparser.RobotFileParser(robots_url)
        self._robots[parts.netloc] = robots
        response = self.get(robots_url, want=lambda h: True)
        if response.status == 200 and response.body is not None:
            robots.parse(response.body.decode("utf-8", errors="replace").splitlines())
        elif response.status in (401, 403):
            robots.disallow_all = True
            robots.modified()
        else:
            if response.error or response.status >= 500:
                log.warning("robots.txt unreachable; crawling as if it allowed everything",
                            extra={"ctx": {"url": robots_url, "reason": response.error or response.status}})
            robots.parse([])
        return robots
