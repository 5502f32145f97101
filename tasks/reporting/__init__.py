"""Reporting: land the state store into DuckDB and render the conversion analytics.

- :mod:`tasks.reporting.land` — :func:`land_reports` rebuilds the DuckDB tables and views;
- :mod:`tasks.reporting.views` — the SQL of the views (documented there);
- :mod:`tasks.reporting.render` — :func:`load_report` and the terminal/JSON/CSV/HTML renderers;
- :mod:`tasks.reporting.charts` — the inline SVG charts of the HTML report.

No Prefect here: ``flows/reports.py`` wraps these functions.
"""
