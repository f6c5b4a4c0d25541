"""The plain progress view (cli/progress.py): what a user reads while apply runs."""

from __future__ import annotations

import io

from adaptive_deploy.cli.progress import PlainHooks


def test_platform_warnings_are_shown() -> None:
    out = io.StringIO()
    hooks = PlainHooks(out)
    hooks.warning("deployment.support/qwen-3-8b", "model qwen-3-8b was already deployed")
    assert out.getvalue() == ("deployment.support/qwen-3-8b: Warning from the platform: "
                              "model qwen-3-8b was already deployed\n")


def test_job_progress_names_the_produced_model_and_no_acceptance_rate() -> None:
    """The platform reports a draft's acceptance rate per inference request, not on the job:
    the job's progress shows what the job exposes."""
    out = io.StringIO()
    hooks = PlainHooks(out)
    hooks.progress("job.train", "run", "COMPLETED 100%", 1.0,
                   {"output_model": "qwen-3-8b_accelerated", "acceptance_rate": 0.7})
    assert out.getvalue() == "job.train: COMPLETED 100% (produced model qwen-3-8b_accelerated)\n"
