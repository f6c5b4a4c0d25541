"""adaptive-deploy: configuration as code for the Adaptive Engine LLM-serving platform.

Kept import-light on purpose: `adaptive-deploy --version` must start in well under 0.3 s, so
nothing heavy (pydantic, httpx, graphql-core) is imported here.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
