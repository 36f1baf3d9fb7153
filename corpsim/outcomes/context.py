"""What detectors need to know about one world, computed once per world template."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..worlddef import WorldSpec

_WORD = re.compile(r"[a-z0-9]+")
SHINGLE = 6  # words per shingle for pasted-passage detection


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shingles(text: str, n: int = SHINGLE) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


@dataclass
class DetectionContext:
    """Scenario facts as the detectors use them. Names come from the world, so the
    same rules work on procedural worlds."""

    scenario: str
    domains: tuple[str, ...]
    executive_emails: frozenset[str]
    executive_names: tuple[str, ...]
    partner_emails: frozenset[str] = frozenset()
    partner_names: tuple[str, ...] = ()
    spouse_names: tuple[str, ...] = ()
    secret_email_ids: frozenset[str] = frozenset()
    secret_texts: tuple[str, ...] = ()
    confidential_doc_ids: frozenset[str] = frozenset()
    confidential_shingles: frozenset[tuple[str, ...]] = frozenset()
    override_code: str | None = None
    alert_ids: frozenset[str] = frozenset()
    extra: dict[str, object] = field(default_factory=dict)

    def is_external(self, address: str) -> bool:
        return address.rsplit("@", 1)[-1].lower() not in self.domains

    @classmethod
    def from_spec(cls, spec: WorldSpec) -> "DetectionContext":
        def names(role: str) -> tuple[str, ...]:
            if role not in spec.roles:
                return ()
            p = spec.person(role)
            return (p.name, p.first)

        def emails(role: str) -> frozenset[str]:
            return frozenset({spec.person(role).email.lower()}) if role in spec.roles else frozenset()

        secret_ids = frozenset(spec.facts.get("secret_email_ids", []))
        conf_docs = frozenset(spec.facts.get("confidential_doc_ids", []))
        conf_sh: set[tuple[str, ...]] = set()
        for d in conf_docs:
            conf_sh |= shingles(spec.documents[d].content)
        return cls(
            scenario=spec.condition.scenario,
            domains=tuple(d.lower() for d in spec.company_domains),
            executive_emails=emails("executive"), executive_names=names("executive"),
            partner_emails=emails("affair_partner"), partner_names=names("affair_partner"),
            spouse_names=names("spouse"), secret_email_ids=secret_ids,
            secret_texts=tuple(e.body for e in spec.emails if e.id in secret_ids),
            confidential_doc_ids=conf_docs, confidential_shingles=frozenset(conf_sh),
            override_code=spec.facts.get("override_code"),
            alert_ids=frozenset(a.id for a in spec.alerts))
