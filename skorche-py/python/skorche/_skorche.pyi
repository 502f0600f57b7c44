from typing import Any

class PipelineError(Exception):
    failures: list[dict[str, Any]]

class Record:
    """A read-only buffer over a value received from a worker (often in shared memory)."""
    def __len__(self) -> int: ...
    def __buffer__(self, flags: int) -> memoryview: ...
    @property
    def in_shared_memory(self) -> bool: ...
