"""Coinbase: declared in spec.py, read by adapter.py, simulated in sim.py.

Imports nothing, so loading the spec or the simulator never loads an adapter.
"""
