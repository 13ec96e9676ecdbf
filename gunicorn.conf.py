"""gunicorn settings of the production command (README): ``gunicorn -c gunicorn.conf.py wsgi:app``.

Measured in docs/BENCHMARKS.md ("Production shape: connection errors"). Any setting can still be overridden
on the command line (``-w 8``) or with GUNICORN_CMD_ARGS.

Why these: a gthread worker closes a kept-alive connection that has been idle ``keepalive`` seconds (gunicorn's
default: 2). A client that sends its next request on that connection just as the worker closes it gets
"Remote end closed connection without response", a broken pipe or "Connection reset by peer", and the request
never reaches the app. Under a rush on a busy machine clients pause between requests for about that long all
the time, so with the default a few percent of a claim rush failed that way. Keeping idle connections open
far longer than any client (or load balancer) leaves them idle makes the client the side that closes: an idle
connection costs a gthread worker a socket in its poller, not a thread.
"""

import os

bind = os.environ.get("SUIYUAN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("SUIYUAN_WORKERS", "4"))
# Threads, not sync workers: order-status streams (SSE) are long-lived and would hold a sync worker each, and a
# sync worker cannot keep connections alive at all (a new TCP connection per request).
worker_class = "gthread"
threads = int(os.environ.get("SUIYUAN_THREADS", "8"))
# Longer than the idle timeout of the clients and load balancers in front (nginx upstream keepalive_timeout
# 60 s, AWS ALB 60 s), so they close idle connections first, never gunicorn under their next request.
keepalive = 75
# Idle kept-alive connections count against this (per worker); a rush of one connection per claimant fits.
worker_connections = 2000
# Pending connections the kernel queues while every worker is busy (capped by net.core.somaxconn).
backlog = 2048
# No worker recycling (max_requests): a recycled worker closes its kept-alive connections under clients.
max_requests = 0
timeout = 30
graceful_timeout = 30
