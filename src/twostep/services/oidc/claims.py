"""Claims about a user for ID tokens and userinfo (OpenID Connect Core §5.1), by scope."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from twostep.services.core import accounts


class Person(Protocol):
    """A ``User`` row, or the token endpoint's lighter read of one (services.oidc.token_store)."""

    @property
    def id(self) -> int: ...
    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def legacy_username(self) -> str | None: ...
    @property
    def language(self) -> str | None: ...


def subject(user: Person) -> str:
    """``sub``: the account's number, stable for its life and never the (changeable) email."""
    return str(user.id)


def user_claims(
    db: Session, user: Person, scope: str, *, email_verified: bool | None, roles: list[str] | None = None
) -> dict[str, Any]:
    """``email_verified`` None leaves the claim out (the ID token takes it from the code instead);
    ``roles`` when the caller read them already."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": subject(user)}
    if "profile" in scopes:
        if user.name:
            claims["name"] = user.name
        claims["preferred_username"] = user.legacy_username or user.email
        if user.language:
            claims["locale"] = user.language
    if "email" in scopes:
        claims["email"] = user.email
        if email_verified is not None:
            claims["email_verified"] = email_verified
    if "groups" in scopes:
        claims["groups"] = roles if roles is not None else accounts.roles_of(db, user.id)
    return claims
