"""The participant portal: the human interface beside SFTP, served by the daemon.

Pages are rendered on the server (Jinja2 templates, no script inline; a small script file
refreshes a dashboard when the server says something changed).  Everything it shows is read
from the store and the mailboxes, the same sources the SFTP interface and the documents use:
the portal is never a second source of truth.  ``sessions`` signs and checks the session
cookie, ``app`` serves the pages and guards them (sign-in with password and TOTP, CSRF,
security headers, the SFTP ban list shared), ``pages`` gathers what each dashboard shows.
"""
