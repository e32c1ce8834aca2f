"""A dsn's password kept in AWS Secrets Manager, never in the function's environment.

The CDK construct sets `DSN_URL` without the password and `DSN_PASSWORD_SECRET_ARN` to the secret
holding it: either the password itself, or a JSON object with a `password` key (the shape RDS and
ElastiCache generated secrets take). It is read once, when the Adapter is built.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from asgiway.backends.dsn import Dsn
from asgiway.exceptions import ConfigurationError
from asgiway.log_redaction import protect


def with_password(dsn: str, password: str) -> str:
    """`dsn` with `password` in its user info (percent-encoded); the dsn must not already hold one."""
    scheme, separator, rest = dsn.partition("://")
    if not separator:
        raise ConfigurationError("DSN_URL must be a URL such as postgresql://user@host/db")
    end = next((index for index, char in enumerate(rest) if char in "/?#"), len(rest))
    authority, tail = rest[:end], rest[end:]
    user, at, hosts = authority.rpartition("@")
    if not at:
        user, hosts = "", authority
    if ":" in user:
        raise ConfigurationError("DSN_URL already holds a password; keep it only in the secret")
    combined = f"{scheme}://{user}:{quote(password, safe='')}@{hosts}{tail}"
    Dsn.parse(combined)  # a bad combination fails here, naming the part but never the password
    return combined


def password_from_secret(secret_arn: str) -> str:
    """The password a Secrets Manager secret holds (its text, or the `password` of its JSON)."""
    import boto3

    try:
        # botocore's DEBUG records would print the response, the secret's value included.
        client = protect(boto3.session.Session().client("secretsmanager"))
        text = client.get_secret_value(SecretId=secret_arn)["SecretString"]
    except Exception as exc:
        raise ConfigurationError(
            f"Cannot read the dsn's password from {secret_arn} (does the role allow "
            f"secretsmanager:GetSecretValue?): {type(exc).__name__}"
        ) from None
    try:
        document = json.loads(text)
    except ValueError:
        return str(text)
    if isinstance(document, dict) and isinstance(document.get("password"), str):
        return str(document["password"])
    return str(text)
