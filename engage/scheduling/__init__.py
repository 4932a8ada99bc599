"""Scheduling: the leader and its ticks, campaigns, dialogue sessions, outbox dispatch."""
