"""The kernel every area builds on: errors, the acting principal, paging, time and ids,
validation helpers and the transaction boundary. It imports no area."""
