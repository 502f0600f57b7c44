from typing import Callable, Iterable, Optional, TypeVar

from . import Failed, Stage

T = TypeVar("T")
U = TypeVar("U")

def map(pipe: Iterable[T], f: Callable[[T], U], workers: int = ..., maxsize: Optional[int] = ..., *,
        name: Optional[str] = ..., retries: int = ..., on_error: str = ...,
        dead_letter: Optional[Callable[[Failed], object]] = ..., restart_workers: int = ...,
        shm_threshold: int = ..., ring_capacity: Optional[int] = ...,
        ring_wait: float = ..., max_failures: Optional[int] = ...,
        backoff: float | tuple[float, float] | None = ..., poison_after: Optional[int] = ...,
        timeout: Optional[float] = ...) -> Stage[U]: ...
