"""gunicorn settings of the production command (README): ``gunicorn -c gunicorn.conf.py wsgi:app``.

Measured in docs/BENCHMARKS.md ("Production shape: connection errors"); the reasons are beside each setting.
Any setting can still be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import os

bind = os.environ.get("SUIYUAN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("SUIYUAN_WORKERS", "4"))
# Threads, not sync workers: order-status streams (SSE) are long-lived and a sync worker would be held by each.
worker_class = "gthread"
threads = int(os.environ.get("SUIYUAN_THREADS", "8"))
