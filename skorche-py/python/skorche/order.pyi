from typing import Iterable, TypeVar

from . import Stage

T = TypeVar("T")

class OrderSave(Stage[T]): ...

def save(pipe: Iterable[T], maxsize: int = ...) -> OrderSave[T]: ...
def load(pipe: Iterable[T], order: OrderSave[object]) -> Stage[T]: ...
