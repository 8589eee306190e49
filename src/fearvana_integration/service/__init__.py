"""The HTTP service: ``create_app(settings)`` (FastAPI), served by ``fearvana-integration serve``."""
