"""Method validation: simulated cities with a known truth, run through the real pipeline.

`observatory validate-method` draws cities from the scenarios of `scenarios.py`
(`simulate.py`, `draws.py`, `truth.py`), builds each in its own DuckDB warehouse with
`pipeline.build` (`city.py`), reads the published marts and measures how well they
recover the truth (`metrics.py`, `runner.py`), against the thresholds of `report.py`.
"""
