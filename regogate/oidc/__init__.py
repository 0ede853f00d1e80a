"""OIDC JWTs as the password: issuer settings (config), pure token checks (verify),
the signing-key cache (jwks) and the IdentityProvider that joins them (provider)."""
