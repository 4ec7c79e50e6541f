"""A terminal chat with a coach, through the same model client as the site.

    python manage.py coach_chat --coach meditation-guide
    python manage.py coach_chat --coach career-coach --state "junior developer" \
        --goal "get promoted" --misc "5 hours a week" < questions.txt

First the wizard's three questions (unless given as options), then the coach's plan,
then one follow-up per line of input. `/quit` or end of input (Ctrl-D) ends it.
Nothing is stored and no daily quota is used.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from coach.llm import ChatClient, ChatMessage, LLMError, Reply, get_chat_client
from coach.models import Coach
from coach.prompting import build_messages

QUIT_COMMANDS = {"/quit", "/exit", "/q"}
QUESTIONS = {
    "current_state": "Where are you now?",
    "goal": "What do you want?",
    "misc": "Anything else: time, constraints, preferences? (Enter to skip)",
}


class _EndOfInput(Exception):
    pass


class Command(BaseCommand):
    help = "Chat with a coach in the terminal, through the configured model."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--coach", required=True, help="The coach's slug.")
        parser.add_argument("--state", help="Where you are now (skips the question).")
        parser.add_argument("--goal", help="What you want (skips the question).")
        parser.add_argument("--misc", help="Anything else (skips the question).")

    def handle(self, *args: Any, **options: Any) -> None:
        from sessions_app.models import Prompt, PromptKind

        self.stdin: IO[str] = options.get("stdin") or sys.stdin
        try:
            coach = Coach.objects.get(slug=options["coach"])
        except Coach.DoesNotExist:
            slugs = ", ".join(Coach.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"No coach {options['coach']!r}. Coaches: {slugs}.") from None

        self.stdout.write(self.style.MIGRATE_HEADING(coach.name))
        self.stdout.write(coach.description)
        self.stdout.write("Type /quit or press Ctrl-D to end.\n")
        questions = [
            (PromptKind.CURRENT_STATE, options["state"], list(coach.state_options)),
            (PromptKind.GOAL, options["goal"], list(coach.goal_options)),
            (PromptKind.MISC, options["misc"], []),
        ]
        prompts: list[Prompt] = []
        try:
            for kind, given, choices in questions:
                prompts.append(self._ask(kind, coach, given, choices))
        except _EndOfInput:
            self.stdout.write("")
            return

        client = get_chat_client()
        history: list[ChatMessage] = []
        messages = build_messages(
            system_prompt=coach.system_prompt, few_shot=coach.few_shot, prompts=prompts, history=[]
        )
        try:
            reply = self._say(client, messages)
        except LLMError as exc:
            raise CommandError(str(exc)) from exc
        history.append({"role": "assistant", "content": reply.content})

        while True:
            try:
                line = self._read("\nYou: ")
            except _EndOfInput:
                self.stdout.write("")
                return
            if not line:
                continue
            if line in QUIT_COMMANDS:
                return
            messages = build_messages(
                system_prompt=coach.system_prompt,
                few_shot=coach.few_shot,
                prompts=prompts,
                history=[*history, {"role": "user", "content": line}],
            )
            try:
                reply = self._say(client, messages)
            except LLMError as exc:
                self.stderr.write(f"{exc} (your message was not kept; send it again)")
                continue
            history += [
                {"role": "user", "content": line},
                {"role": "assistant", "content": reply.content},
            ]

    def _read(self, prompt: str) -> str:
        self.stdout.write(prompt, ending="")
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            raise _EndOfInput
        return line.strip()

    def _ask(self, kind: str, coach: Coach, given: str | None, choices: list[str]) -> Any:
        """One wizard answer: options typed (comma-separated) become tags, the rest free text."""
        from sessions_app.models import PROMPT_CLASSES

        while True:
            if given is None:
                hint = f"\nOptions: {', '.join(choices)}" if choices else ""
                answer = self._read(f"\n{QUESTIONS[kind]}{hint}\n> ")
            else:
                answer = given
            prompt = PROMPT_CLASSES[kind](kind=kind, **_split_answer(answer, choices))
            try:
                prompt.validate_for(coach)
            except ValidationError as exc:
                if given is not None:
                    raise CommandError(f"{QUESTIONS[kind]} {' '.join(exc.messages)}") from exc
                self.stderr.write(" ".join(exc.messages))
                continue
            return prompt

    def _say(self, client: ChatClient, messages: list[ChatMessage]) -> Reply:
        """Print the reply as it streams in."""
        self.stdout.write("\nCoach: ", ending="")
        try:
            for item in client.stream(messages):
                if isinstance(item, Reply):
                    self.stdout.write("")
                    return item
                self.stdout.write(item.text, ending="")
                self.stdout.flush()
        except LLMError:
            self.stdout.write("")
            raise
        raise LLMError()  # a stream always ends with its Reply


def _split_answer(answer: str, choices: list[str]) -> dict[str, Any]:
    """'anxious, tired, since Monday' -> tags ['anxious', 'tired'], text 'since Monday'."""
    by_lower = {choice.lower(): choice for choice in choices}
    tags: list[str] = []
    rest: list[str] = []
    for part in (p.strip() for p in answer.split(",")):
        if part.lower() in by_lower and by_lower[part.lower()] not in tags:
            tags.append(by_lower[part.lower()])
        elif part:
            rest.append(part)
    return {"tags": tags, "text": ", ".join(rest)}
