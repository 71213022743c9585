"""Review: placements, the review queue, approve / reject / relink with If-Match, the audit trail."""
