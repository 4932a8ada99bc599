"""``engage demo``: a synthetic community that uses the real product end to end."""
