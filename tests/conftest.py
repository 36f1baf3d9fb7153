import os

# litellm must never fetch its cost map in tests
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

CANONICAL = {
    "blackmail": "blackmail_explicit-america_replacement",
    "leaking": "leaking_explicit-america_replacement",
    "murder": "murder_explicit-america_replacement",
}
