"""A brand's own detector: trained from its packshots by a train job, registered, used by its tag jobs."""
