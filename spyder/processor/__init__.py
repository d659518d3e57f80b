"""Worker-side pipeline stages: fetching, limiting, link extraction and scoping."""
