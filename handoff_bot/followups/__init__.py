"""Follow-ups: reminders, escalations and due-date notices planned from service standards."""
