"""The value codec between driver and workers: every lane round-trips, bad bytes are errors."""

import numpy as np
import pytest
from skorche import _skorche


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 2**63 - 1, 2**64, 0.25, "", "ñ",
                                   b"", b"abc", (1, 2), [1, [2]], {"a": 1}, frozenset({3})])
def test_small_values_round_trip_with_their_type(value):
    got = _skorche.decode(_skorche.encode(value))
    assert got == value and type(got) is type(value)


def test_large_bytes_travel_raw_and_come_back_as_a_read_only_view():
    data = bytes(range(256)) * 1024
    encoded = _skorche.encode(data, raw_threshold=1024)
    assert len(encoded) == len(data) + 1
    view = _skorche.decode(encoded)
    assert isinstance(view, memoryview) and view.readonly and bytes(view) == data


def test_arrays_travel_out_of_band():
    a = np.arange(1000, dtype=np.float64).reshape(10, 100)
    encoded = _skorche.encode({"a": a, "b": a[:, ::2]})
    got = _skorche.decode(encoded)
    assert np.array_equal(got["a"], a) and np.array_equal(got["b"], a[:, ::2])
    assert not got["a"].flags.writeable


@pytest.mark.parametrize("bad, message", [
    (b"", "empty"),
    (bytes([42]) + b"xyz", "tag 42"),
    (bytes([6, 1, 2]), "truncated"),
    (bytes([2]) + bytes(7) + (5).to_bytes(8, "little"), "truncated"),
    (bytes([2]) + bytes(7) + (1).to_bytes(8, "little") + (1 << 40).to_bytes(8, "little")
     + (0).to_bytes(8, "little"), "truncated"),
    (bytes([8, 0xff, 0xfe]), "UTF-8"),
])
def test_malformed_values_are_errors_naming_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message):
        _skorche.decode(bad)


def test_a_workers_input_is_what_plain_pickle_gives():
    data = b"x" * 100_000
    assert type(_skorche.decode(_skorche.encode(data, raw_threshold=1024), views=False)) is bytes
    a = _skorche.decode(_skorche.encode(np.zeros(1000)), views=False)
    a += 1  # writable, as unpickled arrays are
    assert a.sum() == 1000
