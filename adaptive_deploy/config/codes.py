"""Stable diagnostic codes of stage 1: loading and YAML (AD1xx), schema (AD2xx).

Codes never change meaning once released; README.md lists every one and a test keeps
that table complete.
"""

from __future__ import annotations

# Loading, YAML and secrets.
PATH_NOT_FOUND = "AD100"
NO_YAML_FILES = "AD101"
FILE_TOO_LARGE = "AD102"
BINARY_FILE = "AD103"
TAB_INDENTATION = "AD104"
YAML_SYNTAX = "AD105"
DUPLICATE_KEY = "AD106"
DUPLICATE_ACROSS_FILES = "AD107"
TOP_LEVEL_NOT_MAPPING = "AD108"
ALIAS_LIMIT = "AD109"
UNSUPPORTED_YAML = "AD110"
ENV_REF_NOT_ALLOWED = "AD111"
ENV_REF_MALFORMED = "AD112"
ENV_VAR_UNSET = "AD113"
YAML11_NUMBER = "AD114"
NUMBER_OUT_OF_RANGE = "AD115"
NOT_A_FILE = "AD116"
SYMLINK_OUTSIDE = "AD117"
LITERAL_API_KEY = "AD120"
LITERAL_SECRET = "AD121"

# Environments: overlays over a base directory (config/overlay.py).
OVERLAY_BASE_NOT_FOUND = "AD150"
OVERLAY_OUTSIDE_ROOT = "AD151"
OVERLAY_CHAIN = "AD152"
OVERLAY_INHERITED_KEY = "AD153"
OVERLAY_REMOVE_NOTHING = "AD154"
OVERLAY_DIRECTIVE = "AD155"
SHARED_WORKSPACE_NAME = "AD156"

# JSON Schema and model validation.
UNKNOWN_KEY = "AD201"
WRONG_TYPE = "AD202"
OUT_OF_RANGE = "AD203"
MISSING_REQUIRED = "AD204"
EXPLICIT_NULL = "AD205"
PATTERN_MISMATCH = "AD206"
NOT_ALLOWED_VALUE = "AD207"
UNSUPPORTED_VERSION = "AD208"
SCHEMA_VIOLATION = "AD209"
INVALID_VALUE = "AD210"

CODES: dict[str, str] = {
    PATH_NOT_FOUND: "Configuration path does not exist or cannot be read",
    NO_YAML_FILES: "Directory holds no *.yaml / *.yml file",
    FILE_TOO_LARGE: "Configuration file larger than 10 MB (not parsed)",
    BINARY_FILE: "File is not UTF-8 text (NUL bytes or invalid UTF-8)",
    TAB_INDENTATION: "Tab character used for indentation",
    YAML_SYNTAX: "YAML syntax error",
    DUPLICATE_KEY: "Key defined twice in one mapping",
    DUPLICATE_ACROSS_FILES: "Key defined in two files",
    TOP_LEVEL_NOT_MAPPING: "Top level of a file is not a mapping",
    ALIAS_LIMIT: "Too many YAML alias expansions, or a recursive alias (alias bomb)",
    UNSUPPORTED_YAML: "Unsupported YAML construct (custom tag, non-scalar key, multiple documents)",
    ENV_REF_NOT_ALLOWED: "${env:NAME} used outside platform.base_url and job args",
    ENV_REF_MALFORMED: "Malformed ${env:NAME} reference",
    ENV_VAR_UNSET: "Environment variable referenced by ${env:NAME} is not set",
    YAML11_NUMBER: "YAML 1.1 number that reads differently than written (sexagesimal 83:20:00, octal 010): quote it or write it plainly",
    NUMBER_OUT_OF_RANGE: "Number no platform field can hold: an integer beyond 64 bits, or an infinite or NaN float",
    NOT_A_FILE: "A *.yaml / *.yml entry that is not a readable file: dangling symlink, symlink loop, directory, FIFO or device",
    SYMLINK_OUTSIDE: "A *.yaml / *.yml symlink points outside the workspace directory (a warning naming the target)",
    LITERAL_API_KEY: "platform.api_key_env holds a literal key or an invalid variable name",
    LITERAL_SECRET: "Literal secret: a secret-named key (api_key, token, password, ...) or a DSN in state.dsn_env",
    UNKNOWN_KEY: "Unknown key",
    WRONG_TYPE: "Value of the wrong type",
    OUT_OF_RANGE: "Number or length out of range",
    MISSING_REQUIRED: "Required key missing",
    EXPLICIT_NULL: "Explicit null (leave the key out to leave the field unmanaged)",
    PATTERN_MISMATCH: "String does not match the required pattern",
    NOT_ALLOWED_VALUE: "Value is not one of the allowed values",
    UNSUPPORTED_VERSION: "Unsupported configuration format version",
    SCHEMA_VIOLATION: "Other JSON Schema violation",
    INVALID_VALUE: "Invalid value (model validation)",
    OVERLAY_BASE_NOT_FOUND: "base names a directory that does not exist or holds no configuration",
    OVERLAY_OUTSIDE_ROOT: "base is an absolute path or resolves outside the repository",
    OVERLAY_CHAIN: "Chain of bases makes a cycle or is longer than 8 directories",
    OVERLAY_INHERITED_KEY: "A base sets version, workspace, platform or state (never inherited)",
    OVERLAY_REMOVE_NOTHING: "A remove path matches nothing in the base",
    OVERLAY_DIRECTIVE: "Malformed base or remove (wrong type, or remove without base)",
    SHARED_WORKSPACE_NAME: "Two directories validated together name the same workspace (warning)",
}
