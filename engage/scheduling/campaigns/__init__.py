"""Survey campaigns: the Python API staff tools call, and the tick that does the due work.

A campaign is a row; its audience becomes ``campaign_recipient`` rows when it first runs. The
tick (``run_campaigns``) invites pending recipients whose local time is outside quiet hours, as
fast as the throttle allows, by starting the flow through ``Runtime.start_run`` with the dedupe
key ``campaign:{id}:p:{pid}:invite``; reminders use ``campaign:{id}:p:{pid}:reminder:{n}``. The
recipient row changes in the same transaction as the outbox rows are written, and the keys are
unique, so a crash, a restart or a second leader can never send anything twice; whatever was due
while the scheduler was down is done on its next tick, unless the cutoff has passed.

Modules: ``create`` (checking and storing a campaign), ``lifecycle`` (start, pause, cancel),
``progress`` (counts), ``tick`` (the due work); private ones hold the tick's steps: recipient
statuses, pacing (throttle, quiet hours), invitation batches, reminders, outbox keys.
"""

from engage.scheduling.campaigns.create import MAX_REMINDERS, create_campaign
from engage.scheduling.campaigns.lifecycle import (
    cancel_campaign,
    get_campaign,
    list_campaigns,
    pause_campaign,
    start_campaign,
)
from engage.scheduling.campaigns.progress import CampaignProgress, campaign_progress
from engage.scheduling.campaigns.tick import CampaignTickReport, run_campaigns
from engage.scheduling.starter import RunStarter

__all__ = [
    "MAX_REMINDERS",
    "CampaignProgress",
    "CampaignTickReport",
    "RunStarter",
    "campaign_progress",
    "cancel_campaign",
    "create_campaign",
    "get_campaign",
    "list_campaigns",
    "pause_campaign",
    "run_campaigns",
    "start_campaign",
]
