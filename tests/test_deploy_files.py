"""The files a council deploys with: Dockerfile, compose.yaml, deploy/haproxy.cfg.

No container engine is needed: the HAProxy configuration is checked by HAProxy itself
(``haproxy -c``), compose.yaml is read as YAML and held to what a council relies on
(migrations once before the replicas, two replicas and a worker, no secret written
down), and the Dockerfile to its promises (the slim Python base, a non-root user,
a health check, ``frontdoor serve``). ``deploy/container-smoke.sh`` (run by .ci/run)
builds and runs the image where an engine can run.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import replicas

ROOT = Path(__file__).resolve().parent.parent
HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
SECRETS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "POSTGRES_PASSWORD")


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


@pytest.mark.skipif(replicas.haproxy_binary() is None, reason="haproxy is not installed")
def test_haproxy_config_is_valid_and_names_the_compose_replicas() -> None:
    assert replicas.check_config(HAPROXY_CFG) == ""
    servers = re.findall(r"^\s*server\s+(\S+)\s+(\S+):3000\s", HAPROXY_CFG.read_text(), re.M)
    serving = {name for name, s in _compose()["services"].items()
               if "serve" in (s.get("command") or [])}
    assert {name for name, _ in servers} == serving and {h for _, h in servers} == serving
    assert "option httpchk GET /readyz" in HAPROXY_CFG.read_text()
    # The configuration the tests and the bench generate is valid too.
    generated = ROOT / "test-artifacts" / "haproxy-generated.cfg"
    generated.parent.mkdir(exist_ok=True)
    generated.write_text(replicas.haproxy_config(3000, {"r1": 3001, "r2": 3002}, 3003))
    assert replicas.check_config(generated) == ""


def test_compose_migrates_once_then_runs_replicas_a_worker_and_haproxy() -> None:
    services = _compose()["services"]
    assert {"postgres", "migrate", "worker", "haproxy"} <= set(services)
    migrate = services["migrate"]
    assert migrate["command"] == ["frontdoor", "db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    replicas_ = [s for s in services.values() if s.get("command", [])[:2] == ["frontdoor",
                                                                            "serve"]]
    assert len(replicas_) >= 2
    for s in [*replicas_, services["worker"]]:
        assert s["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert s["environment"]["DATABASE_URL"].startswith("postgresql://")
        assert "@postgres:5432/" in s["environment"]["DATABASE_URL"]
    assert services["worker"]["command"] == ["frontdoor", "worker"]
    assert "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in \
        services["haproxy"]["volumes"]
    # Secrets only ever come from the environment: each is "${NAME...}".
    for name, s in services.items():
        for key, value in (s.get("environment") or {}).items():
            for secret in SECRETS:
                if secret in str(value) or key == secret:
                    assert re.fullmatch(rf".*\$\{{{secret}(:[?-][^}}]*)?\}}.*", str(value)), \
                        (name, key)


def test_dockerfile_slim_base_non_root_healthcheck_serve_no_secrets() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE=python:3.11-slim" in text and "FROM ${BASE}" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'^HEALTHCHECK .*\n?.*healthcheck\.py', text, re.M)
    assert re.search(r'^CMD \["frontdoor", "serve"\]', text, re.M)
    for secret in SECRETS:
        assert not re.search(rf"^(ENV|ARG)\b.*{secret}", text, re.M), secret
    check = (ROOT / "deploy" / "healthcheck.py").read_text()
    assert '"/readyz"' in check and '"/healthz"' in check


def test_container_smoke_script_parses() -> None:
    script = ROOT / "deploy" / "container-smoke.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    assert "container-smoke.sh" in (ROOT / ".ci" / "run").read_text()
