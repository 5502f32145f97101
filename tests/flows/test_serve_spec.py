"""`callsync serve` runs the deployments of deployments/prefect.yaml: same names, parameters,
schedules and time zones, under flow names of its own so neither overwrites the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from flows.runtime.deploy import SERVED, build_deployments

PREFECT_YAML = Path(__file__).resolve().parents[2] / "deployments" / "prefect.yaml"


def _yaml_deployments(*, tenants: bool = False) -> dict[str, dict[str, Any]]:
    """The single-company set, or the tenants set (tag ``tenants``)."""
    spec = yaml.safe_load(PREFECT_YAML.read_text())
    return {d["name"]: d for d in spec["deployments"] if ("tenants" in d["tags"]) == tenants}


def _schedule(schedule: Any) -> dict[str, Any]:
    if getattr(schedule, "interval", None) is not None:
        return {"interval": schedule.interval.total_seconds()}
    return {"cron": schedule.cron, "timezone": schedule.timezone}


def test_serve_has_the_yaml_deployments_names_parameters_and_schedules() -> None:
    yaml_deps = _yaml_deployments()
    served = {d.name: d for d in build_deployments("/etc/callsync.toml")}
    assert set(served) == set(yaml_deps)
    for name, dep in yaml_deps.items():
        mine = served[name]
        params = {k: v for k, v in dep["parameters"].items() if k != "secret_blocks"}
        assert mine.parameters == {**params, "config": "/etc/callsync.toml"}
        assert [_schedule(s.schedule) for s in mine.schedules] == [
            {k: v for k, v in s.items() if k != "active"} for s in dep["schedules"]
        ]
        assert mine.description == dep["description"]
        assert set(dep["tags"]) <= set(mine.tags)
        assert mine.concurrency_limit == dep["concurrency_limit"]["limit"]
        assert mine.concurrency_options is not None
        assert (
            mine.concurrency_options.collision_strategy
            == (dep["concurrency_limit"]["collision_strategy"])
        )


def test_serve_has_the_yaml_tenant_deployments_and_their_dispatchers() -> None:
    yaml_deps = _yaml_deployments(tenants=True)
    served = {d.name: d for d in build_deployments(None, "/srv/tenants")}
    assert set(served) == set(yaml_deps)
    for name, dep in yaml_deps.items():
        mine = served[name]
        params = dict(dep["parameters"])
        if name.startswith("dispatch-"):
            # The dispatcher names the served deployment (flow callsync-serve-...).
            flow, _, deployment = params.pop("deployment").partition("/")
            assert mine.parameters.pop("deployment") == (
                f"callsync-serve-{flow.removeprefix('callsync-')}/{deployment}"
            )
            assert mine.concurrency_limit == dep["concurrency_limit"]["limit"]
        assert mine.parameters == params
        assert [_schedule(s.schedule) for s in mine.schedules] == [
            {k: v for k, v in s.items() if k != "active"} for s in dep.get("schedules", [])
        ]
        assert mine.description == dep["description"]
        assert set(dep["tags"]) <= set(mine.tags)


def test_serve_flows_are_named_apart_from_the_work_pool_flows() -> None:
    yaml_flows = {
        d["entrypoint"].rsplit(":", 1)[1]: name for name, d in _yaml_deployments().items()
    }
    for served in SERVED:
        assert served.flow.fn.__name__ in yaml_flows
        assert served.flow_name != served.flow.name
    deployments = build_deployments(None)
    assert {d.flow_name for d in deployments} == {s.flow_name for s in SERVED}
    assert all(d.parameters.get("config") is None for d in deployments)
