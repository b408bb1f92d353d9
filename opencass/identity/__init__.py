"""Users and identity: who may log in, as whom, into which companies' mailboxes.

The participant files define companies and their first administrators; every later change is
made by a company's administrators (``cass:UserAdministration`` messages), by the legacy
migration or by the operator's commands, and kept in the store.  ``directory`` merges both into
the effective users; ``changes`` holds the self-service rules, ``handler`` applies them to a
message, ``migration`` reads the old system's export, ``certificates`` the operator's CA trust
and revocation list.
"""
