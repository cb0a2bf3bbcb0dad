-- A tenant may require a second factor of accounts holding chosen roles.
ALTER TABLE tenants ADD COLUMN mfa_required_roles jsonb NOT NULL DEFAULT '[]';
