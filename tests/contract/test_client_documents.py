"""Every document the client can send validates against the SDK-derived contract."""

from __future__ import annotations

import pytest
from graphql import parse, validate

from adaptive_deploy.client import documents
from tests.contract.checker import contract_schema


@pytest.mark.parametrize("name", sorted(documents.load()))
def test_client_document_validates_against_the_contract(name: str) -> None:
    errors = validate(contract_schema(), parse(documents.document(name)))
    assert errors == [], f"{name}: {[e.message for e in errors]}"


def test_the_check_is_not_vacuous() -> None:
    """Documents the first client sent are refused: jobs selected `commonDetails { computePool }`
    and models were read without their required filter."""
    old_job = "{ job(id: \"00000000-0000-0000-0000-000000000000\") { commonDetails { computePool } } }"
    assert validate(contract_schema(), parse(old_job))
    assert validate(contract_schema(), parse("{ models { key } }"))
