"""Reading request bodies: JSON objects, prompts and sampling parameters.

Every function raises SimError (400) with the offending field named. Fields the
simulator has no use for (temperature, top_p, tools, ...) are accepted and ignored.
"""

from __future__ import annotations

from typing import Any

import orjson

from smg.sim.errors import invalid_field, invalid_json, missing_field
from smg.sim.tokenizer import Prompt

JsonObject = dict[str, Any]
# Bounds keep a typo from sampling millions of tokens or choices.
MAX_TOKENS_LIMIT = 1_000_000
MAX_CHOICES = 128


def parse_object(body: bytes) -> JsonObject:
    if not body:
        raise invalid_json("the body is empty")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise invalid_json(str(exc)) from exc
    if not isinstance(data, dict):
        raise invalid_json("expected a JSON object")
    return data


def chat_prompt(body: JsonObject) -> Prompt:
    """Render chat messages as one text with role markers, like a chat template."""
    messages = body.get("messages")
    if messages is None:
        raise missing_field("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_field("messages", "a non-empty array of messages")
    parts = []
    for message in messages:
        if not isinstance(message, dict):
            raise invalid_field("messages", "an array of objects")
        role = message.get("role", "user")
        parts.append(f"<|{role}|>\n{content_text(message.get('content'))}\n")
    parts.append("<|assistant|>\n")
    return Prompt(text="".join(parts))


def content_text(content: Any) -> str:
    """Text of a message content: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = []
    for part in content:
        if isinstance(part, dict):
            text = part.get("text")
            texts.append(text if isinstance(text, str) else f"<{part.get('type')}>")
        elif isinstance(part, str):
            texts.append(part)
    return "".join(texts)


def completion_prompt(value: Any, name: str = "prompt") -> Prompt:
    """A prompt given as text or token ids; a batch of one is unwrapped.

    Batches of several prompts are refused: the simulator answers one at a time.
    """
    if isinstance(value, str):
        return Prompt(text=value)
    if isinstance(value, list) and value and all(_is_token(v) for v in value):
        return Prompt(ids=value)
    if isinstance(value, list) and len(value) == 1:
        return completion_prompt(value[0], name)
    if value is None:
        raise missing_field(name)
    raise invalid_field(name, "a string or an array of token ids (batches unsupported)")


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def max_tokens(body: JsonObject, names: tuple[str, ...], default: int) -> int:
    """The first of `names` present in `body`, else `default`."""
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid_field(name, "an integer")
        if not 0 <= value <= MAX_TOKENS_LIMIT:
            raise invalid_field(name, f"between 0 and {MAX_TOKENS_LIMIT}")
        return value
    return default


def stop_strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise invalid_field("stop", "a string or an array of strings")


def optional_int(body: JsonObject, name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid_field(name, "an integer")
    return value


def choice_count(body: JsonObject) -> int:
    n = optional_int(body, "n")
    if n is None:
        return 1
    if not 1 <= n <= MAX_CHOICES:
        raise invalid_field("n", f"between 1 and {MAX_CHOICES}")
    return n


def model_name(body: JsonObject, served: str) -> str:
    """The model echoed in answers: the request's own, else the served id."""
    model = body.get("model")
    return model if isinstance(model, str) and model else served


def wants_stream(body: JsonObject) -> bool:
    return body.get("stream") is True


def include_usage(body: JsonObject) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True
