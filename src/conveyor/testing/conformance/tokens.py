"""Conformance: API tokens, stored by hash, per site."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from conveyor.backends.base import (
    ApiToken,
    Backend,
)
from conveyor.exceptions import DuplicateTokenError
from conveyor.testing.conformance.support import (
    NOW,
)


def api_token(name: str, site_id: str = "conformance", **changes: Any) -> ApiToken:
    """A web API token as stored, with a hash that differs per site and name."""
    token = ApiToken(
        name=name,
        hash=hashlib.sha256(f"{site_id}/{name}".encode()).hexdigest(),
        read_only=False,
        created_at=NOW,
        site_id=site_id,
    )
    return dataclasses.replace(token, **changes)


class TokenConformance:
    """Web API tokens: stored by hash, named uniquely per site, revocable."""

    def test_a_saved_token_is_found_by_its_hash_from_another_instance(
        self, backend: Backend, other_backend: Backend
    ) -> None:
        token = api_token("ci", read_only=True)
        backend.save_token(token)
        assert other_backend.find_token(token.hash) == token

    def test_an_unknown_hash_finds_nothing(self, backend: Backend) -> None:
        backend.save_token(api_token("ci"))
        assert backend.find_token(hashlib.sha256(b"guess").hexdigest()) is None

    def test_tokens_are_listed_per_site_by_name(self, backend: Backend) -> None:
        ops, ci, foreign = api_token("ops"), api_token("ci"), api_token("ci", site_id="elsewhere")
        for token in (ops, foreign, ci):
            backend.save_token(token)
        assert backend.tokens("conformance") == [ci, ops]
        assert backend.tokens("elsewhere") == [foreign]
        assert backend.tokens("nobody") == []

    def test_a_second_token_of_the_same_name_on_a_site_is_refused(self, backend: Backend) -> None:
        first = api_token("ci")
        backend.save_token(first)
        with pytest.raises(DuplicateTokenError, match="ci"):
            backend.save_token(api_token("ci", hash="0" * 64, read_only=True))
        assert backend.tokens("conformance") == [first]

    def test_revoking_removes_only_that_sites_token(self, backend: Backend) -> None:
        mine, foreign = api_token("ci"), api_token("ci", site_id="elsewhere")
        backend.save_token(mine)
        backend.save_token(foreign)
        assert backend.revoke_token("conformance", "ci") is True
        assert backend.find_token(mine.hash) is None
        assert backend.tokens("conformance") == []
        assert backend.find_token(foreign.hash) == foreign

    def test_revoking_an_unknown_name_reports_false(self, backend: Backend) -> None:
        assert backend.revoke_token("conformance", "nobody") is False

    def test_a_revoked_name_can_be_used_again(self, backend: Backend) -> None:
        backend.save_token(api_token("ci"))
        backend.revoke_token("conformance", "ci")
        again = api_token("ci", hash="1" * 64)
        backend.save_token(again)
        assert backend.tokens("conformance") == [again]
