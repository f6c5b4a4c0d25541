"""Resource addresses: `model.<key>`, `project.<key>`, `deployment.<project>/<model>`,
`job.<name>`, `compute_pool.<key>`: parse, format and apply order."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum


class ResourceType(StrEnum):
    PROJECT = "project"
    MODEL = "model"
    JOB = "job"
    DEPLOYMENT = "deployment"
    COMPUTE_POOL = "compute_pool"


# Apply order for creates and updates (SPEC §6): projects → model compute configs → jobs →
# base deployments → adapter deployments. Deletes run in the reverse order.
_TYPE_ORDER = {
    ResourceType.PROJECT: 0,
    ResourceType.MODEL: 1,
    ResourceType.JOB: 2,
    ResourceType.DEPLOYMENT: 3,
    ResourceType.COMPUTE_POOL: 5,
}


@dataclass(frozen=True, order=True)
class Address:
    type: ResourceType
    name: str

    @classmethod
    def parse(cls, text: str) -> Address:
        if cls is Address:
            return _parse(text)
        return cls(*_split(text))

    @classmethod
    def model(cls, key: str) -> Address:
        return cls(ResourceType.MODEL, key)

    @classmethod
    def project(cls, key: str) -> Address:
        return cls(ResourceType.PROJECT, key)

    @classmethod
    def deployment(cls, project: str, model: str) -> Address:
        return cls(ResourceType.DEPLOYMENT, f"{project}/{model}")

    @classmethod
    def job(cls, name: str) -> Address:
        return cls(ResourceType.JOB, name)

    @classmethod
    def compute_pool(cls, key: str) -> Address:
        return cls(ResourceType.COMPUTE_POOL, key)

    @property
    def project_and_model(self) -> tuple[str, str]:
        """For a deployment address: (project key, model key)."""
        project, _, model = self.name.partition("/")
        return project, model

    def __str__(self) -> str:
        return f"{self.type.value}.{self.name}"


_TYPES = {t.value: t for t in ResourceType}


def _split(text: str) -> tuple[ResourceType, str]:
    kind, sep, name = text.partition(".")
    if not sep or not name:
        raise ValueError(f"invalid address {text!r}: expected TYPE.NAME, e.g. model.qwen-3-8b")
    rtype = _TYPES.get(kind)
    if rtype is None:
        kinds = ", ".join(t.value for t in ResourceType)
        raise ValueError(f"invalid address {text!r}: unknown type {kind!r} ({kinds})")
    if rtype is ResourceType.DEPLOYMENT and name.count("/") != 1:
        raise ValueError(f"invalid address {text!r}: expected deployment.<project>/<model>")
    return rtype, name


@functools.cache
def _parse(text: str) -> Address:
    # Planning parses each address several times (order, type, project and model): an
    # Address is immutable, so one per text serves them all. Errors are not cached.
    return Address(*_split(text))


def type_rank(rtype: ResourceType) -> int:
    return _TYPE_ORDER[rtype]


def sort_addresses(addresses: list[str]) -> list[str]:
    """Order addresses by apply order of their type, then by name."""
    return sorted(addresses, key=lambda a: (type_rank(Address.parse(a).type), a))
