"""The public page at ``/public/``: the public report served live, no login."""
