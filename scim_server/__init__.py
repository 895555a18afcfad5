"""`dsync scim`: a SCIM 2.0 service provider that Okta, Entra ID and other IdPs provision
into. Writes become events on the events topic (source `scim`), decided and applied by the
worker; each answer waits for that commit and reads the committed state."""
