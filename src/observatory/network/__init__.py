"""A network of cities: harmonised core items and the network warehouse.

Each member city keeps its own warehouse, instrument and method; the network ATTACHes the
members' warehouses read-only and publishes figures on the core items (`core_items.toml`),
with one method version, common goalposts and a common reference period
(docs/network.md).
"""
