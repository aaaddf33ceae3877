"""An lm-eval model that asks an OpenAI-compatible endpoint: vLLM's or SGLang's server,
llama.cpp's, TGI, ``transformers serve``, or a hosted API.

Registered as lm-eval model ``fcbench-openai``. It sends each item's chat ``messages`` (the
docs carry them, ``tasks/fcbench/utils.py``), and in native mode the offered functions in the
request's ``tools`` field, at temperature 0; the answer is the message's text, or, when the
server parsed tool calls itself, the message as JSON with its ``tool_calls`` (the ``openai``
answer format reads it). Requests run ``concurrency`` at a time; the ``openai`` client retries
with backoff and times out. The API key is read from an environment variable and never
written anywhere.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fcbench.benchmark.jsonl import json_text
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from fcbench.errors import UserError

MAX_STOP_STRINGS = 4
"""OpenAI's API takes at most four stop strings."""


class EndpointUnavailable(UserError):
    """The endpoint cannot be reached or refuses the request; the message says which and why."""


def message_text(message: Any) -> str:
    """A chat-completion message as the raw output fcbench scores: its text, or the message as
    JSON when it holds tool calls."""
    calls = getattr(message, "tool_calls", None)
    if not calls:
        return message.content or ""
    return json_text({"role": "assistant", "content": message.content, "tool_calls": [call.model_dump(mode="json") for call in calls]})


def chat_request(doc: dict[str, Any], gen_kwargs: dict[str, Any], model: str) -> dict[str, Any]:
    """The body of one ``/v1/chat/completions`` request for an item."""
    body: dict[str, Any] = {
        "model": model,
        "messages": json.loads(doc["messages"]),
        "max_tokens": int(gen_kwargs.get("max_gen_toks", 256)),
        "temperature": 0.0,
    }
    until = [s for s in gen_kwargs.get("until", []) if isinstance(s, str) and s][:MAX_STOP_STRINGS]
    if until:
        body["stop"] = until
    if doc.get("tools"):
        body["tools"] = json.loads(doc["tools"])
    return body


@register_model("fcbench-openai")
class OpenAIChatLM(LM):
    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY", concurrency: int = 4, timeout: float = 120.0,
                 max_retries: int = 3, progress: Any = None, **_: Any) -> None:
        super().__init__()
        from openai import OpenAI

        self.base_url, self.model, self.concurrency, self.api_key_env = base_url, model, int(concurrency), api_key_env
        # Local servers take any key; a hosted API's comes from the environment, never a file.
        self.client = OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env) or "EMPTY", timeout=float(timeout), max_retries=int(max_retries))
        self.progress = progress
        self.generated = 0
        self.server = self._probe()

    def _probe(self) -> dict[str, Any]:
        """What the server says about itself and the served model (``GET /models``); a server
        that is down is one clear error before any item is asked."""
        import openai

        try:
            raw = self.client.models.with_raw_response.list()
        except openai.APIConnectionError as err:
            raise EndpointUnavailable(f"cannot reach {self.base_url} ({err.__cause__ or err}): is the server running? start it, or check --base-url") from None
        except openai.APIStatusError as err:
            raise EndpointUnavailable(f"{self.base_url}/models answered HTTP {err.status_code}: check --base-url and the key in ${self.api_key_env}") from None
        models = [entry.model_dump(mode="json") for entry in raw.parse().data]
        # Servers that load models on demand (transformers serve) list only those loaded: an
        # unlisted name is no error here; a wrong one is refused by the first request.
        served = [entry for entry in models if entry.get("id") == self.model]
        return {"base_url": self.base_url, "model": self.model, "server": raw.headers.get("server"), "served_model": served[0] if served else None}

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        task = self.progress.add_task("asking", total=len(requests)) if self.progress is not None else None
        self.generated += len(requests)

        def answer(request: Any) -> str:
            text = self._answer(request)
            if task is not None:
                self.progress.advance(task)
            return text

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(answer, requests))

    def _answer(self, request: Any) -> str:
        import openai

        _context, gen_kwargs = request.args
        try:
            response = self.client.chat.completions.create(**chat_request(request.doc, gen_kwargs, self.model))
        except openai.APIConnectionError as err:
            raise EndpointUnavailable(f"{self.base_url} stopped answering ({err.__cause__ or err}) after {self.client.max_retries} retries: check the server") from None
        except openai.APIStatusError as err:
            raise EndpointUnavailable(f"{self.base_url} refused a request with HTTP {err.status_code}: {str(err.message)[:300]}") from None
        return message_text(response.choices[0].message) if response.choices else ""

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        raise NotImplementedError("fcbench's tasks only generate")

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError("fcbench's tasks only generate")
