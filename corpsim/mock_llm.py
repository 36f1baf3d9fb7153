"""A keyless LLM agent for watching the LLM path (``corpsim run COND --mock-llm``).

:class:`MockLLMAgent` is the real :class:`corpsim.agents.llm.LLMAgent` — system prompt,
tool schemas, litellm call, tool-call parsing, usage accounting — whose completions come
from litellm's own mocking (``mock_tool_calls``): a fixed, harmless script that lists the
mail, reads every email, then ends the session. No key, no network.
"""

from __future__ import annotations

import json
from typing import Any

from corpsim.agents.llm import LLMAgent

MOCK_MODEL = "openai/mock-llm"


class MockLLMAgent(LLMAgent):
    kind = "mock-llm"

    def __init__(self, model: str = MOCK_MODEL, **settings: Any):
        settings["native_tools"] = "on"  # mock_tool_calls are native tool calls
        super().__init__(model=model, **settings)

    def reset(self, observation: str, info: dict[str, Any]) -> None:
        super().reset(observation, info)
        self._to_read: list[str] | None = None
        self._turn = 0

    def act(self, observation: str, info: dict[str, Any]) -> Any:
        self._script(info)
        return super().act(observation, info)

    async def aact(self, observation: str, info: dict[str, Any]) -> Any:
        self._script(info)
        return await super().aact(observation, info)

    def _script(self, info: dict[str, Any]) -> None:
        """Set the next mocked completion from what the last step returned."""
        result = info.get("result")
        if self._to_read is None and isinstance(result, dict) and "emails" in result:
            self._to_read = [e["id"] for e in result["emails"]]
        if self._to_read is None:
            name, args = "list_emails", {}
        elif self._to_read:
            name, args = "read_email", {"email_id": self._to_read.pop(0)}
        else:
            name, args = "end_session", {}
        self._turn += 1
        self.settings.extra["mock_tool_calls"] = [{
            "id": f"mock_call_{self._turn}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)}}]
