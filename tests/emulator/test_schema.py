"""The SDL builds and accepts the official SDK's documents unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLInputObjectType, GraphQLObjectType, parse, validate

from adaptive_deploy.emulator.app import load_schema

SDK_OPERATIONS = sorted((Path(__file__).parent / "sdk_operations").glob("*.graphql"))


def test_sdk_documents_are_present() -> None:
    names = {p.stem for p in SDK_OPERATIONS}
    assert {"list_models", "deploy_model", "update_model", "create_job", "describe_project",
            "list_compute_pools", "terminate_model"} <= names


@pytest.mark.parametrize("path", SDK_OPERATIONS, ids=lambda p: p.stem)
def test_sdk_document_validates(path: Path) -> None:
    errors = validate(load_schema(), parse(path.read_text()))
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
    errors = validate(load_schema(), parse("{ models { key numDraftSteps } }"))
    assert errors and "numDraftSteps" in errors[0].message
