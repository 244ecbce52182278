"""What both services share about living next to a Dapr sidecar.

Settings for reaching the sidecar, the lifecycle of the one async Dapr client and HTTP client
per process, readiness checks, the app-token guard for calls that come from the sidecar, and
ETag-guarded access to a Dapr state store.
"""
