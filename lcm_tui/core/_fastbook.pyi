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
