"""Polis-style deliberation: statements, votes, moderation and the opinion-group math.

Residents vote agree / disagree / unsure on short statements (by SMS or Telegram) and add
their own; the math (``analysis``) finds opinion groups, the statements that represent each
group and the statements every group agrees on. See docs/DELIBERATION.md.
"""
