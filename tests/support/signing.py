"""Requests signed as boto3 signs them (SigV4), for tests that need to shape the request themselves."""

from __future__ import annotations

import urllib.request
from datetime import datetime
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def signed_request(
    method: str,
    url: str,
    body: bytes,
    credentials: tuple[str, str],
    service: str,
    *,
    headers: dict[str, str] | None = None,
    at: datetime | None = None,
) -> urllib.request.Request:
    """A urllib request for `url`, signed with `credentials` (key id, secret) for `service`, as
    botocore signs at `at` (default: now).

    The headers are signed as given, with `Host` from the URL, as urllib will send it; what urllib
    adds besides is not signed, as botocore leaves it unsigned too.
    """
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    signer = SigV4Auth(Credentials(*credentials), service, "us-east-1")
    if at is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=at):
            signer.add_auth(request)
    return urllib.request.Request(
        url, data=body or None, headers=dict(request.headers.items()), method=method
    )
