"""Local fake servers of the real vendors' APIs (Starlette apps), for adapter and end-to-end tests."""
