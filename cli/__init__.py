"""The ``manhattan`` command line (click)."""
