"""The audit log (SPEC §6.7): entries chained per tenant, recorded with every admin
mutation, queried by keyset pages and verified link by link."""
