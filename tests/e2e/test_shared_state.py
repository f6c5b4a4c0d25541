"""Two workspaces sharing a Postgres state backend: one that configures a model already managed
by another workspace *on the same platform* is refused, naming that workspace (AD509); the same
model on another platform is no conflict. Needs PostgreSQL (ADAPTIVE_DEPLOY_TEST_PG_DSN,
default 127.0.0.1:5432): skipped when unreachable, a failure under CI."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import base_config, remote_env, run_cli, write_workspace
from tests.fixtures.emulator import EmulatorServer
from tests.state.test_postgres import _cleanup, pg_dsn  # noqa: F401  (fixture)

pytestmark = pytest.mark.postgres

DSN_ENV = "ADAPTIVE_DEPLOY_STATE_DSN"


def _config(name: str, kv: int) -> dict[str, Any]:
    return base_config(
        name, state={"backend": "postgres", "dsn_env": DSN_ENV},
        models={"qwen-3-8b": {"compute_config": {"kv_cache_len": kv}}},
    )


def test_a_model_managed_by_another_workspace_on_the_same_platform_is_refused(
    pg_dsn: str, emulator: EmulatorServer, tmp_path: Path  # noqa: F811
) -> None:
    suffix = uuid.uuid4().hex[:8]
    alpha, beta, other = f"alpha-{suffix}", f"beta-{suffix}", f"other-{suffix}"
    env = {**remote_env(emulator), DSN_ENV: pg_dsn}
    try:
        a = write_workspace(tmp_path / "alpha", _config(alpha, 100000))
        applied = run_cli("apply", str(a), "--auto-approve", env=env)
        assert applied.code == 0, applied.text

        b = write_workspace(tmp_path / "beta", _config(beta, 120000))
        plan = run_cli("plan", str(b), env=env)
        assert plan.code == 1, plan.text       # AD509: a plan that cannot be applied
        assert (f"error[AD509]: model.qwen-3-8b: workspace '{alpha}' already manages its "
                "compute config on this platform") in plan.out
        assert "This plan cannot be applied" in plan.out
        refused = run_cli("apply", str(b), "--auto-approve", env=env)
        assert refused.code == 1
        kv = emulator.data('{ model(idOrKey: "qwen-3-8b") { computeConfig { kvCacheLen } } }')
        assert kv["model"]["computeConfig"]["kvCacheLen"] == 100000, "alpha's value stands"

        # The same model on another platform (this directory's embedded one) is no conflict.
        c = write_workspace(tmp_path / "other", _config(other, 120000))
        elsewhere = run_cli("plan", str(c), env={DSN_ENV: pg_dsn})
        assert elsewhere.code == 0, elsewhere.text
        assert "AD509" not in elsewhere.out

        # Once alpha lets go of it (removed from its configuration), beta may manage it.
        write_workspace(a, base_config(alpha, state={"backend": "postgres",
                                                     "dsn_env": DSN_ENV}))
        assert run_cli("apply", str(a), "--auto-approve", env=env).code == 0
        assert run_cli("apply", str(b), "--auto-approve", env=env).code == 0
    finally:
        _cleanup([alpha, beta, other])
