# Type stub of the optional C extension built from _fastbook.c (see its header comment for the contract).
def apply_levels(
    bid_levels: dict[float, tuple[float, str, str]] | None,
    bid_keys: list[float] | None,
    bids: object,
    ask_levels: dict[float, tuple[float, str, str]] | None,
    ask_keys: list[float] | None,
    asks: object,
    /,
) -> bool: ...
def prefix_extend(
    levels: dict[float, tuple[float, str, str]],
    orig: list[float],
    keys: list[float],
    sizes: list[float],
    cum: list[float],
    upto: int,
    /,
) -> None: ...
def side_sample(
    levels: dict[float, tuple[float, str, str]],
    keys: list[float],
    sign: float,
    mid: float,
    bands: list[int],
    targets: list[float],
    /,
) -> tuple[list[float], list[tuple[float | None, float, int]]] | None: ...
def levels_ok(levels: object, /) -> bool: ...
