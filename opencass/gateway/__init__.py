"""The daemon: lifecycle, SFTP endpoint, mailbox watcher, intake pipeline."""
