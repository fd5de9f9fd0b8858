"""Where the long-running streams run: local processes, or Kubernetes objects."""

from streaming.supervisor.base import StreamHandle, StreamSpec, StreamStatus, SupervisorBackend

__all__ = ["StreamHandle", "StreamSpec", "StreamStatus", "SupervisorBackend"]
