"""Metrics: each process counts into its own files (prometheus-client's multiprocess mode, one
directory per service under METRICS_DIR, read in config/process.py). The web serves them at
`/metrics`; the other processes (worker, follower, relay, beat) on METRICS_PORT when it is set."""

from config.env import env

METRICS_HOST = env.str("METRICS_HOST", default="127.0.0.1")
METRICS_PORT = env.int("METRICS_PORT", default=0)
