"""lcm-tui: a liquidity crunch monitor for crypto order books."""

__version__ = "0.1.0"
