"""The emulator's SDL: generated from the SDK-derived contract, and it accepts the official SDK's
documents (extracted mechanically into contract/adaptive-sdk-<version>/documents/)."""

from __future__ import annotations

import pytest
from graphql import GraphQLInputObjectType, GraphQLObjectType, parse, validate

from adaptive_deploy.emulator.app import load_schema
from tests.contract.checker import sdk_document, sdk_operations
from tools import emulator_sdl

IN_SCOPE = sorted(n for n, op in sdk_operations().items() if op["area"])


def test_schema_is_generated_from_the_contract() -> None:
    """schema.graphql is what tools/emulator_sdl.py writes from the contract and
    refinements.graphql (run it after changing either)."""
    expected = emulator_sdl.generate(emulator_sdl.CONTRACT.read_text(encoding="utf-8"),
                                     emulator_sdl.REFINEMENTS.read_text(encoding="utf-8"))
    assert emulator_sdl.SCHEMA.read_text(encoding="utf-8") == expected, (
        "schema.graphql is stale: run `python tools/emulator_sdl.py`")


def test_sdk_documents_of_every_area_are_in_scope() -> None:
    assert {"ListModels", "DeployModel", "UpdateModel", "CreateJob", "DescribeProject",
            "ListComputePools", "TerminateModel", "Me", "ListRoles"} <= set(IN_SCOPE)


@pytest.mark.parametrize("name", IN_SCOPE)
def test_sdk_document_validates(name: str) -> None:
    errors = validate(load_schema(), parse(sdk_document(name)))
    assert errors == []


def test_num_draft_steps_is_write_only() -> None:
    schema = load_schema()
    spec = schema.get_type("SpeculativeDecodingInput")
    assert isinstance(spec, GraphQLInputObjectType)
    assert "numDraftSteps" in spec.fields
    for name, gtype in schema.type_map.items():
        if isinstance(gtype, GraphQLObjectType) and not name.startswith("__"):
            assert not any("draftstep" in f.lower() for f in gtype.fields), name


def test_invalid_document_is_rejected() -> None:
    errors = validate(load_schema(), parse("{ models(filter: {}) { key numDraftSteps } }"))
    assert errors and "numDraftSteps" in errors[0].message


def test_models_needs_a_filter() -> None:
    """No server default is proven for Query.models(filter:): leaving it out is invalid."""
    errors = validate(load_schema(), parse("{ models { key } }"))
    assert errors and "filter" in errors[0].message
