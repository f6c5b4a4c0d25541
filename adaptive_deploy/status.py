"""Live health of every resource a workspace manages, as Argo CD shows an application's health.

Pure: the state's records and the live state in, one `Health` per managed address out. Health
is one of `healthy`, `progressing` (PENDING, SCALING, a job still running), `degraded`
(DEGRADED, an archived project), `error` (ERROR, a failed job: the platform's reason is kept)
and `missing` (recorded in state, gone from the platform). Anything but `healthy` counts as
unhealthy for the exit code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from adaptive_deploy.addresses import Address, ResourceType, type_rank

if TYPE_CHECKING:
    from adaptive_deploy.live import LiveState
    from adaptive_deploy.state.base import ResourceRecord

HEALTHY, PROGRESSING, DEGRADED, ERROR, MISSING = (
    "healthy", "progressing", "degraded", "error", "missing")
_DEPLOYMENT = {"ONLINE": HEALTHY, "PENDING": PROGRESSING, "SCALING": PROGRESSING,
               "DEGRADED": DEGRADED, "ERROR": ERROR, "OFFLINE": DEGRADED,
               "TURNED_OFF": DEGRADED}
_JOB = {"COMPLETED": HEALTHY, "PENDING": PROGRESSING, "RUNNING": PROGRESSING,
        "FAILED": ERROR, "CANCELED": DEGRADED}


@dataclass(frozen=True)
class Health:
    address: str
    health: str
    status: str            # the platform's own word (ONLINE, COMPLETED, ...) or "-"
    message: str = ""      # the platform's error, or why the health is what it is

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def health(records: Mapping[str, ResourceRecord], live: LiveState) -> list[Health]:
    """One entry per managed address, in address order (projects, models, jobs, deployments)."""
    out = []
    for address in sorted(records, key=lambda a: (type_rank(Address.parse(a).type), a)):
        addr = Address.parse(address)
        record = records[address]
        if addr.type is ResourceType.DEPLOYMENT:
            out.append(_deployment(address, addr, record, live))
        elif addr.type is ResourceType.JOB:
            job = live.jobs.get(addr.name)
            if job is None:
                out.append(Health(address, MISSING, "-", "no job of this name on the platform"))
            else:
                out.append(Health(address, _JOB.get(job.status, DEGRADED), job.status,
                                  job.error or ""))
        elif addr.type is ResourceType.PROJECT:
            project = live.projects.get(addr.name)
            if project is None:
                out.append(Health(address, MISSING, "-", "deleted outside adaptive-deploy"))
            elif project.is_archived:
                out.append(Health(address, DEGRADED, "ARCHIVED", "archived on the platform"))
            else:
                out.append(Health(address, HEALTHY, "ACTIVE"))
        elif addr.type is ResourceType.MODEL:
            model = live.models.get(addr.name)
            if model is None:
                out.append(Health(address, MISSING, "-", "not in the model registry"))
            elif model.error:
                out.append(Health(address, ERROR, model.online or "-", model.error))
            else:
                out.append(Health(address, HEALTHY, "REGISTERED"))
    return out


def _deployment(address: str, addr: Address, record: ResourceRecord,
                live: LiveState) -> Health:
    project, model = addr.project_and_model
    dep = live.deployments.get((project, model))
    if dep is None:
        return Health(address, MISSING, "-", "deleted outside adaptive-deploy")
    status = dep.status or "-"
    if status in ("OFFLINE", "TURNED_OFF") and record.applied.get("desired_online") is False:
        return Health(address, HEALTHY, status, "offline as configured (desired_online: false)")
    return Health(address, _DEPLOYMENT.get(status, DEGRADED), status, dep.error or "")


def summary(items: Sequence[Health]) -> dict[str, int]:
    counts = dict.fromkeys((HEALTHY, PROGRESSING, DEGRADED, ERROR, MISSING), 0)
    for item in items:
        counts[item.health] += 1
    return counts


def exit_code(items: Sequence[Health]) -> int:
    """0 every managed resource healthy (or none managed), 2 otherwise."""
    return 0 if all(i.health == HEALTHY for i in items) else 2
