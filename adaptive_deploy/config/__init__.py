"""Configuration: YAML loading with source positions, pydantic models, JSON Schema export."""
