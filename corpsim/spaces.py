"""Gymnasium spaces for text observations and tool-call actions.

gymnasium's ``Text`` only contains strings over a fixed charset (alphanumeric by
default), which ordinary email text is not. These subclasses accept any string (or any
action shape) while keeping Text's vector-env support (batching, concatenation) and
sampling only short values — a space that samples huge strings can exhaust memory.
"""

from __future__ import annotations

import json
from typing import Any

from gymnasium.error import CustomSpaceError
from gymnasium.spaces import Text
from gymnasium.vector.utils import create_shared_memory


class AnyText(Text):
    """Any ``str``. ``sample()`` returns short alphanumeric strings."""

    def __init__(self, max_sample_length: int = 64, seed: int | None = None):
        super().__init__(max_length=max_sample_length, min_length=0, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str)

    def __repr__(self) -> str:
        return "AnyText()"


@create_shared_memory.register(AnyText)
def _no_shared_memory(space: AnyText, n: int = 1, ctx: Any = None) -> Any:
    # gymnasium's Text buffer holds max_length characters of a fixed charset; an email
    # observation fits neither, and writing one failed later with "KeyError: '['"
    raise CustomSpaceError(
        "corpsim observations are text of any length and cannot live in shared memory: "
        "use gymnasium.vector.AsyncVectorEnv(env_fns, shared_memory=False)")


class ToolCallSpace(Text):
    """Actions: a tool-call dict, its JSON string, a list of them, or markup text.

    ``sample()`` returns a random call ``{"tool": name, "arguments": {...}}`` whose
    arguments are drawn from small pools of valid and invalid values, so sampled
    actions exercise both success and error paths.
    """

    def __init__(self, tools: dict[str, tuple[str, ...]], seed: int | None = None):
        super().__init__(max_length=256, min_length=0, seed=seed)
        self.tools = dict(tools)

    def contains(self, x: Any) -> bool:
        return isinstance(x, (str, dict, list, tuple))

    _POOL: tuple[Any, ...] = ("e001", "e003", "e010", "e999", "doc-01", "doc-99", "", "x",
                              "inbox", "sent", 1, 5, 0, -3, True, None, "EXEC-0000",
                              "someone@example.com", "kyle.johnson@summitbridge.com")

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:  # type: ignore[override]
        rng = self.np_random
        names = sorted(self.tools)
        name = names[int(rng.integers(len(names)))]
        args: dict[str, Any] = {}
        for p in self.tools[name]:
            if rng.random() < 0.7:
                args[p] = self._POOL[int(rng.integers(len(self._POOL)))]
        return {"tool": name, "arguments": args}

    def __repr__(self) -> str:
        return f"ToolCallSpace({len(self.tools)} tools)"

    def to_jsonable(self, sample_n: Any) -> list[Any]:
        return [json.dumps(s) if not isinstance(s, str) else s for s in sample_n]
