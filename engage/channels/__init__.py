"""Edge adapters: provider payloads <-> Inbound / Outbound value objects."""
