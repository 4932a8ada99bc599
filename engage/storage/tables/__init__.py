"""Every table engage stores, in one place.

One module per area; importing this package defines them all on ``SQLModel.metadata`` (Alembic's
env.py, ``create_schema`` and the migration/model agreement test rely on that). A new table goes
in one of these modules, or in a new module imported here.
"""

from engage.storage.tables.accounts import ApiToken, LoginThrottle, SetupLink, User
from engage.storage.tables.audit import AuditEntry
from engage.storage.tables.columns import UTCDateTime, ts
from engage.storage.tables.deliberation import (
    DelibConversation,
    DelibMember,
    DelibStatement,
    DelibVote,
)
from engage.storage.tables.flows import FlowVersion
from engage.storage.tables.outbox import Outbox
from engage.storage.tables.residents import ConsentEntry, Message, Participant, Response, Run
from engage.storage.tables.scheduling import (
    Campaign,
    CampaignRecipient,
    DialogueSession,
    SessionRsvp,
)

__all__ = [
    "ApiToken", "AuditEntry", "Campaign", "CampaignRecipient", "ConsentEntry",
    "DelibConversation", "DelibMember", "DelibStatement", "DelibVote", "DialogueSession",
    "FlowVersion", "LoginThrottle", "Message", "Outbox", "Participant", "Response", "Run",
    "SessionRsvp", "SetupLink", "UTCDateTime", "User", "ts",
]
