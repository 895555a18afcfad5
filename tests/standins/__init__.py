"""Provider stand-ins: small real HTTP servers that serve a provider's documented read API
from an in-memory directory, with scripted faults and request counters (no network here).
`server` holds what every stand-in shares; one module per provider holds its API."""
