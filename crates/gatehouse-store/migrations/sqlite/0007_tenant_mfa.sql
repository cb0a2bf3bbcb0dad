-- A tenant may require a second factor of accounts holding chosen roles
-- (a JSON array of role names).
ALTER TABLE tenants ADD COLUMN mfa_required_roles TEXT NOT NULL DEFAULT '[]';
