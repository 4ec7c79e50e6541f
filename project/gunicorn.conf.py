"""gunicorn settings for the Procfile.

gthread workers: each worker process serves requests on a pool of threads, and its
main thread keeps answering gunicorn's heartbeat while a request waits on the model.
So a 60-second model call neither trips the worker timeout nor blocks other users:
only that one thread waits. See docs/deployment.md.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
# Heartbeat timeout of a worker process, not of a request (gthread); generous anyway.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
accesslog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
