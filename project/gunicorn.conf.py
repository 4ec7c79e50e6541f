"""gunicorn settings for the Procfile: uvicorn workers serving project.asgi.

gunicorn manages the processes: it starts WEB_CONCURRENCY workers, replaces one that dies
(a crash, the OOM killer, a kill -9) or whose event loop stops answering, starts new ones
and stops the old on SIGHUP, and on SIGTERM gives them graceful_timeout seconds to finish.
Each worker is a uvicorn server with one event loop: a turn waiting on the model costs a
coroutine and a socket, not a thread. See docs/deployment.md.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# uvicorn's own gunicorn worker (the uvicorn-worker package; uvicorn.workers is deprecated).
worker_class = "uvicorn_worker.UvicornWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# No `threads`: they mean nothing to a uvicorn worker. Django runs sync code (sync views,
# the database steps of a turn) in thread pools of its own.
#
# A worker's event loop tells gunicorn it is alive every timeout/2 seconds; one silent
# for `timeout` seconds is stuck (something blocks the loop) and is killed and replaced.
# A model call never blocks the loop, whatever its length. Keep it at least twice
# graceful_timeout: a worker stops sending heartbeats while it shuts down.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# On SIGTERM or SIGHUP a worker stops accepting, lets open requests and running turns
# finish (COACH_SHUTDOWN_GRACE_SECONDS, 25 s, then they are marked interrupted), and
# is killed if it is still there after this many seconds.
graceful_timeout = 30
keepalive = 5
accesslog = "-"
# Peers whose X-Forwarded-For/-Proto uvicorn believes (the client address and scheme).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# How a worker stops (SIGTERM, or SIGHUP's rolling restart), within graceful_timeout:
#  1. uvicorn stops accepting and waits for open requests, at most `_requests_grace`
#     seconds; then it cancels them (a stream's reader reconnects and resumes elsewhere);
#  2. the app's lifespan shutdown (project/asgi.py) gives running turns
#     COACH_SHUTDOWN_GRACE_SECONDS to finish and marks the rest interrupted;
#  3. gunicorn kills the worker if it is still there at graceful_timeout.
# uvicorn sends the lifespan shutdown only once every connection is closed: without the
# limit in 1, one open stream would hold the worker until gunicorn killed it in 3, and
# its turns would stay "streaming" until another process found them stale.
_turns_grace = float(os.environ.get("COACH_SHUTDOWN_GRACE_SECONDS") or 25)
_requests_grace = int(graceful_timeout - _turns_grace - 2)
if _requests_grace < 1:
    raise RuntimeError(
        f"COACH_SHUTDOWN_GRACE_SECONDS ({_turns_grace:g}) must stay at least 3 s below "
        f"gunicorn's graceful_timeout ({graceful_timeout}), or workers are killed before "
        "running turns are marked interrupted."
    )


def post_worker_init(worker):
    """uvicorn's graceful shutdown limit (uvicorn-worker offers no setting for it)."""
    worker.config.timeout_graceful_shutdown = _requests_grace
