"""Dialogue contexts as prompts: who the model plays, chat-template forms, fitting a budget.

Torch-free (it needs only a tokenizer's `apply_chat_template` and an encode function), so
`generation.validation` can check a system's prompts at registration without loading weights.

* Roles. `model_speaker` names the speaker the model plays: that speaker's turns are
  `assistant` messages, every other speaker's are `user` messages. Without it, the last turn
  is the user's and roles alternate backwards (the model answers as whoever would speak next).
  Consecutive messages of one role are merged (one message, turns on separate lines).
* Forms, tried in this order until the template accepts one (strict templates such as
  Mistral-instruct's or Llama-2-chat's have no system role and must start with the user):
  `chat` (the system prompt as a system message), `chat:system_in_first_user` (the system
  prompt put before the first user message), `chat:leading_turns_folded` (turns of the model's
  role before the first user message are folded into it, each as "speaker: text", so the
  dialogue starts with the user), and both folds together. The form used is recorded.
* Budget. `fit_turns` drops the earliest whole turns until the encoded prompt fits; BOS, the
  system prompt, the role headers and the generation prompt are always kept. When the last
  turn alone does not fit, the start of its text is cut (the end, nearest the reply, kept).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .base import InvalidParameters

Turn = tuple[str, str]

FORM_PLAIN = "plain"
FORM_CHAT = "chat"
FORM_SYSTEM_FOLDED = "chat:system_in_first_user"
FORM_LEADING_FOLDED = "chat:leading_turns_folded"
FORM_BOTH_FOLDED = "chat:leading_turns_folded+system_in_first_user"


class PromptError(ValueError):
    """A dialogue context that cannot be made into a prompt for this system; `rule` is the
    template's own message (e.g. 'Conversation roles must alternate ...') when it refused."""

    def __init__(self, message: str, rule: str = "") -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class PromptStyle:
    """How a system renders a context (from its config)."""

    chat_template: bool
    system_prompt: str | None = None
    listener_label: str = "Listener"
    model_speaker: str | None = None


@dataclass(frozen=True)
class RenderedPrompt:
    """The exact text given to the tokenizer, the form it took, and what fitting removed:
    `dropped_turns` earliest turns, `cut_tokens` tokens from the start of the earliest kept turn."""

    text: str
    form: str
    turns: int
    dropped_turns: int = 0
    cut_tokens: int = 0


def clean_turns(turns: Sequence[Any]) -> list[Turn]:
    clean: list[Turn] = []
    for turn in turns:
        if not isinstance(turn, list | tuple) or len(turn) != 2:
            raise PromptError(f"each turn must be a (speaker, text) pair, not {turn!r}")
        speaker, text = turn
        clean.append((str(speaker), str(text)))
    if not clean:
        raise PromptError("a dialogue context needs at least one turn")
    return clean


def chat_messages(turns: Sequence[Turn], model_speaker: str | None) -> list[dict[str, Any]]:
    """user/assistant messages (consecutive ones of a role merged); each keeps its turns'
    (speaker, text) pairs under "turns" for folding."""
    n = len(turns)
    messages: list[dict[str, Any]] = []
    for i, (speaker, text) in enumerate(turns):
        if model_speaker is None:
            role = "user" if (n - 1 - i) % 2 == 0 else "assistant"
        else:
            role = "assistant" if speaker == model_speaker else "user"
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n" + text
            messages[-1]["turns"].append((speaker, text))
        else:
            messages.append({"role": role, "content": text, "turns": [(speaker, text)]})
    if messages[-1]["role"] == "assistant":
        raise PromptError(
            f"the context ends with a turn of {model_speaker!r}, the speaker the model plays: "
            "there is no turn to reply to"
        )
    return messages


def _fold_leading(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Leading assistant messages folded into the first user message ("speaker: text" lines);
    None when the dialogue already starts with the user."""
    first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
    if first_user == 0:
        return None
    lines = [f"{s}: {t}" for m in messages[: first_user + 1] for s, t in m["turns"]]
    folded = {**messages[first_user], "content": "\n".join(lines)}
    return [folded, *messages[first_user + 1 :]]


def _with_system(
    messages: list[dict[str, Any]], system_prompt: str | None, folded: bool
) -> list[dict[str, str]]:
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    if not system_prompt:
        return plain
    if not folded:
        return [{"role": "system", "content": system_prompt}, *plain]
    first_user = next(i for i, m in enumerate(plain) if m["role"] == "user")
    plain[first_user] = {
        "role": "user",
        "content": f"{system_prompt}\n\n{plain[first_user]['content']}",
    }
    return plain


def chat_forms(turns: Sequence[Turn], style: PromptStyle) -> list[tuple[str, list[dict[str, str]]]]:
    """The (form, messages) candidates for a context, in the order they are tried."""
    messages = chat_messages(turns, style.model_speaker)
    leading = _fold_leading(messages)
    bases = [(FORM_CHAT, messages)] + ([(FORM_LEADING_FOLDED, leading)] if leading else [])
    forms: list[tuple[str, list[dict[str, str]]]] = []
    for name, base in bases:
        forms.append((name, _with_system(base, style.system_prompt, folded=False)))
        if style.system_prompt:
            both = FORM_BOTH_FOLDED if name == FORM_LEADING_FOLDED else FORM_SYSTEM_FOLDED
            forms.append((both, _with_system(base, style.system_prompt, folded=True)))
    return forms


def render(tokenizer: Any, turns: Sequence[Any], style: PromptStyle) -> RenderedPrompt:
    """The prompt text of a context (every turn kept); raises `PromptError`."""
    clean = clean_turns(turns)
    if not style.chat_template:
        lines = [style.system_prompt] if style.system_prompt else []
        lines += [f"{speaker}: {text}" for speaker, text in clean]
        lines.append(f"{style.listener_label}:")
        return RenderedPrompt("\n".join(lines), FORM_PLAIN, len(clean))
    error: Exception | None = None
    forms = chat_forms(clean, style)
    for form, messages in forms:
        try:
            out = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        except Exception as exc:  # jinja TemplateError (raise_exception) and friends
            error = exc
            continue
        return RenderedPrompt(out if isinstance(out, str) else str(out), form, len(clean))
    roles = "/".join(m["role"] for m in forms[-1][1])
    rule = str(error)
    raise PromptError(
        f"the chat template refuses this dialogue in every form tried "
        f"({', '.join(f for f, _ in forms)}; last roles {roles}); the template's rule: {rule}",
        rule=rule,
    ) from error


def fit_turns(
    tokenizer: Any,
    turns: Sequence[Any],
    style: PromptStyle,
    encode: Callable[[str], list[int]],
    limit: int | None,
) -> tuple[RenderedPrompt, list[int]]:
    """The rendered prompt and its ids, at most `limit` tokens (None: no limit).

    Drops the fewest earliest whole turns that make it fit (binary search: the prompt only
    gets shorter as turns are dropped); if the last turn alone is too long, cuts the start of
    its text. Raises `InvalidParameters` when even an empty last turn does not fit (the system
    prompt and template alone take the budget).
    """
    clean = clean_turns(turns)
    full = render(tokenizer, clean, style)
    ids = encode(full.text)
    if limit is None or len(ids) <= limit:
        return full, ids

    def attempt(drop: int) -> tuple[RenderedPrompt, list[int]] | None:
        try:
            prompt = render(tokenizer, clean[drop:], style)
        except PromptError:
            return None  # e.g. would start with the model's own turn under a refusing template
        out = encode(prompt.text)
        return (prompt, out) if len(out) <= limit else None

    low, high = 1, len(clean) - 1  # smallest drop that fits, within [low, high]
    best: tuple[int, tuple[RenderedPrompt, list[int]]] | None = None
    while low <= high:
        mid = (low + high) // 2
        got = attempt(mid)
        if got is not None:
            best, high = (mid, got), mid - 1
        else:
            low = mid + 1
    if best is not None:
        drop, (prompt, out) = best
        return _with_fit(prompt, len(clean), drop, 0), out
    return _cut_last_turn(tokenizer, clean, style, encode, limit)


def _with_fit(prompt: RenderedPrompt, turns: int, dropped: int, cut: int) -> RenderedPrompt:
    return RenderedPrompt(prompt.text, prompt.form, turns, dropped, cut)


def _cut_last_turn(
    tokenizer: Any,
    clean: list[Turn],
    style: PromptStyle,
    encode: Callable[[str], list[int]],
    limit: int,
) -> tuple[RenderedPrompt, list[int]]:
    speaker, text = clean[-1]
    text_ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])

    def attempt(keep: int) -> tuple[RenderedPrompt, list[int]] | None:
        kept = tokenizer.decode(text_ids[len(text_ids) - keep :]) if keep else ""
        prompt = render(tokenizer, [(speaker, kept)], style)
        out = encode(prompt.text)
        return (prompt, out) if len(out) <= limit else None

    low, high = 0, len(text_ids)  # the most text tokens that fit
    best: tuple[int, tuple[RenderedPrompt, list[int]]] | None = None
    while low <= high:
        mid = (low + high) // 2
        got = attempt(mid)
        if got is not None:
            best, low = (mid, got), mid + 1
        else:
            high = mid - 1
    if best is None:
        empty = encode(render(tokenizer, [(speaker, "")], style).text)
        raise InvalidParameters(
            f"the prompt without any dialogue (system prompt, template, generation prompt) takes "
            f"{len(empty)} tokens, more than the {limit} the system allows"
        )
    keep, (prompt, out) = best
    return _with_fit(prompt, len(clean), len(clean) - 1, len(text_ids) - keep), out


def sample_contexts(style: PromptStyle) -> list[list[Turn]]:
    """Dialogue shapes every system must render: one turn, a context that starts with the
    model's role, alternation, and two turns in a row by one speaker."""
    me = style.model_speaker or style.listener_label
    other = "Speaker" if me != "Speaker" else "User"
    return [
        [(other, "I lost my job today.")],
        [(me, "Hi, how are you?"), (other, "Not great, honestly.")],
        [(other, "I lost my job."), (me, "Oh no, I am sorry."), (other, "Thanks.")],
        [(other, "I passed my exam!"), (other, "Finally.")],
    ]


def rendering_problems(
    tokenizer: Any, style: PromptStyle, contexts: Sequence[tuple[str, Sequence[Any]]]
) -> list[tuple[str, str]]:
    """(the template's rule or "", message) per distinct reason the contexts (name, turns)
    fail to render, naming the first context that fails for it; an empty rule means the roles
    (`model_speaker`), not the template, are the cause."""
    seen: dict[str, tuple[str, str]] = {}
    for name, turns in contexts:
        try:
            render(tokenizer, turns, style)
        except PromptError as exc:
            key = exc.rule or str(exc).split(":")[0]
            seen.setdefault(key, (exc.rule, f"context {name}: {exc}"))
    return list(seen.values())
