"""Binance spot (adapter.py) and USD-M futures (usdm.py): declared in spec.py, simulated in sim.py.

Imports nothing, so loading the spec or the simulator never loads an adapter.
"""
