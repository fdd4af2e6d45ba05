"""Server-rendered web pages for reviewers, families and admins (issue 7); see ``pages``."""
