"""The FastAPI app: webhooks, health and metrics (``create_app`` in ``app.py``)."""
