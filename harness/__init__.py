"""pss-harness: prove that a cluster's PodSecurity admission blocks container-breakout pods."""

__version__ = "0.1.0"
