"""Period close: a calendar month's invoice-ready statements, frozen under a content hash when finance closes it;
late usage for a closed month lands in the next open month as adjustments; reopening takes a second finance
approver. `models` (closes, frozen statements and lines, reopen requests, the action log), `statements` (what a
month's statement is), `services` (close, reopen request and decision), `selectors` (reads), `exports` (CSV and
JSON of a closed month)."""
