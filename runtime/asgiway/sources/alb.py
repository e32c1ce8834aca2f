"""Application Load Balancer events, with or without multi-value headers.

Facts from the ALB's Lambda target documentation this module relies on:
- the event has `requestContext.elb` and no source IP: the client is the last address in
  `X-Forwarded-For`, the one the load balancer appended (earlier ones are client-supplied);
- query parameters are passed on still percent-encoded, and the path is not decoded either;
- with the target group's multi-value headers setting on, the event carries `multiValueHeaders`
  and `multiValueQueryStringParameters`, and the response must use `multiValueHeaders`;
  with it off, `headers` and `queryStringParameters`, and the response must use `headers`;
- the response carries a `statusDescription` such as "200 OK".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from http import HTTPStatus

from asgiway.sources import is_alb_event
from asgiway.sources.base import HTTPSource
from asgiway.sources.common import (
    body_from,
    header_value,
    headers_from,
    http_scope,
    raw_query_string_from,
    request_path,
)
from asgiway.sources.response import ProxyResponse
from asgiway.types import (
    AdapterConfig,
    HTTPResponse,
    LambdaContext,
    LambdaEvent,
    LambdaResponse,
    Scope,
)

logger = logging.getLogger("asgiway")

#: How many cookies an ALB single-value response can carry: the spellings of "set-cookie".
MAX_SINGLE_VALUE_COOKIES = 2**9


def status_description(status: int) -> str:
    """The status line ALB sends, e.g. "200 OK" (just the code when it has no standard phrase)."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def case_variants(name: str) -> Iterator[str]:
    """Every spelling of `name` that differs only in letter case, all lowercase first.

    A name with n letters has 2**n of them ("set-cookie": 512).
    """
    letters = [index for index, char in enumerate(name) if char.isalpha()]
    for mask in range(2 ** len(letters)):
        chars = list(name.lower())
        for bit, index in enumerate(letters):
            if mask >> bit & 1:
                chars[index] = chars[index].upper()
        yield "".join(chars)


class ALB(HTTPSource):
    """A request forwarded by an Application Load Balancer to a Lambda target group."""

    #: An ALB waits for the function as long as its idle timeout allows, which is configurable.
    bounded_by_api_gateway = False

    @classmethod
    def infer(cls, event: LambdaEvent, context: LambdaContext | None, config: AdapterConfig) -> bool:
        return is_alb_event(event)

    @property
    def multi_value(self) -> bool:
        """Whether the target group sends (and so expects back) multi-value headers."""
        return "multiValueHeaders" in self.event

    @property
    def scope(self) -> Scope:
        headers = headers_from(self.event)
        forwarded_for = header_value(headers, b"x-forwarded-for") or ""
        return http_scope(
            self.event,
            self.context,
            method=self.event["httpMethod"],
            path=request_path(
                self.event.get("path"),
                encoded=True,
                base_path=self.config.api_gateway_base_path,
            ),
            query_string=raw_query_string_from(self.event),
            headers=headers,
            client_host=forwarded_for.rpartition(",")[2].strip() or None,
        )

    @property
    def body(self) -> bytes:
        return body_from(self.event)

    def __call__(self, response: HTTPResponse) -> LambdaResponse:
        proxy = ProxyResponse.from_response(response, self.config)
        shaped = {**proxy.fields(), "statusDescription": status_description(proxy.status_code)}
        if self.multi_value:
            return {**shaped, "multiValueHeaders": proxy.headers}
        return {**shaped, "headers": self._single_value_headers(proxy)}

    @staticmethod
    def _single_value_headers(proxy: ProxyResponse) -> dict[str, str]:
        """One value per key, without losing a cookie.

        Repeated headers are joined by ", ", which HTTP allows for every header but Set-Cookie.
        Cookies instead each get their own spelling of the name ("set-cookie", "Set-cookie",
        "sEt-cookie", ...): the keys are distinct in the JSON map, ALB passes each one on as a
        header line, and header names are case-insensitive, so the client sees one Set-Cookie
        header per cookie. The spellings bound the number of cookies.
        """
        headers = proxy.joined_headers()
        cookies = proxy.cookies
        if len(cookies) > MAX_SINGLE_VALUE_COOKIES:
            logger.warning(
                "An ALB response without multi-value headers holds at most %d cookies; %d dropped",
                MAX_SINGLE_VALUE_COOKIES,
                len(cookies) - MAX_SINGLE_VALUE_COOKIES,
            )
        for cookie, spelling in zip(cookies, case_variants("set-cookie"), strict=False):
            headers[spelling] = cookie
        return headers
