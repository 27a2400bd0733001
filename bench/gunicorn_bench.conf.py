"""gunicorn settings shared by both servers of bench/api_verify.py: the same workers and threads,
no access log (logging stays off the hot path of both alike)."""
import os

workers = int(os.environ.get("BENCH_WORKERS", "4"))
threads = int(os.environ.get("BENCH_THREADS", "1"))
accesslog = None
errorlog = "-"
loglevel = "warning"
keepalive = 30
