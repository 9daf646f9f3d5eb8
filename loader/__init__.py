"""Battery telemetry loader: lands vendor API responses raw, as JSONB, for dbt to transform."""

__version__ = "0.1.0"
