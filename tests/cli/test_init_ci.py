"""`prodloop init --ci github`: the two workflows, parsed and checked for what they run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from prodloop.cli.init import render_github_workflows
from tests.cli.conftest import run_cli

# A `run:` step may only install, build or test the project, or call prodloop.
ALLOWED_RUN = re.compile(
    r"^(prodloop |make test$|python -m pip install |python -m pip wheel --no-deps )"
)


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    # YAML 1.1 reads the bare key `on` as True; GitHub reads it as "on".
    data["on"] = data.pop(True)
    return data


def _runs(job: dict[str, Any]) -> list[str]:
    return [" ".join(step["run"].split()) for step in job["steps"] if "run" in step]


def _uses(job: dict[str, Any]) -> list[str]:
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


def _check_schema(workflow: dict[str, Any]) -> None:
    assert isinstance(workflow["name"], str)
    for name, job in workflow["jobs"].items():
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name)
        assert job["runs-on"] == "ubuntu-latest"
        assert job["steps"], name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            assert set(step) <= {"name", "uses", "run", "with", "env", "id", "if"}, step
            if "uses" in step:
                assert re.fullmatch(r"actions/[a-z-]+@v\d+", step["uses"])


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    result = run_cli("init", "--ci", "github", "--service", "chat", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "wrote .github/workflows/prod.yml" in result.stdout
    return root


def test_writes_both_workflows_and_the_config(repo: Path) -> None:
    names = sorted(p.name for p in (repo / ".github" / "workflows").iterdir())
    assert names == ["prod.yml", "rollback.yml"]
    assert (repo / "prodloop.yaml").exists()


def test_prod_runs_on_push_to_main(repo: Path) -> None:
    prod = _load(repo / ".github/workflows/prod.yml")
    _check_schema(prod)
    assert prod["on"] == {"push": {"branches": ["main"]}}
    assert prod["env"]["SERVICE"] == "chat"


def test_prod_jobs_chain_build_test_sign_deploy(repo: Path) -> None:
    jobs = _load(repo / ".github/workflows/prod.yml")["jobs"]
    assert list(jobs) == ["build", "test", "sign", "deploy"]
    assert "needs" not in jobs["build"]
    assert [jobs[name]["needs"] for name in ("test", "sign", "deploy")] == [
        "build",
        "test",
        "sign",
    ]


def test_every_run_step_is_install_build_test_or_prodloop(repo: Path) -> None:
    for name in ("prod.yml", "rollback.yml"):
        for job in _load(repo / ".github/workflows" / name)["jobs"].values():
            for command in _runs(job):
                assert ALLOWED_RUN.match(command), command
                assert "curl" not in command and "&&" not in command and ";" not in command


def test_build_and_test_jobs(repo: Path) -> None:
    jobs = _load(repo / ".github/workflows/prod.yml")["jobs"]
    assert _uses(jobs["build"]) == [
        "actions/checkout",
        "actions/setup-python",
        "actions/upload-artifact",
    ]
    assert _runs(jobs["build"]) == [
        "python -m pip install .",
        "python -m pip wheel --no-deps --wheel-dir dist .",
    ]
    assert _uses(jobs["test"]) == ["actions/checkout", "actions/setup-python"]
    assert _runs(jobs["test"]) == ["make test"]


def test_sign_job_signs_with_the_private_key_secret(repo: Path) -> None:
    sign = _load(repo / ".github/workflows/prod.yml")["jobs"]["sign"]
    step = next(s for s in sign["steps"] if s.get("run", "").startswith("prodloop artifact"))
    assert shlex.split(step["run"]) == [
        *("prodloop", "artifact", "sign", "dist/*"),
        *("--output", "artifact.sig"),
    ]
    assert step["env"] == {
        "PRODLOOP_SIGNING_PRIVATE_KEY": "${{ secrets.PRODLOOP_SIGNING_PRIVATE_KEY }}"
    }
    upload = sign["steps"][-1]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == "artifact.sig"


def test_deploy_job_deploys_a_canary_then_waits_for_its_verdict(repo: Path) -> None:
    deploy = _load(repo / ".github/workflows/prod.yml")["jobs"]["deploy"]
    assert deploy["concurrency"] == {"group": "prodloop-deploy-chat", "cancel-in-progress": False}
    assert deploy["env"]["PRODLOOP_DATABASE_URL"] == "${{ secrets.PRODLOOP_DATABASE_URL }}"
    assert deploy["env"]["PRODLOOP_SIGNING_PUBLIC_KEY"].startswith("${{ ")
    assert deploy["env"]["MERGED_AT"] == "${{ github.event.head_commit.timestamp }}"
    prodloop_runs = [shlex.split(c) for c in _runs(deploy) if c.startswith("prodloop ")]
    assert prodloop_runs == [
        [
            "prodloop",
            "deploy",
            "$SERVICE",
            "$GITHUB_SHA",
            "--upstream",
            "$UPSTREAM",
            "--artifact",
            "dist/*",
            "--signature",
            "$(cat artifact.sig)",
            "--git-sha",
            "$GITHUB_SHA",
            "--merged-at",
            "$MERGED_AT",
        ],
        ["prodloop", "rollout", "wait", "$SERVICE"],
    ]
    # The artifact and the signature come from the earlier jobs.
    downloads = [
        s["with"]["name"] for s in deploy["steps"] if "download-artifact" in s.get("uses", "")
    ]
    assert downloads == ["build", "signature"]


def test_rollback_is_a_manual_dispatch_with_a_service_input(repo: Path) -> None:
    rollback = _load(repo / ".github/workflows/rollback.yml")
    _check_schema(rollback)
    inputs = rollback["on"]["workflow_dispatch"]["inputs"]
    assert list(rollback["on"]) == ["workflow_dispatch"]
    assert inputs["service"]["required"] is True and inputs["service"]["default"] == "chat"
    # Its own group: a rollback never queues behind the rollout it stops.
    assert rollback["concurrency"]["group"] == "prodloop-rollback-${{ inputs.service }}"
    (job,) = rollback["jobs"].values()
    assert job["env"]["SERVICE"] == "${{ inputs.service }}"
    assert [shlex.split(c) for c in _runs(job) if c.startswith("prodloop ")] == [
        ["prodloop", "rollback", "$SERVICE"]
    ]


def test_refuses_to_overwrite_without_force(repo: Path) -> None:
    prod = repo / ".github/workflows/prod.yml"
    prod.write_text("# edited by hand\n")
    refused = run_cli("init", "--ci", "github", cwd=repo)
    assert refused.returncode == 2
    assert "already exist" in refused.stderr and "--force" in refused.stderr
    assert prod.read_text() == "# edited by hand\n"
    forced = run_cli("init", "--ci", "github", "--force", cwd=repo)
    assert forced.returncode == 0, forced.stderr
    assert "kept prodloop.yaml" in forced.stdout
    assert _load(prod)["name"] == "prod"


def test_options_fill_in_the_service_and_commands(tmp_path: Path) -> None:
    workflows = render_github_workflows(
        service="support bot: v2",
        test_command="pytest -q -k 'not slow' # fast",
        build_command="make dist",
    )
    for text in workflows.values():
        assert "__" not in text.replace("__init__", "")  # no placeholder left behind
    prod = yaml.safe_load(workflows["prod.yml"])
    assert prod["env"]["SERVICE"] == "support bot: v2"
    assert prod["jobs"]["deploy"]["concurrency"]["group"] == "prodloop-deploy-support bot: v2"
    assert _runs(prod["jobs"]["test"]) == ["pytest -q -k 'not slow' # fast"]
    assert _runs(prod["jobs"]["build"])[-1] == "make dist"
    rollback = yaml.safe_load(workflows["rollback.yml"])
    assert rollback[True]["workflow_dispatch"]["inputs"]["service"]["default"] == "support bot: v2"


def test_a_multi_line_command_is_refused(tmp_path: Path) -> None:
    result = run_cli(
        "init", "--ci", "github", "--test-command", "make test\nrm -rf /", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "--test-command" in result.stderr
    assert not (tmp_path / ".github").exists()
