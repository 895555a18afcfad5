"""`dsync pull workos`: the WorkOS Events API as a source of the events topic, beside (or
instead of) the webhook ingress. Pure core (`envelopes`), I/O at the edges (`events_api`
reads the provider, `cursor_store` holds the lock and the cursor, `loop` ties them)."""
