"""Telegram business logic, behind ``service.TelegramService``.

``engage.channels.telegram*`` only parse aiogram updates and send through aiogram; what an
update means is decided here, one module per kind:

- ``service``: ``TelegramService``, the one entry the webhook, the poller and tests use;
- ``button_presses``: a button press (and whether it is stale);
- ``multi_select``: "all that apply" keyboards (ticks, Done);
- ``links``: ``/start <code>`` deep-link invitations;
- ``blocked``: a resident blocked the bot (an opt-out);
- ``chat_order``: one chat's updates one at a time, in order;
- ``residents``, ``texts``: the language and opt-out of the lines sent without storing;
- ``store``: the typed database functions all of the above use; ``ports``: the runtime seam.

Nothing is re-exported here: the channel imports ``chat_order`` and this package imports the
channel, so importing the service from this ``__init__`` would make a cycle.
"""
