-- An account may be a person of a tenant (a resident's login, an employee's):
-- at most one person per tenant, and only a person of that tenant.
CREATE TABLE account_people (
    account_id uuid NOT NULL REFERENCES accounts (id),
    tenant_id  uuid NOT NULL,
    person_id  uuid NOT NULL,
    PRIMARY KEY (account_id, tenant_id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id)
);
CREATE UNIQUE INDEX account_people_person ON account_people (tenant_id, person_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON account_people TO gatehouse_app;
