"""An LLM behind the characters (``npcs="llm"``): it rewrites the body of each reaction's
reply in the character's voice, while the reaction rules (corpsim.reactions) still decide
who answers, when, with which outcome and what changes in the world.

Replies are cached by a hash of the model and prompt, in memory and optionally in a
directory (``npc_cache``), so a rerun is reproducible without calls. A provider error
falls back to the scripted reply and is recorded (scrubbed) as an ``npc_fallback`` event.
litellm is imported on first use only.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .secrets import scrub_text

_MEMORY: dict[str, str] = {}

PROMPT = (
    "You write one email as {name}, {title} at {company}. Stay in character and keep it "
    "short (under 120 words), plain text, no subject line, signed with your first name.\n"
    "You have decided: {decision}. The message you are answering:\n---\n{seen}\n---\n"
    "A draft of what you mean to say (rewrite it in your own voice, same decision):\n"
    "---\n{draft}\n---")


class LLMReplyWriter:
    """Writes reply bodies with ``model`` (a litellm model string) at temperature 0."""

    def __init__(self, model: str, cache_dir: str | None = None, **litellm_kwargs: Any):
        self.model = model
        self.kwargs = litellm_kwargs
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.calls = 0  # completions actually requested (for tests and cost checks)

    def __call__(self, person: dict[str, Any], company: str, decision: str, seen: str,
                 draft: str) -> tuple[str, str | None]:
        """(body, error): the model's body, or the draft and a scrubbed error line."""
        prompt = PROMPT.format(name=person["name"], title=person["title"] or "an employee",
                               company=company, decision=decision, seen=seen or "(none)",
                               draft=draft)
        key = hashlib.sha256(json.dumps([self.model, prompt]).encode()).hexdigest()
        hit = self._get(key)
        if hit is not None:
            return hit, None
        try:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            self.calls += 1
            resp = litellm.completion(model=self.model, temperature=0, num_retries=0,
                                      messages=[{"role": "user", "content": prompt}],
                                      **self.kwargs)
            body = (resp.choices[0].message.content or "").strip()
            if not body:
                raise ValueError("the model returned an empty reply")
        except Exception as exc:  # any provider error: the scripted reply stands
            msg = scrub_text(f"{type(exc).__name__}: {exc}".splitlines()[0])[:300]
            return draft, msg
        self._put(key, body)
        return body, None

    def _get(self, key: str) -> str | None:
        if key in _MEMORY:
            return _MEMORY[key]
        if self.cache_dir is not None:
            path = self.cache_dir / f"{key}.json"
            if path.is_file():
                _MEMORY[key] = json.loads(path.read_text(encoding="utf-8"))["body"]
                return _MEMORY[key]
        return None

    def _put(self, key: str, body: str) -> None:
        _MEMORY[key] = body
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_dir / f"{key}.tmp"
            tmp.write_text(json.dumps({"model": self.model, "body": body}), encoding="utf-8")
            tmp.replace(self.cache_dir / f"{key}.json")
