"""Who may call a service: bcrypt basic auth (``basic_auth_users`` of the web config) and/or one
bearer token (``--web.bearer-token-file``). Either one suffices when both are configured."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from sru.http.errors import HTTPError
from sru.webconfig import _parse_basic as parse_basic  # one parser of "Authorization: Basic …"

__all__ = ["Authenticator", "bearer_token", "parse_basic"]

if TYPE_CHECKING:
    from sru.webconfig import BasicAuth

BEARER_CHALLENGE = 'Bearer realm="sru"'


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


class Authenticator:
    def __init__(self, basic_auth: BasicAuth | None = None, token: str | None = None) -> None:
        self.basic_auth = basic_auth
        self._token = token.encode() if token else None

    @property
    def required(self) -> bool:
        return self.basic_auth is not None or self._token is not None

    @property
    def challenge(self) -> str:
        return self.basic_auth.CHALLENGE if self.basic_auth is not None else BEARER_CHALLENGE

    def check(self, authorization: str | None) -> bool:
        if not self.required:
            return True
        presented = bearer_token(authorization)
        if presented is not None:
            return self._token is not None and hmac.compare_digest(presented.encode(), self._token)
        return self.basic_auth is not None and self.basic_auth.check(authorization)

    def require(self, authorization: str | None) -> None:
        if not self.check(authorization):
            raise HTTPError(401, "valid credentials required", [("WWW-Authenticate", self.challenge)])
