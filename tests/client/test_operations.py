"""Every client operation document validates against the emulator's SDL (the platform subset)."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

import adaptive_deploy.emulator
from adaptive_deploy.client import documents

SDL = Path(adaptive_deploy.emulator.__file__).parent / "schema.graphql"


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(SDL.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(documents.load()))
def test_document_validates_against_sdl(schema: GraphQLSchema, name: str) -> None:
    errors = validate(schema, parse(documents.document(name)))
    assert errors == [], f"{name}: {[e.message for e in errors]}"


def test_every_operation_the_platform_needs_is_present() -> None:
    assert {
        "ReadLive", "ListJobs", "DescribeJob", "DescribeProject", "DescribeModelService",
        "UpdateModelComputeConfig", "AddModelsToProject", "RemoveModelFromProject",
        "DeployModel", "UpdateModel", "CreateProject", "UpdateProject", "CreateJob",
    } <= set(documents.load())


def test_fragments_are_appended_once_each() -> None:
    doc = documents.document("ReadLive")
    assert doc.count("fragment ModelFields on Model") == 1
    assert doc.count("fragment JobFields on Job") == 1
    # A document only carries the fragments it uses.
    assert "fragment JobFields" not in documents.document("DeployModel")


def test_documents_are_loaded_once() -> None:
    assert documents.load() is documents.load()
