"""Orchestration for the Loyalty Tier Rebuilder: ingest, ``dbt build``, export, summary.

Nothing runs at import. Entry point: ``loyalty`` (``python -m loyalty``), see :mod:`loyalty.cli`.
"""
