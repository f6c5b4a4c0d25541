"""The contract is derived mechanically from the official SDK, and what is committed is what the
derivation produces from the installed SDK."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import parse, validate
from graphql.pyutils import Undefined

from tests.contract.checker import (
    CONTRACT_SDL,
    SDK_VERSION,
    contract_schema,
    sdk_document,
    sdk_operations,
)
from tools import derive_contract


@pytest.mark.sdk
def test_regenerating_from_the_installed_sdk_reproduces_the_committed_contract(
    sdk_package: Path,
) -> None:
    sdk = derive_contract.read_sdk(sdk_package)
    assert sdk.version == SDK_VERSION
    generated = derive_contract.contract_files(derive_contract.derive(sdk))
    committed = derive_contract.committed_files(derive_contract.CONTRACT_DIR, sdk.version)
    differences = list(derive_contract._iter_diff(generated, committed))
    assert differences == [], (
        "the committed contract differs from the SDK's; regenerate it with "
        "`.venv-sdk/bin/python tools/derive_contract.py`: " + "; ".join(differences)
    )


def test_the_contract_names_its_sdk_version() -> None:
    head = CONTRACT_SDL.read_text(encoding="utf-8").splitlines()[0]
    assert f"adaptive-sdk {SDK_VERSION}" in head


def test_all_sdk_documents_are_extracted() -> None:
    operations = sdk_operations()
    # ariadne-codegen generated one client method per operation: 77 in 0.14.2.
    assert len(operations) == 77
    for area in ("models", "projects", "compute pools", "jobs", "me", "roles"):
        assert any(op["area"] == area for op in operations.values()), area


@pytest.mark.parametrize(
    "name", sorted(n for n, op in sdk_operations().items() if op["area"]),
)
def test_in_scope_sdk_documents_validate_against_the_contract(name: str) -> None:
    errors = validate(contract_schema(), parse(sdk_document(name)))
    assert errors == [], [e.message for e in errors]


def test_facts_the_sdk_proves() -> None:
    """A few facts read off the SDK by hand, to catch a derivation that drifts."""
    schema = contract_schema()
    query = schema.query_type
    assert query is not None
    assert str(query.fields["models"].args["filter"].type) == "ModelFilter!"
    assert query.fields["models"].args["filter"].default_value is Undefined   # no proven default
    jobs = query.fields["jobs"].args
    assert str(jobs["filter"].type) == "ListJobsFilterInput!"
    assert jobs["filter"].default_value is not Undefined                    # ListJobs proves one
    assert jobs["page"].default_value is Undefined
    common = schema.get_type("JobDetailsCommon")
    assert set(common.fields) == {"computePoolId", "numGpus", "gpuDurationMs"}  # type: ignore[union-attr]
    byproducts = schema.get_type("ArtifactByproducts")
    assert "ModelByproducts" in {t.name for t in byproducts.types}  # type: ignore[union-attr]
    compute = schema.get_type("ModelComputeConfigOutput")
    assert {n: str(f.type) for n, f in compute.fields.items()} == {  # type: ignore[union-attr]
        "tp": "IntScalar!", "kvCacheLen": "IntScalar!", "maxSeqLen": "IntScalar!"}
    deploy = schema.get_type("DeployModelInput")
    assert str(deploy.fields["wait"].type) == "BoolScalar!"  # type: ignore[union-attr]
    assert deploy.fields["wait"].default_value is False  # type: ignore[union-attr]
    job_input = schema.get_type("JobInput")
    assert str(job_input.fields["numGpus"].type) == "IntScalar!"  # type: ignore[union-attr]
