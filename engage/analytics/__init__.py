"""Analytics: sentiment scoring, themes, anonymized summaries and exports.

Submodules are imported on demand (``engage.analytics.sentiment``) so that importing the
package stays cheap for commands that do not need the lexicons.
"""
