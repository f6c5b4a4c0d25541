"""The emulator's SDL agrees with the SDK-derived contract on everything the SDK proves."""

from __future__ import annotations

from importlib import resources

import pytest
from graphql import build_schema

from adaptive_deploy.emulator.app import load_schema
from tests.contract.agreement import disagreements, extra_types
from tests.contract.checker import contract_schema


def _emulator_sdl() -> str:
    return (resources.files("adaptive_deploy.emulator") / "schema.graphql").read_text("utf-8")


def test_emulator_agrees_with_the_contract() -> None:
    assert disagreements(contract_schema(), load_schema()) == []


def test_emulator_has_no_types_of_its_own() -> None:
    # Anything the emulator adds must be declared in refinements.graphql's emulator-only part;
    # today it needs none.
    assert extra_types(contract_schema(), load_schema()) == set()


@pytest.mark.parametrize(("old", "new", "expected"), [
    # a nullable argument the real server makes non-null (the emulator then accepts null)
    ("filter: ListJobsFilterInput! = {}", "filter: ListJobsFilterInput",
     "Query.jobs(filter): type ListJobsFilterInput, the contract proves ListJobsFilterInput!"),
    # a default the real server is not proven to have
    ("jobs(page: CursorPageInput!", "jobs(page: CursorPageInput! = {}",
     "Query.jobs(page): has a default the real server does not have"),
    ("models(filter: ModelFilter!)", "models(filter: ModelFilter! = {})",
     "Query.models(filter): has a default the real server does not have"),
    # the old emulator's JobDetailsCommon
    ("  computePoolId: AnyScalar\n", "  computePool: StrScalar\n",
     "JobDetailsCommon.computePool is not in the contract"),
    # nullability the SDK proves
    ("type ModelComputeConfigOutput {\n  tp: IntScalar!", "type ModelComputeConfigOutput {\n  tp: IntScalar",
     "ModelComputeConfigOutput.tp: type IntScalar, the contract proves IntScalar!"),
    # an input field the real server does not have
    ("input SpeculativeDecodingInput {\n", "input SpeculativeDecodingInput {\n  acceptanceRate: FloatScalar\n",
     "SpeculativeDecodingInput.acceptanceRate is not in the contract (the real server rejects it)"),
    # an enum value set that differs
    ("enum JobStatus {\n  PENDING\n", "enum JobStatus {\n",
     "enum JobStatus: values"),
    # a placeholder scalar replaced by one the SDK would read differently
    ("type ModelBindingFailure {\n  model: StrScalar!", "type ModelBindingFailure {\n  model: Int!",
     "ModelBindingFailure.model: type Int!, the contract proves StrScalar!"),
    # the real type names
    ("deployModel(input: DeployModelInput!): DeployModelResult!",
     "deployModel(input: DeployModelInput!): DeployModelOutput!\n}\ntype DeployModelOutput {\n"
     "  modelService: ModelService!\n  warnings: [String!]!",
     "Mutation.deployModel: type DeployModelOutput!, the contract proves DeployModelResult!"),
])
def test_a_disagreement_is_found(old: str, new: str, expected: str) -> None:
    sdl = _emulator_sdl()
    assert old in sdl, old
    bad = build_schema(sdl.replace(old, new, 1))
    found = disagreements(contract_schema(), bad)
    assert any(expected in d for d in found), found


def test_compatible_scalar_names_are_accepted() -> None:
    """Where the contract does not prove a scalar's name, any scalar the SDK would read as the
    same Python type agrees: String or a custom scalar for StrScalar, not Int or UUID."""
    sdl = _emulator_sdl()
    for name in ("String", "Key"):
        ok = sdl.replace("type ModelBindingFailure {\n  model: StrScalar!",
                         f"type ModelBindingFailure {{\n  model: {name}!") + "\nscalar Key\n"
        assert disagreements(contract_schema(), build_schema(ok)) == []
    wrong = sdl.replace("type ModelBindingFailure {\n  model: StrScalar!",
                        "type ModelBindingFailure {\n  model: UUID!")
    assert disagreements(contract_schema(), build_schema(wrong)) != []
