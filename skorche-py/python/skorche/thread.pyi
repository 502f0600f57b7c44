from typing import Callable, Iterable, Optional, TypeVar

from . import Failed, Stage

T = TypeVar("T")
U = TypeVar("U")

def map(pipe: Iterable[T], f: Callable[[T], U], workers: int = ..., maxsize: Optional[int] = ..., *,
        name: Optional[str] = ..., retries: int = ..., on_error: str = ...,
        dead_letter: Optional[Callable[[Failed], object]] = ...,
        max_failures: Optional[int] = ...,
        backoff: float | tuple[float, float] | None = ...) -> Stage[U]: ...
def filter(pipe: Iterable[T], f: Callable[[T], object], workers: int = ...,
           maxsize: Optional[int] = ..., *, name: Optional[str] = ..., retries: int = ...,
           on_error: str = ..., dead_letter: Optional[Callable[[Failed], object]] = ...,
           max_failures: Optional[int] = ...,
           backoff: float | tuple[float, float] | None = ...) -> Stage[T]: ...
def flat_map(pipe: Iterable[T], f: Callable[[T], Iterable[U]], workers: int = ...,
             maxsize: Optional[int] = ..., *, name: Optional[str] = ..., retries: int = ...,
             on_error: str = ..., dead_letter: Optional[Callable[[Failed], object]] = ...,
             max_failures: Optional[int] = ...,
             backoff: float | tuple[float, float] | None = ...) -> Stage[U]: ...
def each(pipe: Iterable[T], f: Callable[[T], object], workers: int = ...,
         maxsize: Optional[int] = ..., *, name: Optional[str] = ..., retries: int = ...,
         on_error: str = ..., dead_letter: Optional[Callable[[Failed], object]] = ...,
           max_failures: Optional[int] = ...,
           backoff: float | tuple[float, float] | None = ...) -> Stage[T]: ...
def queue(pipe: Iterable[T], workers: int = ..., maxsize: Optional[int] = ...) -> Stage[T]: ...
def mutex(pipe: Iterable[T]) -> Stage[T]: ...
