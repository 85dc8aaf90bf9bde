"""Apache Airflow provider for the Zuora Workflow API.

Kept cheap to import: Airflow's provider discovery imports this package.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
